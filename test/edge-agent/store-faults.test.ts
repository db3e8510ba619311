import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { StatusCode } from '#core/status-codes.ts';
import { MemoryObjectStore } from '#test/memory/memory-object-store.ts';
import { withFaults } from '#test/support/faults.ts';
import { backupTask, catalogImage, failureOf, patterned, recordingReporter, tempDir } from './helpers.ts';

const isFragment = (key: string): boolean => /fragment-\d+\.tar$/.test(key);

/** The agent against a store that fails, stalls or hangs where the test says (test/support/faults.ts). */
describe('the agent when its object store misbehaves', () => {
  let source: ReturnType<typeof tempDir>;
  let target: ReturnType<typeof tempDir>;
  beforeEach(() => {
    source = tempDir('faults-src');
    target = tempDir('faults-dst');
    // Five 1 MiB fragments' worth of data.
    for (let i = 0; i < 5; i++) writeFileSync(path.join(source.dir, `f${i}.bin`), patterned(1024 * 1024, i + 1));
  });
  afterEach(() => {
    source.cleanup();
    target.cleanup();
  });

  it('ends a backup with 84 when the third fragment cannot be stored, and leaves nothing behind, not even a partial write', async () => {
    // Prepare
    const store = new MemoryObjectStore();
    const broken = new Error('storage unit went away');
    const faults = withFaults(store).failOn('put', 3, broken, isFragment);
    // Act
    const failure = await failureOf(runBackup(backupTask('/unused', [source.dir]), { store: faults.port, reporter: recordingReporter(), now: () => new Date() }));
    // Assess
    expect(failure.statusCode).toBe(StatusCode.MEDIA_WRITE_ERROR);
    expect(failure.cause).toBe(broken);
    expect(faults.calls('put')).toBeGreaterThanOrEqual(3);
    expect(await store.list('')).toEqual([]);
    expect(await store.listIncomplete('')).toEqual([]);
  });

  it('names what it could not remove when cleaning up after a failure also fails', async () => {
    const store = new MemoryObjectStore();
    const faults = withFaults(store)
      .failOn('put', 3, new Error('storage unit went away'), isFragment)
      .failOn('delete', 1, new Error('permission denied'));
    const failure = await failureOf(runBackup(backupTask('/unused', [source.dir]), { store: faults.port, reporter: recordingReporter(), now: () => new Date() }));
    expect(failure.statusCode).toBe(StatusCode.MEDIA_WRITE_ERROR);
    const left = await store.list('');
    expect(left).toHaveLength(1);
    expect(failure.details).toEqual([expect.stringContaining(`fragment 1 (${left[0]}): could not remove partial image object (permission denied)`)]);
  });

  it('ends a cancelled backup with 150 within the grace time when its fragment write never settles, and names the write it left behind', async () => {
    // Prepare: fragment writes never reach the store and never answer (a dead connection).
    const store = new MemoryObjectStore();
    const faults = withFaults(store).hang('put', { when: isFragment });
    const abort = new AbortController();
    const reporter = recordingReporter();
    // Cancel once the first fragment write is under way (the index's put is call 1), so the abort finds it hanging.
    const cancelWhenWriting = setInterval(() => faults.calls('put') > 1 && abort.abort(new Error('cairn jobs cancel')), 5);
    const started = Date.now();
    // Act
    const failure = await failureOf(runBackup(backupTask('/unused', [source.dir]), { store: faults.port, reporter, now: () => new Date(), signal: abort.signal, abortGraceMs: 200 }));
    clearInterval(cancelWhenWriting);
    // Assess
    expect(failure.statusCode).toBe(StatusCode.TERMINATED_BY_ADMINISTRATOR);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(failure.details).toEqual([expect.stringMatching(/^fragment 1: its write did not stop within 200 ms of the abort; .*janitor/)]);
    // The index (not hung) was stopped and removed; the hung write never reached the store.
    expect(await store.list('')).toEqual([]);
    expect(await store.listIncomplete('')).toEqual([]);
  }, 5_000);

  it('stops a restore whose fragment read hangs with 150 as soon as the administrator aborts', async () => {
    // Prepare: a good image, then a store whose fragment reads never answer.
    const store = new MemoryObjectStore();
    const task = backupTask('/unused', [source.dir]);
    const result = await runBackup(task, { store, reporter: recordingReporter(), now: () => new Date() });
    const abort = new AbortController();
    const faults = withFaults(store).hang('get', { when: isFragment });
    setTimeout(() => abort.abort(new Error('cairn jobs cancel')), 100);
    // Act
    const failure = await failureOf(restoreImage({ store: faults.port, image: catalogImage(task, result), targetDir: target.dir, signal: abort.signal }));
    // Assess
    expect(failure.statusCode).toBe(StatusCode.TERMINATED_BY_ADMINISTRATOR);
    expect(faults.calls('get')).toBeGreaterThanOrEqual(1);
  }, 5_000);
});
