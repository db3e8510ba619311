import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { runTask } from '#agent/transport/run-task.ts';
import { runBackup } from '#agent/image/backup.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import type { Image } from '#core/model/image.ts';
import type { TaskToken } from '#core/ports/task-token.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { copy1, keyOf } from '../forge.ts';
import { backupTask, catalogImage, recordingReporter, tempDir } from '../helpers.ts';

function recordingToken(): TaskToken & { ended: Array<{ succeed: unknown } | { fail: unknown }> } {
  const ended: Array<{ succeed: unknown } | { fail: unknown }> = [];
  return { ended, heartbeat: async () => undefined, succeed: async (output) => void ended.push({ succeed: output }), fail: async (error) => void ended.push({ fail: error }) };
}

/** The cloud agent (`cairn-agent run-task`) runs the duplicate job's Copy command and answers on its task token with the written copy. */
describe("the cloud agent's duplicate command", () => {
  let work: ReturnType<typeof tempDir>;
  let from: StorageUnit;
  let to: StorageUnit;
  let image: Image;

  beforeAll(async () => {
    work = tempDir('run-task-duplicate');
    const source = path.join(work.dir, 'source');
    makeSampleTree(source, { largeBytes: 100_000 });
    from = StorageUnit.parse({ name: 'disk1', kind: 'disk', path: path.join(work.dir, 'unit1') });
    to = StorageUnit.parse({ name: 'disk2', kind: 'disk', path: path.join(work.dir, 'unit2') });
    const task = backupTask(path.join(work.dir, 'unit1'), [source]);
    image = catalogImage(task, await runBackup(task, { store: new FsObjectStore(path.join(work.dir, 'unit1')), reporter: recordingReporter(), now: () => new Date() }));
  });
  afterAll(() => work.cleanup());

  it('answers the copy as the catalog is to describe it (copy 2 on the target unit), its objects written byte for byte; a tape target is refused with 20', async () => {
    const expiresAt = '2027-06-01T00:00:00.000Z';
    const command = JSON.stringify({ kind: 'duplicate', task: { jobId: 42, image, fromCopy: 1, fromStorageUnit: from, storageUnit: to, copyNumber: 2, expiresAt } });
    const token = recordingToken();

    expect(await runTask({ command }, { token, openStore: openStorageUnit, clock: { now: () => new Date() } })).toBe(0);

    const answer = (token.ended[0] as { succeed: { copy: { copyNumber: number; storageUnit: string; expiresAt?: string }; objects: number; bytes: number } }).succeed;
    expect(answer.copy).toMatchObject({ copyNumber: 2, storageUnit: 'disk2', expiresAt });
    expect(answer.objects).toBeGreaterThan(copy1(image).fragments.length);
    for (const fragment of copy1(image).fragments) {
      expect(readFileSync(path.join(work.dir, 'unit2', keyOf(fragment))).equals(readFileSync(path.join(work.dir, 'unit1', keyOf(fragment))))).toBe(true);
    }

    const tape = StorageUnit.parse({ name: 'vault', kind: 'tape', robot: 'r', pool: 'p', index: { name: 'i', kind: 'disk', path: path.join(work.dir, 'idx') } });
    const refused = recordingToken();
    const toTape = JSON.stringify({ kind: 'duplicate', task: { jobId: 43, image, fromCopy: 1, fromStorageUnit: from, storageUnit: tape, copyNumber: 2 } });
    expect(await runTask({ command: toTape }, { token: refused, openStore: openStorageUnit, clock: { now: () => new Date() } })).toBe(20);
    expect(refused.ended).toEqual([{ fail: expect.objectContaining({ message: expect.stringContaining('storage unit vault is a tape unit') }) }]);
  }, 60_000);
});
