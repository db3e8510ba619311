import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SnapshotRegistry } from '#agent/snapshot/snapshot-registry.ts';
import { currentProcess } from '#agent/snapshot/process-identity.ts';
import { localAgentStateDir } from '#local/local-snapshots.ts';
import { runCairn } from './cli-process.ts';

const work = `/tmp/i11-snap-lifecycle/snapshot-list-${process.pid}`;

describe('cairn snapshot list', () => {
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('lists what the agent\'s registry still holds, with whether each owner runs, as a table and as JSON', async () => {
    // Prepare: an image this (running) process owns, and one whose owner died while making it.
    const home = join(work, 'home');
    mkdirSync(home, { recursive: true });
    const registry = new SnapshotRegistry(localAgentStateDir(home));
    const readRoot = '/srv/.cairn-snapshots/cairn-job-5-abc';
    await registry.put({
      name: 'cairn-job-5-abc', jobId: 5, method: 'btrfs', sourceRoot: '/srv', owner: currentProcess(), recordedAt: '2026-12-03T13:00:00.000Z', heldUntil: '2026-12-03T13:30:00.000Z',
      image: { method: 'btrfs', name: 'cairn-job-5-abc', jobId: 5, sourceRoot: '/srv', readRoot, handle: { subvolume: readRoot }, createdAt: '2026-12-03T13:00:01.000Z' },
    });
    await registry.put({ name: 'cairn-job-6-def', jobId: 6, method: 'zfs', sourceRoot: '/tank', owner: { pid: 999_999_999, startTime: '1' }, recordedAt: '2026-12-03T13:05:00.000Z', heldUntil: '2026-12-03T13:35:00.000Z' });

    // Act
    const json = await runCairn(home, ['snapshot', 'list', '--json']);
    const text = await runCairn(home, ['snapshot', 'list']);

    // Assess: the living owner's image is kept; the dead one's cannot be deleted without its handle, so it stays listed.
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      { name: 'cairn-job-5-abc', jobId: 5, method: 'btrfs', sourceRoot: '/srv', readRoot, createdAt: '2026-12-03T13:00:01.000Z', owner: { pid: process.pid, alive: true }, exists: false },
      { name: 'cairn-job-6-def', jobId: 6, method: 'zfs', sourceRoot: '/tank', createdAt: '2026-12-03T13:05:00.000Z', owner: { pid: 999_999_999, alive: false } },
    ]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout.split('\n')[0]).toMatch(/^NAME\s+JOB\s+METHOD\s+SOURCE\s+READ ROOT\s+CREATED\s+OWNER$/);
    expect(text.stdout).toContain(`${process.pid} running (image gone)`);
    expect(text.stdout).toMatch(/cairn-job-6-def\s+6\s+zfs\s+\/tank\s+\(being made\)/);
  });

  it('reads an agent host\'s registry with --state-dir, and says where it looked when it is empty', async () => {
    const result = await runCairn(join(work, 'other-home'), ['snapshot', 'list', '--state-dir', join(work, 'empty-agent')]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe(`no snapshots (${join(work, 'empty-agent')})`);
  });
});
