import { createHash, randomUUID } from 'node:crypto';
import { cpSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { corruptImageOf, describeProblem, verifyImage, type VerifyResult } from '#agent/verify/verify-image.ts';
import { headerSize, hasNoData } from '#agent/image/fragment-digest.ts';
import { pathOfMember } from '#agent/image/tar-member.ts';
import { S3ObjectStore } from '#aws/s3-object-store.ts';
import type { Image } from '#core/model/image.ts';
import { readAll, type ObjectStore } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { emulatorClients, startAwsEmulator } from '#test/setup/aws-emulator.ts';
import { copy1, keyOf } from './forge.ts';
import { backupTask, catalogImage, recordingReporter, tempDir } from './helpers.ts';

/** Where a single flipped byte goes, and what verify must name for it. */
interface Injection {
  kind: 'data' | 'header' | 'pax' | 'index' | 'manifest';
  key: string;
  at: number;
  /** The member verify must name first (data, header, pax), with its fragment. */
  path?: string;
  fragment?: number;
}

/** One member of a clean fragment, as its bytes lie. */
interface Layout {
  path: string;
  own: number;
  /** The pax header block and its records, when the member has them. */
  pax?: { header: number; records: number; size: number; subMicrosecond: Array<[number, number]> };
  dataStart: number;
  size: number;
  regular: boolean;
}

/** Walks a clean tar archive's blocks (it is well formed: no checks). */
function layoutOf(bytes: Buffer): Layout[] {
  const out: Layout[] = [];
  let at = 0;
  let pax: Layout['pax'];
  let paxPath: string | undefined;
  while (at + 512 <= bytes.length) {
    const header = bytes.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break;
    const type = header[156]!;
    const size = hasNoData(type) ? 0 : headerSize(header);
    if (type === 0x78) {
      const records = bytes.subarray(at + 512, at + 512 + size).toString('latin1');
      const mtime = /\d+ mtime=-?\d+\.(\d*)\n/.exec(records);
      const fraction = mtime ? at + 512 + mtime.index + mtime[0].length - 1 - mtime[1]!.length : 0;
      pax = { header: at, records: at + 512, size, subMicrosecond: mtime && mtime[1]!.length > 6 ? [[fraction + 6, fraction + mtime[1]!.length]] : [] };
      paxPath = /\d+ path=([^\n]*)\n/.exec(bytes.subarray(at + 512, at + 512 + size).toString('utf8'))?.[1];
    } else {
      const name = paxPath ?? header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
      const prefix = header.subarray(345, 500).toString('utf8').replace(/\0.*$/s, '');
      out.push({ path: pathOfMember(paxPath ?? (prefix ? `${prefix}/${name}` : name)), own: at, ...(pax ? { pax } : {}), dataStart: at + 512, size, regular: type === 0x30 || type === 0 });
      pax = undefined;
      paxPath = undefined;
    }
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** A small seeded generator, so a failing injection can be replayed (CAIRN_VERIFY_SEED). */
function seeded(seed: number): (n: number) => number {
  let x = seed;
  return (n) => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x % n;
  };
}

/** Picks `counts` injections over an image's objects, as `read` gives their clean bytes. */
async function injections(image: Image, read: (key: string) => Promise<Buffer>, counts: Record<Injection['kind'], number>, random: (n: number) => number): Promise<Injection[]> {
  const copy = copy1(image);
  const members: Array<Layout & { key: string; fragment: number }> = [];
  for (const fragment of copy.fragments) for (const m of layoutOf(await read(keyOf(fragment)))) members.push({ ...m, key: keyOf(fragment), fragment: fragment.number });
  const pick = <T>(list: T[]): T => list[random(list.length)]!;
  const out: Injection[] = [];
  const withData = members.filter((m) => m.regular && m.size > 0);
  const withPax = members.filter((m) => m.pax !== undefined);
  for (let i = 0; i < counts.data; i++) {
    const m = pick(withData);
    out.push({ kind: 'data', key: m.key, at: m.dataStart + random(m.size), path: m.path, fragment: m.fragment });
  }
  for (let i = 0; i < counts.header; i++) {
    const m = pick(members);
    out.push({ kind: 'header', key: m.key, at: m.own + random(512), path: m.path, fragment: m.fragment });
  }
  for (let i = 0; i < counts.pax; i++) {
    const m = pick(withPax);
    // Half in the pax header's own block, half in its records (not the zero padding after them). Not the last three
    // digits of a pax mtime: below the precision of the index's milliseconds (a double), no member-level check can see
    // them change, only the fragment checksum (docs/architecture.md, Verify), which then names the fragment, not the member.
    let at: number;
    do at = i % 2 === 0 ? m.pax!.header + random(512) : m.pax!.records + random(m.pax!.size);
    while (m.pax!.subMicrosecond.some(([from, to]) => at >= from && at < to));
    out.push({ kind: 'pax', key: m.key, at, path: m.path, fragment: m.fragment });
  }
  const index = await read(copy.indexKey);
  for (let i = 0; i < counts.index; i++) out.push({ kind: 'index', key: copy.indexKey, at: random(index.length) });
  // The manifest's bytes that verify can judge: the values it shares with the catalog (the rest, e.g. its buffer counters, is the backup's own account).
  const manifest = (await read(copy.manifestKey)).toString('utf8');
  const judged = [...manifest.matchAll(/"(backupId|client|policy|jobId|indexKey|indexSha256|sha256|bytes|fileCount|indexEntries|key|storageUnit)": ("[^"]*"|\d+)/g)].map((m) => ({ at: m.index + m[1]!.length + 4, length: m[2]!.length }));
  for (let i = 0; i < counts.manifest; i++) {
    const field = pick(judged);
    out.push({ kind: 'manifest', key: copy.manifestKey, at: field.at + random(field.length) });
  }
  return out;
}

function flip(bytes: Buffer, at: number, random: (n: number) => number): Buffer {
  const out = Buffer.from(bytes);
  out[at] = out[at]! ^ (1 << random(8));
  return out;
}

/** What verify must say for an injection: the named member first (data, headers), or the object. */
function expectNamed(result: VerifyResult, injection: Injection, where: string): void {
  expect(result.problemCount, where).toBeGreaterThan(0);
  const first = result.problems[0]!;
  if (injection.path !== undefined) {
    expect({ path: first.path, fragment: first.fragment }, `${where}: ${describeProblem(first)}`).toEqual({ path: injection.path, fragment: injection.fragment });
    expect(first.offset, where).toBeDefined();
    // The problem found at the member, not a consequence of one found earlier.
    expect(first.reason, `${where}: ${describeProblem(first)}`).not.toMatch(/^not verified/);
  } else {
    expect(first.where, `${where}: ${describeProblem(first)}`).toContain(injection.kind === 'index' ? 'index' : 'manifest');
  }
  const error = corruptImageOf(result);
  expect(error.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
  expect(error.message).toContain(describeProblem(first));
}

function treeHash(dir: string): string {
  const hash = createHash('sha256');
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = path.join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else hash.update(`${path.relative(dir, p)}\0`).update(readFileSync(p));
    }
  };
  walk(dir);
  return hash.digest('hex');
}

const SEED = Number(process.env.CAIRN_VERIFY_SEED ?? 12);

describe('verify of a disk image with single flipped bytes (bpverify)', () => {
  let work: ReturnType<typeof tempDir>;
  let unit: string;
  let image: Image;

  beforeAll(async () => {
    work = tempDir('verify');
    const source = path.join(work.dir, 'source');
    makeSampleTree(source, { largeBytes: 1_500_000 });
    unit = path.join(work.dir, 'unit');
    // Small fragments: the image has several, so the fragment a problem is in is named too.
    const task = backupTask(unit, [source], { storageUnit: { name: 'disk1', kind: 'disk', path: unit, fragmentSizeBytes: 1024 * 1024 } });
    image = catalogImage(task, await runBackup(task, { store: new FsObjectStore(unit), reporter: recordingReporter(), now: () => new Date() }));
  });
  afterAll(() => work.cleanup());

  it('a clean image verifies with no problem, every member and file checked, and nothing in storage changes', async () => {
    const before = treeHash(unit);
    const progress: number[] = [];
    const result = await verifyImage({ store: new FsObjectStore(unit), image, onProgress: (p) => progress.push(p.files) });
    expect(result.problems.map(describeProblem)).toEqual([]);
    expect(result.fragments).toBeGreaterThan(1);
    expect(result.members).toBe(image.fileCount);
    expect(result.filesHashed).toBeGreaterThan(10);
    expect(progress.at(-1)).toBe(result.members);
    expect(treeHash(unit)).toBe(before);
  });

  it('catches each of 30 single-byte corruptions (file data, tar and pax headers, index, manifest), naming the bad member', async () => {
    const random = seeded(SEED);
    const clean = new FsObjectStore(unit);
    const planned = await injections(image, async (key) => readAll(await clean.get(key)), { data: 8, header: 7, pax: 7, index: 4, manifest: 4 }, random);
    expect(planned).toHaveLength(30);
    for (const [i, injection] of planned.entries()) {
      const copy = path.join(work.dir, `flip-${i}`);
      cpSync(unit, copy, { recursive: true });
      const file = path.join(copy, injection.key);
      writeFileSync(file, flip(readFileSync(file), injection.at, random));
      const before = treeHash(copy);
      const result = await verifyImage({ store: new FsObjectStore(copy), image });
      if (process.env.CAIRN_VERIFY_SHOW) console.log(injection.kind, describeProblem(result.problems[0]!));
      expectNamed(result, injection, `seed ${SEED}, injection ${i} (${injection.kind}: ${injection.key} byte ${injection.at})`);
      // Verify reads; it never repairs, moves or deletes what it found wrong.
      expect(treeHash(copy), `injection ${i}`).toBe(before);
    }
  }, 120_000);
});

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;
afterAll(async () => {
  if ('stop' in emulator) await emulator.stop();
});

describe.skipIf(Boolean(skip))('verify of an S3 image with single flipped bytes (moto_server)', () => {
  let work: ReturnType<typeof tempDir>;
  let store: ObjectStore;
  let image: Image;

  beforeAll(async () => {
    const s3 = emulatorClients((emulator as { endpoint: string }).endpoint).s3;
    const bucket = `cairn-verify-${randomUUID().slice(0, 8)}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    store = new S3ObjectStore({ bucket, prefix: 'cairn/s3unit', client: s3, partSizeBytes: 5 * 1024 * 1024 });
    work = tempDir('verify-s3');
    const source = path.join(work.dir, 'source');
    makeSampleTree(source, { largeBytes: 1_200_000 });
    const task = backupTask('/unused', [source], { storageUnit: { name: 's3unit', kind: 'disk', path: '/unused', fragmentSizeBytes: 1024 * 1024 } });
    image = catalogImage(task, await runBackup(task, { store, reporter: recordingReporter(), now: () => new Date() }));
  });
  afterAll(() => work?.cleanup());

  const storageHash = async (): Promise<string> => {
    const hash = createHash('sha256');
    for (const key of (await store.list('')).sort()) hash.update(`${key}\0`).update(await readAll(await store.get(key)));
    return hash.digest('hex');
  };

  it('verifies the clean image, then catches a corruption of each kind, naming the bad member, and changes nothing', async () => {
    expect((await verifyImage({ store, image })).problems.map(describeProblem)).toEqual([]);
    const random = seeded(SEED + 1);
    const planned = await injections(image, async (key) => readAll(await store.get(key)), { data: 2, header: 2, pax: 2, index: 1, manifest: 1 }, random);
    for (const [i, injection] of planned.entries()) {
      const clean = await readAll(await store.get(injection.key));
      await store.put(injection.key, flip(clean, injection.at, random));
      const before = await storageHash();
      const result = await verifyImage({ store, image });
      expect(await storageHash()).toBe(before);
      await store.put(injection.key, clean);
      expectNamed(result, injection, `seed ${SEED + 1}, S3 injection ${i} (${injection.kind}: ${injection.key} byte ${injection.at})`);
    }
  }, 120_000);
});
