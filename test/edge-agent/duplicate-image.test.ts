import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { duplicateImage, type DuplicateDeps } from '#agent/duplicate/duplicate-image.ts';
import { writeCopy } from '#agent/duplicate/write-copy.ts';
import { blockMapKey } from '#agent/image/block-map.ts';
import { imageKeys } from '#core/ids.ts';
import { restoreFromCopies } from '#agent/restore/copy-fallback.ts';
import { storageUnitOpener } from '#agent/transport/open-storage-unit.ts';
import { verifyImage } from '#agent/verify/verify-image.ts';
import { s3StorageUnitStore } from '#aws/s3-object-store.ts';
import { copyOf, primaryCopy, type Image, type ImageCopy } from '#core/model/image.ts';
import { StorageUnit, type StorageUnitInput } from '#core/model/storage-unit.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import { StatusCode } from '#core/status-codes.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { emulatorClientOptions, startAwsEmulator } from '#test/setup/aws-emulator.ts';
import { createAwsClients } from '#aws/clients.ts';
import { MemoryCatalogStore } from '#test/memory/memory-catalog-store.ts';
import { MemoryConfigStore } from '#test/memory/memory-config-store.ts';
import { MemoryJobStore } from '#test/memory/memory-job-store.ts';
import { runExpiration } from '#core/catalog/expire-images.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { runDueDuplicates } from '#local/duplicate-tick.ts';
import { samplePolicy } from '../contracts/fixtures.ts';
import { backupTask, catalogImage, failureOf, InstrumentedStore, patterned, recordingReporter, tempDir } from './helpers.ts';

/** Every regular file and symlink under `root`, by relative path: a file's sha256, a link's target. */
function contentOf(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (relative: string): void => {
    const absolute = path.join(root, relative);
    const stats = lstatSync(absolute);
    if (stats.isFile()) out.set(relative, createHash('sha256').update(readFileSync(absolute)).digest('hex'));
    else if (stats.isSymbolicLink()) out.set(relative, `-> ${readlinkSync(absolute)}`);
    else if (stats.isDirectory()) for (const name of readdirSync(absolute).sort()) visit(relative ? `${relative}/${name}` : name);
  };
  visit('');
  return out;
}

interface Setup {
  work: { dir: string; cleanup: () => void };
  source: string;
  catalog: MemoryCatalogStore;
  config: MemoryConfigStore;
  deps: DuplicateDeps;
  image: Image;
  primaryUnit: string;
}

/** A backup of the sample tree on disk unit `disk1` (several fragments), catalogued. */
async function setUp(label: string, openStorageUnit: StorageUnitOpener, units: StorageUnitInput[]): Promise<Setup> {
  const work = tempDir(label);
  const source = path.join(work.dir, 'source');
  makeSampleTree(source, { largeBytes: 1_500_000 });
  const primaryUnit = path.join(work.dir, 'disk1');
  const task = backupTask(primaryUnit, [source], { backupId: 'host1_1700000000', storageUnit: { name: 'disk1', kind: 'disk', path: primaryUnit, fragmentSizeBytes: 1024 * 1024 } });
  const image = catalogImage(task, await runBackup(task, { store: new FsObjectStore(primaryUnit), reporter: recordingReporter(), now: () => new Date() }));
  const catalog = new MemoryCatalogStore();
  await catalog.claimBackupId({ backupId: image.backupId, jobId: image.jobId, client: image.client, storageUnit: 'disk1', claimedAt: image.createdAt });
  await catalog.putImage(image);
  const config = new MemoryConfigStore();
  for (const unit of [{ name: 'disk1', kind: 'disk', path: primaryUnit } as StorageUnitInput, ...units]) await config.putStorageUnit(StorageUnit.parse(unit));
  return { work, source, catalog, config, deps: { catalog, config, openStorageUnit }, image, primaryUnit };
}

const diskOnly = storageUnitOpener(async () => {
  throw new Error('no S3 in this test');
});

