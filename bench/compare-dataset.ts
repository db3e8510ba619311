/**
 * The dataset of `npm run bench:compare` and its "day 2" change, both fully
 * determined by a seed: the same seed and scale give the same bytes, so runs
 * on different days compare.
 *
 * At scale 1 (about 2 GB apparent):
 *   small/dNNN/fNNNNN.{txt,bin}  20,000 files of 0–16 KiB, half text, half random
 *   medium/mNNN.bin              200 files of 1–9 MiB, half random, half text; m000 is exactly 1 MiB
 *   vm/disk.img                  512 MiB sparse, 96 MiB of it data in 1 MiB extents
 *   log/app.log                  64 MiB of log lines
 *   db/app.db                    192 MiB of 4 KiB pages, rows and free space
 * Every file's bytes come from its own AES-256-CTR keystream (key = sha256 of
 * seed and name), so nothing repeats across files: a deduplicating peer gets
 * no windfall the data would not give it.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';

const KiB = 1024;
const MiB = 1024 * KiB;
const PAGE = 4 * KiB;

/** A deterministic byte stream named by (seed, name). */
export class SeededStream {
  readonly #cipher;

  constructor(seed: string, name: string) {
    const key = createHash('sha256').update(`${seed}\0${name}`).digest();
    this.#cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  }

  bytes(n: number): Buffer {
    return this.#cipher.update(Buffer.alloc(n));
  }

  /** A whole number in [0, n). */
  below(n: number): number {
    return this.bytes(4).readUInt32BE(0) % n;
  }
}

const ALPHABET = Buffer.from('etaoinshrdlucmfwypvbgkqjxz      ETAOINSHRDLU0123456789.,:;-_=/()');

/** Text-like bytes: random letters of a 64-character alphabet with a newline every 64 to 127: zstd -1 keeps about two thirds. */
function text(stream: SeededStream, n: number): Buffer {
  const out = stream.bytes(n);
  let nextNewline = 64 + (out[0]! & 63);
  for (let i = 0; i < n; i++) {
    if (i === nextNewline) {
      out[i] = 10;
      nextNewline = i + 64 + (out[i + 1 === n ? i : i + 1]! & 63);
    } else {
      out[i] = ALPHABET[out[i]! & 63]!;
    }
  }
  return out;
}

export interface DatasetShape {
  smallFiles: number;
  mediumFiles: number;
  vmBytes: number;
  vmDataExtents: number;
  logBytes: number;
  dbBytes: number;
}

/** Counts and sizes at a scale (1 = the 2 GB); the 1 MiB file stays 1 MiB. */
export function shapeAt(scale: number): DatasetShape {
  const n = (full: number, min: number): number => Math.max(min, Math.round(full * scale));
  return {
    smallFiles: n(20_000, 10),
    mediumFiles: n(200, 4),
    vmBytes: n(512, 8) * MiB,
    vmDataExtents: n(96, 2),
    logBytes: n(64, 1) * MiB,
    dbBytes: n(192, 1) * MiB,
  };
}

/** The one 1 MiB file the single-file restore asks for; day 2 leaves it alone. */
export const ONE_MIB_FILE = 'medium/m000.bin';

function smallName(i: number): string {
  return `small/d${String(Math.floor(i / 100)).padStart(3, '0')}/f${String(i).padStart(5, '0')}.${i % 2 === 0 ? 'txt' : 'bin'}`;
}

function smallContent(seed: string, name: string, i: number, version: string): Buffer {
  const stream = new SeededStream(seed, `${name}${version}`);
  const size = stream.below(16 * KiB + 1);
  return i % 2 === 0 ? text(stream, size) : stream.bytes(size);
}

function mediumName(i: number): string {
  return `medium/m${String(i).padStart(3, '0')}.bin`;
}

/** Written in 1 MiB pieces, so a 9 MiB file never needs more than that in memory. */
async function writeMedium(root: string, seed: string, i: number, version: string): Promise<number> {
  const name = mediumName(i);
  const stream = new SeededStream(seed, `${name}${version}`);
  const size = i === 0 ? MiB : MiB + stream.below(8 * MiB);
  const handle = await open(path.join(root, name), 'w');
  try {
    for (let at = 0; at < size; at += MiB) {
      const n = Math.min(MiB, size - at);
      await handle.write(i % 2 === 0 ? stream.bytes(n) : text(stream, n));
    }
  } finally {
    await handle.close();
  }
  return size;
}

/** A database page: a header, rows of text, then zeroed free space (a quarter to three quarters of the page). */
function dbPage(stream: SeededStream, pageNo: number): Buffer {
  const page = Buffer.alloc(PAGE);
  page.writeUInt32BE(pageNo, 0);
  const used = PAGE / 4 + stream.below(PAGE / 2);
  text(stream, used - 16).copy(page, 16);
  return page;
}

function vmExtentOffsets(seed: string, shape: DatasetShape): number[] {
  const stream = new SeededStream(seed, 'vm/extents');
  const slots = shape.vmBytes / MiB;
  const chosen = new Set<number>();
  while (chosen.size < Math.min(shape.vmDataExtents, slots)) chosen.add(stream.below(slots));
  return [...chosen].sort((a, b) => a - b).map((slot) => slot * MiB);
}

async function parallel(jobs: Array<() => Promise<unknown>>, width = 32): Promise<void> {
  for (let i = 0; i < jobs.length; i += width) await Promise.all(jobs.slice(i, i + width).map((job) => job()));
}

/** Writes the day-1 dataset under `root` (emptied first). Returns its apparent size in bytes. */
export async function generateDataset(root: string, seed: string, shape: DatasetShape): Promise<number> {
  rmSync(root, { recursive: true, force: true });
  for (const dir of ['medium', 'vm', 'log', 'db']) mkdirSync(path.join(root, dir), { recursive: true });
  let bytes = 0;
  const small: Array<() => Promise<void>> = [];
  for (let i = 0; i < shape.smallFiles; i++) {
    const name = smallName(i);
    if (i % 100 === 0) mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    const content = smallContent(seed, name, i, '');
    bytes += content.length;
    small.push(() => writeFile(path.join(root, name), content));
  }
  await parallel(small);
  for (let i = 0; i < shape.mediumFiles; i++) bytes += await writeMedium(root, seed, i, '');

  const vm = await open(path.join(root, 'vm/disk.img'), 'w');
  try {
    await vm.truncate(shape.vmBytes);
    for (const offset of vmExtentOffsets(seed, shape)) {
      const stream = new SeededStream(seed, `vm@${offset}`);
      await vm.write(offset % (2 * MiB) === 0 ? stream.bytes(MiB) : text(stream, MiB), 0, MiB, offset);
    }
  } finally {
    await vm.close();
  }
  bytes += shape.vmBytes;

  const log = new SeededStream(seed, 'log/app.log');
  const logHandle = await open(path.join(root, 'log/app.log'), 'w');
  try {
    for (let at = 0; at < shape.logBytes; at += MiB) await logHandle.write(text(log, Math.min(MiB, shape.logBytes - at)));
  } finally {
    await logHandle.close();
  }
  bytes += shape.logBytes;

  const db = new SeededStream(seed, 'db/app.db');
  const dbHandle = await open(path.join(root, 'db/app.db'), 'w');
  try {
    const pagesPerWrite = MiB / PAGE;
    for (let page = 0; page < shape.dbBytes / PAGE; page += pagesPerWrite) {
      const pages = Array.from({ length: Math.min(pagesPerWrite, shape.dbBytes / PAGE - page) }, (_, k) => dbPage(db, page + k));
      await dbHandle.write(Buffer.concat(pages));
    }
  } finally {
    await dbHandle.close();
  }
  bytes += shape.dbBytes;
  return bytes;
}

export interface DayTwoSummary {
  smallRewritten: number;
  smallDeleted: number;
  smallAdded: number;
  mediumRewritten: number;
  mediumDeleted: number;
  mediumAdded: number;
  vmBlocksChanged: number;
  dbPagesChanged: number;
  logAppendedBytes: number;
}

/**
 * The seeded day-2 change: 1% of the small files rewritten, 0.5% deleted,
 * 0.5% added; two medium files rewritten, one deleted, one added; eight
 * 64 KiB blocks of the VM image and 32 pages of the database rewritten in
 * place; the log appended (1/64 of its size).
 */
export async function applyDayTwo(root: string, seed: string, shape: DatasetShape): Promise<DayTwoSummary> {
  const pick = new SeededStream(seed, 'day2');
  const distinct = (count: number, below: number, avoid: Set<number>): number[] => {
    const out = new Set<number>();
    while (out.size < Math.min(count, below - avoid.size)) {
      const i = pick.below(below);
      if (!avoid.has(i)) out.add(i);
    }
    for (const i of out) avoid.add(i);
    return [...out];
  };
  const smallTaken = new Set<number>();
  const rewritten = distinct(Math.max(1, Math.round(shape.smallFiles / 100)), shape.smallFiles, smallTaken);
  const deleted = distinct(Math.max(1, Math.round(shape.smallFiles / 200)), shape.smallFiles, smallTaken);
  const added = Math.max(1, Math.round(shape.smallFiles / 200));
  const jobs: Array<() => Promise<unknown>> = [];
  for (const i of rewritten) jobs.push(() => writeFile(path.join(root, smallName(i)), smallContent(seed, smallName(i), i, '@day2')));
  for (const i of deleted) jobs.push(async () => rmSync(path.join(root, smallName(i))));
  mkdirSync(path.join(root, 'small/day2'), { recursive: true });
  for (let k = 0; k < added; k++) {
    const i = shape.smallFiles + k;
    jobs.push(() => writeFile(path.join(root, 'small/day2', path.basename(smallName(i))), smallContent(seed, smallName(i), i, '@day2')));
  }
  await parallel(jobs);

  // Medium file 0 is the single-file restore's: never touched.
  const mediumTaken = new Set<number>([0]);
  const mediumRewritten = distinct(2, shape.mediumFiles, mediumTaken);
  const mediumDeleted = distinct(1, shape.mediumFiles, mediumTaken);
  for (const i of mediumRewritten) await writeMedium(root, seed, i, '@day2');
  for (const i of mediumDeleted) rmSync(path.join(root, mediumName(i)));
  await writeMedium(root, seed, shape.mediumFiles, '@day2');

  const vm = await open(path.join(root, 'vm/disk.img'), 'r+');
  const extents = vmExtentOffsets(seed, shape);
  const block = 64 * KiB;
  try {
    for (let k = 0; k < 8; k++) {
      const offset = extents[pick.below(extents.length)]! + pick.below(MiB / block) * block;
      await vm.write(pick.bytes(block), 0, block, offset);
    }
  } finally {
    await vm.close();
  }

  const db = await open(path.join(root, 'db/app.db'), 'r+');
  try {
    for (let k = 0; k < 32; k++) {
      const page = pick.below(shape.dbBytes / PAGE);
      await db.write(dbPage(pick, page), 0, PAGE, page * PAGE);
    }
  } finally {
    await db.close();
  }

  const appended = Math.max(4 * KiB, Math.round(shape.logBytes / 64));
  const log = await open(path.join(root, 'log/app.log'), 'a');
  try {
    await log.write(text(new SeededStream(seed, 'log@day2'), appended));
  } finally {
    await log.close();
  }
  return {
    smallRewritten: rewritten.length,
    smallDeleted: deleted.length,
    smallAdded: added,
    mediumRewritten: mediumRewritten.length,
    mediumDeleted: mediumDeleted.length,
    mediumAdded: 1,
    vmBlocksChanged: 8,
    dbPagesChanged: 32,
    logAppendedBytes: appended,
  };
}
