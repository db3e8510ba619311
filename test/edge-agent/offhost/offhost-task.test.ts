import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { frozenSourceOf, moverCommand, runOffhostTask } from '#agent/offhost/offhost-task.ts';
import type { FrozenImage } from '#core/model/snapshot.ts';
import { backupTask, failureOf, recordingReporter } from '../helpers.ts';

const image = (method: FrozenImage['method'], sourceRoot: string, readRoot: string, handle: Record<string, string>): FrozenImage => ({
  method,
  name: 'cairn-job-7-abc',
  jobId: 7,
  sourceRoot,
  readRoot,
  handle,
  createdAt: '2026-11-23T02:00:00.000Z',
});

describe('where an offhost job finds its frozen image', () => {
  it('takes the LVM snapshot covering the selection: its device, its read-only mount, the selection inside it', async () => {
    const lvm = image('lvm', '/srv', '/run/cairn/snap/cairn-job-7-abc', { lv: 'vg0/cairn-job-7-abc', device: '/dev/vg0/cairn-job-7-abc', mountPoint: '/run/cairn/snap/cairn-job-7-abc' });
    expect(await frozenSourceOf('/srv/data', [lvm])).toEqual({ readRoot: '/run/cairn/snap/cairn-job-7-abc', device: '/dev/vg0/cairn-job-7-abc', sourceRoot: '/run/cairn/snap/cairn-job-7-abc/data' });
  });

  it('refuses a btrfs snapshot (no block device of its own) with 156, saying why', async () => {
    const btrfs = image('btrfs', '/srv', '/srv/.cairn/cairn-job-7-abc', { subvolume: '/srv/.cairn/cairn-job-7-abc' });
    const failure = await failureOf(frozenSourceOf('/srv/data', [btrfs]));
    expect(failure.statusCode).toBe(156);
    expect(failure.message).toMatch(/^offhost backup of \/srv\/data needs a frozen image on a block device: its btrfs snapshot cairn-job-7-abc is not on a block device/);
  });

  it('refuses ALL with 156: a job maps one device', async () => {
    const failure = await failureOf(frozenSourceOf('ALL', []));
    expect(failure.statusCode).toBe(156);
    expect(failure.message).toMatch(/ALL stands for every local file system/);
  });

  it.skipIf(!existsSync('/proc/self/mountinfo'))('refuses a file system not mounted from a block device (proc) with 156', async () => {
    const failure = await failureOf(frozenSourceOf('/proc/self', []));
    expect(failure.statusCode).toBe(156);
    expect(failure.message).toMatch(/needs a frozen image on a block device: no snapshot of the job covers it, and its file system \(proc on \/proc\) is mounted from proc, not a block device/);
  });
});

describe('an offhost job over several devices', () => {
  it('is refused with 156 naming each selection’s device, before anything is mapped or written', async () => {
    const lvm = (root: string, name: string): FrozenImage => ({ ...image('lvm', root, `/run/cairn/snap/${name}`, { lv: `vg0/${name}`, device: `/dev/vg0/${name}`, mountPoint: `/run/cairn/snap/${name}` }), name });
    const task = backupTask('/nonexistent/unit', ['/srv/a', '/home/b'], {
      backupMethod: 'offhost',
      snapshots: { images: [lvm('/srv', 'cairn-job-7-aaa'), lvm('/home', 'cairn-job-7-bbb')], fellBack: [] },
    });
    const failure = await failureOf(runOffhostTask(task, { reporter: recordingReporter() }));
    expect(failure.statusCode).toBe(156);
    expect(failure.message).toMatch(/maps one frozen image a job, and these selections are on 2: /);
    expect(failure.details).toEqual(['/srv/a: /dev/vg0/cairn-job-7-aaa on /run/cairn/snap/cairn-job-7-aaa', '/home/b: /dev/vg0/cairn-job-7-bbb on /run/cairn/snap/cairn-job-7-bbb']);
  });
});

describe('the data mover command', () => {
  it('is CAIRN_MOVER_COMMAND when set, and refuses one that is not a JSON array of strings (20)', async () => {
    expect(moverCommand({ CAIRN_MOVER_COMMAND: '["ssh","mover-host","cairn-agent","mover"]' }, [])).toEqual(['ssh', 'mover-host', 'cairn-agent', 'mover']);
    const failure = await failureOf(Promise.resolve().then(() => moverCommand({ CAIRN_MOVER_COMMAND: 'cairn-agent mover' }, [])));
    expect(failure.statusCode).toBe(20);
  });

  it('is the running cairn-agent script, else the checkout’s bin/cairn-agent.js, with `mover`', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'i11-offhost-job-'));
    try {
      writeFileSync(path.join(dir, 'cairn-agent.mjs'), '');
      writeFileSync(path.join(dir, 'cairn-agent.js'), '');
      expect(moverCommand({}, ['node', path.join(dir, 'cairn-agent.mjs'), 'run-task'])).toEqual([process.execPath, path.join(dir, 'cairn-agent.mjs'), 'mover']);
      // The standalone runtime: the agent beside the running cairn.
      expect(moverCommand({}, ['node', path.join(dir, 'cairn.js'), 'backup'])).toEqual([process.execPath, path.join(dir, 'cairn-agent.js'), 'mover']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const fromCheckout = moverCommand({}, ['node', '/nowhere/vitest.mjs']);
    expect(fromCheckout[1]).toMatch(/bin\/cairn-agent\.js$/);
    expect(existsSync(fromCheckout[1]!)).toBe(true);
  });
});
