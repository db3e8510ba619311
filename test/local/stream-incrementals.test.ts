import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { runPolicyBackup } from '#local/multi-stream-job.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { readIndex } from '#agent/image/index-reader.ts';
import { restorePointInTime } from '#agent/restore/point-in-time.ts';
import { imagesAt } from '#core/catalog/point-in-time.ts';
import { readManifest } from '#agent/image/manifest.ts';
import { compareTrees } from '#cli/demo/compare-trees.ts';
import { primaryCopy, type Image } from '#core/model/image.ts';
import { asKind, type BackupJob } from '#core/model/job.ts';
import type { IndexEntry } from '#core/model/task.ts';
import { runCairn } from '../cli/cli-process.ts';
import { samplePolicy } from '../contracts/fixtures.ts';

const WORK = '/tmp/i11-per-stream-base/stream-incrementals';
const everyDay = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

/**
 * Each stream of a multiple-data-streams policy is a chain of its own: a
 * differential incremental of a stream is taken against that stream's full
 * (never the newest image of another stream), carries only what changed in
 * its stream, and a point-in-time restore of the client shows every stream.
 * Three plain directories stand for three file systems.
 */
describe('incrementals of a policy with multiple data streams', () => {
  const streams = ['a', 'b', 'c'].map((s) => `${WORK}/data/${s}`);
  const home = `${WORK}/home`;
  let runtime: LocalRuntime;

  beforeAll(async () => {
    rmSync(WORK, { recursive: true, force: true });
    // Files of several sizes, nested, and a symlink in each stream (no hard link: the reader sends a linked file again in every incremental).
    streams.forEach((dir, i) => {
      mkdirSync(join(dir, 'tree', 'docs', 'deep'), { recursive: true });
      writeFileSync(join(dir, 'tree', 'run.sh'), '#!/bin/sh\necho hello\n');
      writeFileSync(join(dir, 'tree', 'docs', 'large.bin'), Buffer.alloc(300_000 + i, i + 1));
      writeFileSync(join(dir, 'tree', 'docs', 'deep', 'note.txt'), `stream ${i}\n`.repeat(100));
      writeFileSync(join(dir, `only-in-${i}`), `stream ${i}\n`);
      symlinkSync('docs/large.bin', join(dir, 'tree', 'link to large'));
    });
    runtime = await openLocalRuntime({ home });
    await runtime.config.putPolicy(
      samplePolicy('streams', {
        selections: streams,
        storageUnit: 'local-disk',
        clients: [{ name: 'host1', priority: 1 }],
        multipleDataStreams: true,
        maxJobsPerPolicy: 3,
        schedules: [
          { name: 'full', type: 'full', frequency: 7 * 86400, windows: [{ days: [...everyDay], start: '00:00', duration: 86400 }], retention: { days: 30 } },
          { name: 'diff', type: 'differential-incremental', frequency: 86400, windows: [{ days: [...everyDay], start: '00:00', duration: 86400 }], retention: { days: 30 } },
        ],
      }),
    );
  });
  afterAll(() => {
    runtime?.close();
    rmSync(WORK, { recursive: true, force: true });
  });

  /** Runs the policy's schedule; its streams' jobs and images, in stream order. */
  const run = async (schedule: string): Promise<{ parent: BackupJob; children: BackupJob[]; images: Image[] }> => {
    const result = await runPolicyBackup(runtime, { client: 'host1', policy: 'streams', schedule });
    expect(result, `the ${schedule} run`).toMatchObject({ statusCode: 0 });
    const parent = asKind(await runtime.jobs.get(result.jobId!), 'backup')!;
    const children = (await Promise.all(parent.childJobIds!.map(async (id) => asKind(await runtime.jobs.get(id), 'backup')!))).sort((x, y) => streams.indexOf(x.selections[0]!) - streams.indexOf(y.selections[0]!));
    const images = await Promise.all(children.map(async (c) => (await runtime.catalog.getImage(c.backupId!))!));
    return { parent, children, images };
  };
  const store = async () => openStorageUnit((await runtime.config.getStorageUnit('local-disk'))!);
  const indexOf = async (image: Image): Promise<IndexEntry[]> => {
    const copy = primaryCopy(image);
    const entries: IndexEntry[] = [];
    for await (const entry of readIndex(await store(), copy.indexKey, copy.indexSha256)) entries.push(entry);
    return entries;
  };
  /** What `cairn restore --client host1 --at AT` does, in this process. */
  const restoreAt = async (at: Date, targetDir: string, paths?: string[]) => {
    const view = await imagesAt(runtime.catalog, { client: 'host1', at });
    const openImage = async (backupId: string) => ({ image: (await runtime.catalog.getImage(backupId))!, store: await store() });
    const result = await restorePointInTime({ image: view.images[0]!, streamImages: view.images.slice(1), openImage, targetDir, ...(paths ? { paths } : {}) });
    expect(result.refused).toEqual([]);
    return result;
  };
  const latest = (images: readonly Image[]): string => new Date(Math.max(...images.map((i) => Date.parse(i.createdAt)))).toISOString();

  it('takes each stream\'s incremental against its own full, with only its changed file, and restores every stream at each time', async () => {
    // Prepare: the full of every stream, then one file of stream b changes (another size, so nothing but the change can explain it).
    const full = await run('full');
    expect(full.images.map((i) => [i.level, i.selections, i.streams])).toEqual(streams.map((s) => ['full', [s], streams]));
    const changed = join(streams[1]!, 'tree', 'run.sh');
    const before = readFileSync(changed);
    const beforeCopy = `${WORK}/stream-b-before`;
    mkdirSync(beforeCopy, { recursive: true });
    writeFileSync(join(beforeCopy, 'run.sh'), before);
    const after = Buffer.from('#!/bin/sh\necho changed after the full, in stream b only\n');
    writeFileSync(changed, after);

    // Act
    const diff = await run('diff');

    // Assess: each stream names its own stream's full as its base, whichever stream wrote the newest image.
    for (const [i, image] of diff.images.entries()) {
      expect(image, streams[i]).toMatchObject({ level: 'differential-incremental', selections: [streams[i]], streams, baseBackupId: full.images[i]!.backupId });
      expect(diff.children[i]!.details?.map((d) => d.message)).toContainEqual(`differential-incremental against ${full.images[i]!.backupId}`);
    }
    // Only the changed file is carried, by its stream only; every other file is left in that stream's own full.
    const manifests = await Promise.all(diff.images.map(async (image) => readManifest(await store(), primaryCopy(image).manifestKey)));
    expect(manifests.map((m) => m.counts.files)).toEqual([0, 1, 0]);
    expect(manifests.map((m) => m.dataBytes)).toEqual([0, after.length, 0]);
    for (const [i, image] of diff.images.entries()) {
      const files = (await indexOf(image)).filter((e) => e.type === 'file');
      const fullFiles = (await indexOf(full.images[i]!)).filter((e) => e.type === 'file');
      expect(files.map((e) => e.path)).toEqual(fullFiles.map((e) => e.path));
      expect(files.filter((e) => e.fromBackupId === undefined).map((e) => e.path)).toEqual(i === 1 ? [changed] : []);
      expect(new Set(files.flatMap((e) => (e.fromBackupId ? [e.fromBackupId] : [])))).toEqual(new Set([full.images[i]!.backupId]));
    }

    // A restore of the client at the incremental's time shows every stream as it is now, byte for byte.
    const now = `${WORK}/restore-now`;
    const restored = await runCairn(home, ['restore', '--client', 'host1', '--at', latest(diff.images), '--to', now, '--json']);
    expect(restored.code, restored.stderr).toBe(0);
    expect((JSON.parse(restored.stdout) as { images: string[] }).images.sort()).toEqual([...full.images, ...diff.images].map((i) => i.backupId).sort());
    for (const dir of streams) expect((await compareTrees(dir, join(now, dir))).differences, dir).toEqual([]);
    // At the full's time: every stream as the full took it, the changed file with its old bytes.
    const then = `${WORK}/restore-then`;
    expect((await restoreAt(new Date(latest(full.images)), then)).images.sort()).toEqual(full.images.map((i) => i.backupId).sort());
    expect(readFileSync(join(then, changed))).toEqual(before);
    for (const dir of [streams[0]!, streams[2]!]) expect((await compareTrees(dir, join(then, dir))).differences, dir).toEqual([]);
    // One path of one stream, and `cairn ls` of the directory above the streams lists all three.
    const one = `${WORK}/restore-one`;
    expect((await restoreAt(new Date(latest(diff.images)), one, [changed])).images).toEqual([diff.images[1]!.backupId]);
    expect(readFileSync(join(one, changed))).toEqual(after);
    const listed = await runCairn(home, ['ls', `${WORK}/data`, '--client', 'host1', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const entries = (JSON.parse(listed.stdout) as { entries: (IndexEntry & { fromBackupId?: string })[] }).entries;
    expect(entries.filter((e) => e.path !== `${WORK}/data`).map((e) => e.path)).toEqual(streams);
  });
});
