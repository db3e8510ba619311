import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
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

/** The cloud agent (`cairn-agent run-task`) runs the verify-job's Verify command and answers on its task token. */
describe("the cloud agent's verify command", () => {
  let work: ReturnType<typeof tempDir>;
  let unit: StorageUnit;
  let image: Image;

  beforeAll(async () => {
    work = tempDir('run-task-verify');
    const source = path.join(work.dir, 'source');
    makeSampleTree(source, { largeBytes: 100_000 });
    const dir = path.join(work.dir, 'unit');
    unit = StorageUnit.parse({ name: 'disk1', kind: 'disk', path: dir });
    const task = backupTask(dir, [source]);
    image = catalogImage(task, await runBackup(task, { store: new FsObjectStore(dir), reporter: recordingReporter(), now: () => new Date() }));
  });
  afterAll(() => work.cleanup());

  it('answers the totals and no problem for a clean image, and the first bad member for a damaged one', async () => {
    const command = JSON.stringify({ kind: 'verify', task: { jobId: 41, image, storageUnit: unit } });
    const clean = recordingToken();
    expect(await runTask({ command }, { token: clean, openStore: openStorageUnit, clock: { now: () => new Date() } })).toBe(0);
    expect(clean.ended).toEqual([{ succeed: expect.objectContaining({ problemCount: 0, problems: [], members: image.fileCount }) }]);

    const files = copy1(image).fragments.map((f) => path.join(unit.kind === 'disk' ? unit.path : '', keyOf(f)));
    const file = files.find((f) => readFileSync(f).includes('#!/bin/sh'))!;
    const bytes = readFileSync(file);
    const at = bytes.indexOf('#!/bin/sh');
    expect(at).toBeGreaterThan(0);
    bytes[at] = bytes[at]! ^ 1;
    writeFileSync(file, bytes);
    const damaged = recordingToken();
    expect(await runTask({ command }, { token: damaged, openStore: openStorageUnit, clock: { now: () => new Date() } })).toBe(0);
    const answer = (damaged.ended[0] as { succeed: { problemCount: number; problems: string[] } }).succeed;
    expect(answer.problemCount).toBe(1);
    expect(answer.problems[0]).toMatch(/\/run\.sh \(fragment \d .* at byte \d+\): its content has sha256/);
  }, 60_000);
});