/** Restores the catalogued image with copy fallback into a fresh directory; the tree of the source under it. */
async function restoreAll(s: Setup, name: string, openCopy: (copy: ImageCopy) => Promise<ObjectStore>) {
  const target = path.join(s.work.dir, name);
  const lines: string[] = [];
  const image = (await s.catalog.getImage(s.image.backupId))!;
  const result = await restoreFromCopies({ image, targetDir: target }, openCopy, (line) => lines.push(line));
  return { result, lines, tree: contentOf(path.join(target, s.source)) };
}

describe('duplication disk → disk', () => {
  let s: Setup;
  let second: string;
  let openCopy: (copy: ImageCopy) => Promise<ObjectStore>;
  beforeAll(async () => {
    s = await setUp('duplicate-disk', diskOnly, []);
    second = path.join(s.work.dir, 'disk2');
    await s.config.putStorageUnit(StorageUnit.parse({ name: 'disk2', kind: 'disk', path: second }));
    openCopy = async (copy) => s.deps.openStorageUnit((await s.config.getStorageUnit(copy.storageUnit))!);
  });
  afterAll(() => s?.work.cleanup());

  it('a crash midway catalogues nothing, and the next run writes the copy again and catalogues it', async () => {
    const store = new InstrumentedStore(new FsObjectStore(second));
    store.failPut = (key) => (key.endsWith('fragment-00002.tar') ? new Error('injected: the target failed mid-copy') : undefined);
    const failing: DuplicateDeps = { ...s.deps, openStorageUnit: async (unit) => (unit.name === 'disk2' ? store : s.deps.openStorageUnit(unit)) };
    await expect(duplicateImage(failing, { backupId: s.image.backupId, to: 'disk2' })).rejects.toThrow('injected');
    expect((await s.catalog.getImage(s.image.backupId))!.copies.map((c) => c.copyNumber)).toEqual([1]);
    // Half a copy is there, owned by no catalogued copy.
    expect(store.completed.some((k) => k.endsWith('fragment-00001.tar'))).toBe(true);
    expect(store.completed.some((k) => k.endsWith('manifest.json'))).toBe(false);

    const done = await duplicateImage(s.deps, { backupId: s.image.backupId, to: 'disk2' });
    expect(done).toMatchObject({ copyNumber: 2, storageUnit: 'disk2', fromCopy: 1 });
    const image = (await s.catalog.getImage(s.image.backupId))!;
    expect(image.copies.map((c) => [c.copyNumber, c.storageUnit])).toEqual([[1, 'disk1'], [2, 'disk2']]);
    const copy2 = copyOf(image, 2)!;
    expect(copy2.fragments.length).toBeGreaterThan(1);
    const verified = await verifyImage({ store: new FsObjectStore(second), image, copy: copy2 });
    expect(verified.problems).toEqual([]);
    // A second run finds the copy there and catalogues nothing more.
    const again = await duplicateImage(s.deps, { backupId: s.image.backupId, to: 'disk2' }).catch((e: unknown) => e);
    expect(String(again)).toContain('already has copy 2 on storage unit disk2');
  }, 60_000);

  it('the copy restores byte for byte; with the primary deleted the restore falls back to it and says so', async () => {
    const expected = contentOf(s.source);
    const plain = await restoreAll(s, 'r-primary', openCopy);
    expect(plain.result.copyNumber).toBe(1);
    expect(plain.lines).toEqual([]);
    expect(plain.tree).toEqual(expected);

    const image = (await s.catalog.getImage(s.image.backupId))!;
    const copy2 = copyOf(image, 2)!;
    // The copy alone, as a restore from it reads it.
    const fromCopy = await restoreFromCopies({ image: { ...image, copies: [copy2] }, targetDir: path.join(s.work.dir, 'r-copy2') }, openCopy);
    expect(fromCopy.copyNumber).toBe(2);
    expect(contentOf(path.join(s.work.dir, 'r-copy2', s.source))).toEqual(expected);

    // The primary's fragments deleted.
    const saved = primaryCopy(image).fragments.map((f) => {
      const file = path.join(s.primaryUnit, (f.location as { key: string }).key);
      const bytes = readFileSync(file);
      unlinkSync(file);
      return [file, bytes] as const;
    });
    const missing = await restoreAll(s, 'r-missing', openCopy);
    expect(missing.result.copyNumber).toBe(2);
    expect(missing.lines.join('\n')).toMatch(/copy 1 of image host1_1700000000 on storage unit disk1 cannot be read: fragment 1 .* is missing; trying copy 2 \(storage unit disk2\)/);
    expect(missing.tree).toEqual(expected);
    for (const [file, bytes] of saved) writeFileSync(file, bytes);

    // One byte of the primary's first fragment corrupted (in a file's data: the objects are all there, their sizes right).
    const needle = Buffer.from('#!/bin/sh\necho hello\n');
    const first = primaryCopy(image)
      .fragments.map((f) => path.join(s.primaryUnit, (f.location as { key: string }).key))
      .find((file) => readFileSync(file).includes(needle))!;
    const bytes = readFileSync(first);
    const at = bytes.indexOf(needle);
    expect(at).toBeGreaterThan(0);
    bytes[at + 12] = bytes[at + 12]! ^ 0x20;
    writeFileSync(first, bytes);
    const corrupt = await restoreAll(s, 'r-corrupt', openCopy);
    expect(corrupt.result.copyNumber).toBe(2);
    expect(corrupt.lines.join('\n')).toMatch(/copy 1 of image host1_1700000000 on storage unit disk1 is corrupt: .*; restoring from copy 2 \(storage unit disk2\) instead/);
    expect(corrupt.tree).toEqual(expected);
    bytes[at + 12] = bytes[at + 12]! ^ 0x20;
    writeFileSync(first, bytes);
  }, 60_000);

  it('refuses a unit that holds a copy already, one sharing its directory, a tape unit where no drives are reachable, and a corrupt source (nothing catalogued)', async () => {
    const before = (await s.catalog.getImage(s.image.backupId))!;
    await s.config.putStorageUnit(StorageUnit.parse({ name: 'disk1b', kind: 'disk', path: `${s.primaryUnit}/` }));
    await s.config.putStorageUnit(StorageUnit.parse({ name: 'tape1', kind: 'tape', robot: 'r1', pool: 'p1', index: { name: 'idx', kind: 'disk', path: path.join(s.work.dir, 'idx') } }));
    expect((await failureOf(duplicateImage(s.deps, { backupId: s.image.backupId, to: 'disk1' }))).message).toContain('already has copy 1 on storage unit disk1');
    expect((await failureOf(duplicateImage(s.deps, { backupId: s.image.backupId, to: 'disk1b' }))).message).toContain('keeps its objects where disk1 does');
    const tape = await failureOf(duplicateImage(s.deps, { backupId: s.image.backupId, to: 'tape1' }));
    expect(tape.statusCode).toBe(StatusCode.INVALID_COMMAND_USAGE);
    expect(tape.message).toContain('cannot reach its robot and drives');

    // A corrupt source is never copied as good.
    const third = path.join(s.work.dir, 'disk3');
    await s.config.putStorageUnit(StorageUnit.parse({ name: 'disk3', kind: 'disk', path: third }));
    const file = path.join(s.primaryUnit, (primaryCopy(before).fragments[1]!.location as { key: string }).key);
    const bytes = readFileSync(file);
    bytes[700] = bytes[700]! ^ 0x01;
    writeFileSync(file, bytes);
    const corrupt = await failureOf(duplicateImage(s.deps, { backupId: s.image.backupId, to: 'disk3' }));
    expect(corrupt.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
    expect(corrupt.message).toContain('fragment 2');
    bytes[700] = bytes[700]! ^ 0x01;
    writeFileSync(file, bytes);
    expect(await s.catalog.getImage(s.image.backupId)).toEqual(before);
    rmSync(third, { recursive: true, force: true });
  }, 60_000);
});

describe('a copy kept longer than the primary', () => {
  let s: Setup;
  afterAll(() => s?.work.cleanup());

  it('the primary expires on its own date, its folder deleted; the copy becomes the primary and restores; the image goes with its last copy', async () => {
    s = await setUp('duplicate-expire', diskOnly, []);
    const second = path.join(s.work.dir, 'disk2');
    await s.config.putStorageUnit(StorageUnit.parse({ name: 'disk2', kind: 'disk', path: second }));
    const own = Date.parse(s.image.expiresAt);
    const later = new Date(own + 30 * 86_400_000).toISOString();
    await duplicateImage(s.deps, { backupId: s.image.backupId, to: 'disk2', expiresAt: later });
    const deps = { catalog: s.catalog, config: s.config, jobs: new MemoryJobStore(), openStorageUnit: diskOnly };

    const before = await runExpiration(deps, new Date(own - 1));
    expect(before.copiesExpired).toBeUndefined();
    const run = await runExpiration(deps, new Date(own));
    expect(run.problems).toEqual([]);
    expect(run.expired).toEqual([]);
    expect(run.copiesExpired?.map((c) => [c.backupId, c.copyNumber, c.storageUnit])).toEqual([[s.image.backupId, 1, 'disk1']]);
    expect(run.copiesExpired![0]!.objectsDeleted).toBeGreaterThan(2);
    expect(readdirSync(path.join(s.primaryUnit, 'images', 'host1'))).toEqual([]);
    const image = (await s.catalog.getImage(s.image.backupId))!;
    expect(image.copies.map((c) => c.copyNumber)).toEqual([2]);
    expect(primaryCopy(image).storageUnit).toBe('disk2');
    const openCopy = async (copy: ImageCopy) => diskOnly((await s.config.getStorageUnit(copy.storageUnit))!);
    const restored = await restoreAll(s, 'r-promoted', openCopy);
    expect(restored.lines).toEqual([]);
    expect(restored.result.copyNumber).toBe(2);
    expect(restored.tree).toEqual(contentOf(s.source));

    const last = await runExpiration(deps, new Date(later));
    expect(last.expired.map((e) => e.backupId)).toEqual([s.image.backupId]);
    expect(await s.catalog.getImage(s.image.backupId)).toBeUndefined();
    expect(readdirSync(path.join(second, 'images', 'host1'))).toEqual([]);
  }, 60_000);
});

describe('copies a policy declares, made by the standalone tick', () => {
  let s: Setup;
  afterAll(() => s?.work.cleanup());

  it('a due image gets its copy with the copy\'s own retention; the next tick finds nothing due; a failing copy is reported and stays due', async () => {
    s = await setUp('duplicate-tick', diskOnly, []);
    await s.config.putStorageUnit(StorageUnit.parse({ name: 'archive', kind: 'disk', path: path.join(s.work.dir, 'archive') }));
    await s.config.putPolicy(samplePolicy(s.image.policy, { copies: [{ storageUnit: 'archive', within: 6 * 3600, retention: { days: 90 } }, { storageUnit: 'nowhere', retention: { days: 7 } }] }));
    const clock = new FakeClock(new Date(Date.parse(s.image.createdAt) + 3600_000));
    const jobs = new MemoryJobStore();
    const run = await runDueDuplicates({ catalog: s.catalog, config: s.config, jobs, clock, owner: 'local:test:1' });
    expect(run.done.map((d) => [d.copyNumber, d.storageUnit, d.expiresAt])).toEqual([[2, 'archive', new Date(Date.parse(s.image.createdAt) + 90 * 86_400_000).toISOString()]]);
    expect(run.problems).toEqual([`image ${s.image.backupId} to nowhere: storage unit nowhere does not exist; tried again at the next tick`]);
    const image = (await s.catalog.getImage(s.image.backupId))!;
    expect(image.copies.map((c) => c.storageUnit)).toEqual(['disk1', 'archive']);
    // Each copy is a duplicate job: the one made DONE 0 with its copy number and bytes, the failed one with its status and reason.
    const recorded = (await jobs.list()).sort((a, b) => a.jobId - b.jobId);
    expect(recorded.map((j) => [j.type, j.state, j.statusCode, 'storageUnit' in j ? j.storageUnit : undefined, j.owner])).toEqual([
      ['duplicate', 'DONE', 0, 'archive', 'local:test:1'],
      ['duplicate', 'DONE', StatusCode.STORAGE_UNIT_UNAVAILABLE, 'nowhere', 'local:test:1'],
    ]);
    expect(recorded[0]).toMatchObject({ image: s.image.backupId, client: s.image.client, copyNumber: 2, fromCopy: 1, policy: s.image.policy, progress: { bytes: run.done[0]!.bytes } });
    expect(recorded[1]!.error).toBe('storage unit nowhere does not exist');
    expect(run.done[0]!.jobId).toBe(recorded[0]!.jobId);
    const next = await runDueDuplicates({ catalog: s.catalog, config: s.config, jobs, clock, owner: 'local:test:1' });
    expect(next.done).toEqual([]);
    expect(next.problems).toHaveLength(1);
  }, 60_000);
});

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;

describe.skipIf(Boolean(skip))(`duplication disk → S3${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let s: Setup;
  let clients: ReturnType<typeof createAwsClients>;
  let bucket: string;
  afterAll(async () => {
    clients?.destroy();
    s?.work.cleanup();
    if (!('skip' in emulator)) await emulator.stop();
  });

  it('the S3 copy (with its storage class) restores byte for byte, and a restore falls back to it when the primary is gone', async () => {
    if ('skip' in emulator) return;
    // Restore reads the index alongside a fragment: more than the one connection emulator clients get.
    clients = createAwsClients({ ...emulatorClientOptions(emulator.endpoint), maxSockets: 4 }, {});
    bucket = `cairn-dup-${Date.now()}`;
    await clients.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const open = storageUnitOpener(async (unit) => s3StorageUnitStore(unit, clients.s3));
    s = await setUp('duplicate-s3', open, [{ name: 's3-archive', kind: 's3', bucket, prefix: 'site1', storageClass: 'STANDARD_IA' } as StorageUnitInput]);
    const expiresAt = new Date(Date.parse(s.image.expiresAt) + 60 * 86_400_000).toISOString();
    const done = await duplicateImage(s.deps, { backupId: s.image.backupId, to: 's3-archive', expiresAt });
    expect(done).toMatchObject({ copyNumber: 2, storageUnit: 's3-archive', expiresAt });
    const image = (await s.catalog.getImage(s.image.backupId))!;
    // The image lives as long as its longest-kept copy; copy 1 keeps its own date.
    expect(image.expiresAt).toBe(expiresAt);
    expect(image.copies.map((c) => [c.copyNumber, c.storageUnit, c.expiresAt])).toEqual([[1, 'disk1', s.image.expiresAt], [2, 's3-archive', expiresAt]]);
    const key = (copyOf(image, 2)!.fragments[0]!.location as { key: string }).key;
    const head = await clients.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `site1/${key}` }));
    expect(head.StorageClass).toBe('STANDARD_IA');

    const openCopy = async (copy: ImageCopy) => open((await s.config.getStorageUnit(copy.storageUnit))!);
    rmSync(path.join(s.primaryUnit, 'images'), { recursive: true, force: true });
    const restored = await restoreAll(s, 'r-s3', openCopy);
    expect(restored.result.copyNumber).toBe(2);
    expect(restored.lines.join('\n')).toContain('copy 1 of image host1_1700000000 on storage unit disk1 cannot be read');
    expect(restored.tree).toEqual(contentOf(s.source));
  }, 120_000);
});

/**
 * writeCopy finds the objects of a copy from the catalog record and its
 * index, never by listing the source: the cloud agent's S3 grant has no
 * s3:ListBucket (core/policies/agent-grants.ts), so a listing would fail
 * with AccessDenied, and a listing would also copy objects no record
 * vouches for.
 */
const MiB = 1024 * 1024;
const writeCopyDirs: Array<ReturnType<typeof tempDir>> = [];
afterAll(() => {
  for (const dir of writeCopyDirs.splice(0)) dir.cleanup();
});

/** A store whose listing fails as S3 does for a caller without s3:ListBucket. */
class UnlistableStore extends FsObjectStore {
  override async list(prefix: string): Promise<string[]> {
    throw new Error(`AccessDenied: not allowed to list ${prefix}`);
  }
}

async function backedUp(largeFile: boolean) {
  const work = tempDir('write-copy-objects');
  writeCopyDirs.push(work);
  const source = path.join(work.dir, 'source');
  mkdirSync(source);
  writeFileSync(path.join(source, 'small.txt'), 'small file\n');
  // Past the 1 MiB large-file threshold below: stored by blocks, with its block map in blocks.bin.
  if (largeFile) writeFileSync(path.join(source, 'large.bin'), patterned(2 * MiB, 3));
  const unit = path.join(work.dir, 'disk1');
  const task = backupTask(unit, [source], { storageUnit: { name: 'disk1', kind: 'disk', path: unit } });
  const image = catalogImage(task, await runBackup(task, { store: new FsObjectStore(unit), reporter: recordingReporter(), now: () => new Date(), largeFileBytes: MiB }));
  return { work, unit, image, target: path.join(work.dir, 'disk2') };
}

describe('writeCopy without listing the source', () => {
  it('copies the fragments, the index, the manifest and the block map an index entry points into, and nothing else', async () => {
    const { unit, image, target } = await backedUp(true);
    const blocks = blockMapKey(image.backupId);
    expect(existsSync(path.join(unit, blocks))).toBe(true);
    // An object no record names, in the image's folder: not copied.
    const stray = `${imageKeys(image.backupId).prefix}/stray.bin`;
    writeFileSync(path.join(unit, stray), 'not vouched for');

    const written = await writeCopy({ image, from: { copy: primaryCopy(image), store: new UnlistableStore(unit) }, to: { storageUnit: 'disk2', store: new FsObjectStore(target) }, copyNumber: 2 });

    // Buffer.equals, not toEqual: a deep comparison of MiB-sized buffers takes seconds.
    expect(readFileSync(path.join(target, blocks)).equals(readFileSync(path.join(unit, blocks)))).toBe(true);
    expect(existsSync(path.join(target, stray))).toBe(false);
    const copy = primaryCopy(image);
    // Fragments, index, block map, and the manifest written last.
    expect(written.objects).toBe(copy.fragments.length + 3);
    for (const key of [...copy.fragments.map((f) => (f.location.kind === 'object' ? f.location.key : '')), copy.indexKey]) expect(readFileSync(path.join(target, key)).equals(readFileSync(path.join(unit, key))), key).toBe(true);
  });

  it('copies no block map when no index entry has one', async () => {
    const { unit, image, target } = await backedUp(false);
    const written = await writeCopy({ image, from: { copy: primaryCopy(image), store: new UnlistableStore(unit) }, to: { storageUnit: 'disk2', store: new FsObjectStore(target) }, copyNumber: 2 });
    expect(written.objects).toBe(primaryCopy(image).fragments.length + 2);
    expect(existsSync(path.join(target, blockMapKey(image.backupId)))).toBe(false);
  });

  it('fails with 2001 naming the block map when the index points into one that is missing', async () => {
    const { unit, image, target } = await backedUp(true);
    rmSync(path.join(unit, blockMapKey(image.backupId)));
    await expect(writeCopy({ image, from: { copy: primaryCopy(image), store: new UnlistableStore(unit) }, to: { storageUnit: 'disk2', store: new FsObjectStore(target) }, copyNumber: 2 })).rejects.toMatchObject({
      statusCode: 2001,
      message: expect.stringContaining('blocks.bin'),
    });
  });
});
