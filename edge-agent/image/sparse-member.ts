import path from 'node:path/posix';
import { memberName, packHeader, type MemberSpec, type PackHeader } from './tar-member.ts';
import { isPieceMember, pieceOf } from './piece-member.ts';

/**
 * GNU tar's PAX sparse format 1.0 (GNU tar manual, "Storing Sparse Files";
 * src/sparse.c `pax_dump_header_1`), written and read by hand because
 * tar-stream knows nothing of sparse files:
 *
 * - pax records `GNU.sparse.major=1`, `GNU.sparse.minor=0`,
 *   `GNU.sparse.name=<real name>`, `GNU.sparse.realsize=<file size>`;
 * - the ustar name is `<dir>/GNUSparseFile.0/<base>`, so a tar that does not
 *   know the format extracts the raw member under a name that cannot be
 *   mistaken for the file;
 * - the member data starts with the map in decimal text: the number of
 *   segments, then each segment's offset and length, one number a line,
 *   zero-padded to a 512-byte boundary; the segments' bytes follow, in map
 *   order. What no segment covers is a hole. A file that ends in a hole
 *   gets a last segment of length 0 at its size (as GNU tar writes it), so
 *   every extractor knows the size.
 *
 * `tar -xf` (GNU tar 1.34) recreates the file with holes where the map has
 * none; Cairn's extractor does the same (sparse-restore.ts).
 */

export interface Segment {
  offset: number;
  length: number;
}

const BLOCK = 512;
/** A map line is at most 20 digits; a map longer than this is not one we wrote or GNU tar would. */
const MAX_MAP_BYTES = 64 * 1024 * 1024;

/** The map text, padded to whole 512-byte blocks, with the closing empty segment when the file ends in a hole. */
export function encodeSparseMap(segments: readonly Segment[], realSize: number): Buffer {
  const all = [...segments];
  const last = all.at(-1);
  if (!last || last.offset + last.length < realSize) all.push({ offset: realSize, length: 0 });
  const text = `${all.length}\n${all.map((s) => `${s.offset}\n${s.length}\n`).join('')}`;
  const padded = Buffer.alloc(Math.ceil(Buffer.byteLength(text) / BLOCK) * BLOCK);
  padded.write(text, 'latin1');
  return padded;
}

/** The tar header of a sparse member holding `segments` of a file of `spec.size` bytes, whose map is `mapBytes` long. */
export function sparseHeader(spec: MemberSpec, segments: readonly Segment[], mapBytes: number): PackHeader {
  const header = packHeader(spec);
  const name = memberName(spec.path, 'file');
  const dir = path.dirname(name);
  header.name = `${dir === '.' ? '' : `${dir}/`}GNUSparseFile.0/${path.basename(name)}`;
  header.size = mapBytes + segments.reduce((sum, s) => sum + s.length, 0);
  header.pax = {
    ...(header.pax ?? {}),
    'GNU.sparse.major': '1',
    'GNU.sparse.minor': '0',
    'GNU.sparse.name': name,
    'GNU.sparse.realsize': String(spec.size),
  };
  return header;
}

type ReadHeader = { name: string; size?: number | null; pax?: unknown };

function paxOf(header: ReadHeader): Record<string, string> {
  return (header.pax ?? {}) as Record<string, string>;
}

/** Whether a member read from an archive is a PAX 1.0 sparse member. */
export function isSparseMember(header: ReadHeader): boolean {
  const pax = paxOf(header);
  return pax['GNU.sparse.major'] !== undefined || pax['GNU.sparse.name'] !== undefined;
}

/** The member's real name: `GNU.sparse.name` for a sparse member, the file's (`GNU.volume.filename`) for a piece (piece-member.ts), its name otherwise. */
export function realMemberName(header: ReadHeader): string {
  if (isPieceMember(header)) return paxOf(header)['GNU.volume.filename'] ?? header.name;
  return isSparseMember(header) ? (paxOf(header)['GNU.sparse.name'] ?? header.name) : header.name;
}

/** The size of the file a member holds: `GNU.sparse.realsize` for a sparse member, the whole file's for a piece (NaN when its records do not parse), its data size otherwise. */
export function realMemberSize(header: ReadHeader): number {
  if (isPieceMember(header)) {
    const piece = pieceOf(header);
    return 'problem' in piece ? Number.NaN : piece.fileSize;
  }
  if (!isSparseMember(header)) return header.size ?? 0;
  const text = paxOf(header)['GNU.sparse.realsize'];
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : Number.NaN;
}

/** Why a sparse member's version is not one this reader knows (only 1.0), or undefined. */
export function sparseVersionProblem(header: ReadHeader): string | undefined {
  const pax = paxOf(header);
  if (pax['GNU.sparse.major'] === '1' && pax['GNU.sparse.minor'] === '0') return undefined;
  return `GNU sparse format ${pax['GNU.sparse.major'] ?? '?'}.${pax['GNU.sparse.minor'] ?? '?'} (only 1.0 is read)`;
}

export class SparseMapError extends Error {}

/**
 * Reads the map at the start of a sparse member's data and returns it with
 * the data stream positioned at the first segment's bytes. Rejects with
 * SparseMapError when the map is malformed: segments out of order,
 * overlapping or past the real size.
 */
export async function readSparseMap(data: AsyncIterator<Uint8Array>, realSize: number): Promise<{ segments: Segment[]; mapBytes: number; rest: Buffer }> {
  let buffered = Buffer.alloc(0);
  const numbers: number[] = [];
  let consumed = 0;
  let expected: number | undefined;
  while (expected === undefined || numbers.length < 1 + expected * 2) {
    const newline = buffered.indexOf(10, consumed);
    if (newline === -1) {
      if (buffered.length > MAX_MAP_BYTES) throw new SparseMapError('the sparse map is longer than 64 MiB');
      const next = await data.next();
      if (next.done) throw new SparseMapError('the member ends inside its sparse map');
      buffered = Buffer.concat([buffered, next.value]);
      continue;
    }
    const text = buffered.toString('latin1', consumed, newline);
    if (!/^\d{1,16}$/.test(text)) throw new SparseMapError(`the sparse map holds ${JSON.stringify(text.slice(0, 40))} where a number belongs`);
    numbers.push(Number(text));
    consumed = newline + 1;
    if (expected === undefined) expected = numbers[0]!;
  }
  const mapBytes = Math.ceil(consumed / BLOCK) * BLOCK;
  while (buffered.length < mapBytes) {
    const next = await data.next();
    if (next.done) throw new SparseMapError('the member ends inside its sparse map');
    buffered = Buffer.concat([buffered, next.value]);
  }
  const segments: Segment[] = [];
  let end = 0;
  for (let i = 0; i < expected; i++) {
    const segment = { offset: numbers[1 + i * 2]!, length: numbers[2 + i * 2]! };
    if (segment.offset < end || segment.offset + segment.length > realSize) {
      throw new SparseMapError(`sparse segment ${i + 1} (${segment.length} bytes at ${segment.offset}) overlaps the one before it or ends past the real size ${realSize}`);
    }
    end = segment.offset + segment.length;
    segments.push(segment);
  }
  return { segments, mapBytes, rest: buffered.subarray(mapBytes) };
}
