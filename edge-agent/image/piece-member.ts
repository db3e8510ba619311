import path from 'node:path/posix';
import type { FilePieces } from '#core/model/task.ts';
import type { ContentResult, ContentWriter, FragmentWriter, MemberPlace } from './fragment-writer.ts';
import { memberName, packHeader, type MemberSpec, type PackHeader } from './tar-member.ts';

/**
 * Pieces (docs/image-format.md, Pieces): a regular file whose member data is
 * above the storage unit's `pieceBytes` is stored as consecutive members of
 * at most that many bytes each, so the fragment writer may close a fragment
 * (end of media, fragment size) between two of them and every fragment
 * stays a complete tar archive.
 *
 * Each piece is a regular member named `<dir>/GNUFileParts/<base>.<k>`
 * (k = 1, 2, ...: GNU tar's name for the continuation part of a
 * multi-volume archive) with GNU tar's own multi-volume pax keywords:
 * `GNU.volume.filename` (the file's member name), `GNU.volume.offset`
 * (where in the file the piece starts) and `GNU.volume.size` (the file's
 * bytes from there to its end). GNU tar lists and extracts each piece on
 * its own under its part name (it ignores these keywords in a member's own
 * pax header, without a warning); `cat` of the parts in order is the file.
 */
export const PIECE_DIR = 'GNUFileParts';

const FILENAME = 'GNU.volume.filename';
const OFFSET = 'GNU.volume.offset';
const SIZE = 'GNU.volume.size';

/** The lengths of the pieces of `size` bytes cut every `pieceBytes`; one length (no pieces) when it fits. */
export function pieceLengths(size: number, pieceBytes: number): number[] {
  if (size <= pieceBytes) return [size];
  const lengths: number[] = [];
  for (let at = 0; at < size; at += pieceBytes) lengths.push(Math.min(pieceBytes, size - at));
  return lengths;
}

/** The header of piece `k` (1-based) of the file `spec`, holding `length` bytes from `fileOffset`. */
export function pieceHeader(spec: MemberSpec, k: number, fileOffset: number, length: number): PackHeader {
  const header = packHeader(spec);
  const name = memberName(spec.path, 'file');
  const dir = path.dirname(name);
  header.name = `${dir === '.' ? '' : `${dir}/`}${PIECE_DIR}/${path.basename(name)}.${k}`;
  header.size = length;
  header.pax = { ...(header.pax ?? {}), [FILENAME]: name, [OFFSET]: String(fileOffset), [SIZE]: String(spec.size - fileOffset) };
  return header;
}

type ReadHeader = { name: string; size?: number | null; pax?: unknown };

/** What a piece's header says: the file's member name, where the piece starts in it, and the file's size (offset + GNU.volume.size). */
export interface PieceOf {
  filename: string;
  fileOffset: number;
  fileSize: number;
}

/** Whether a member read from an archive is a piece (it has GNU.volume.* records). */
export function isPieceMember(header: ReadHeader): boolean {
  const pax = (header.pax ?? {}) as Record<string, string>;
  return pax[FILENAME] !== undefined || pax[OFFSET] !== undefined || pax[SIZE] !== undefined;
}

/** The piece a member is, or why its records are not those of a piece. */
export function pieceOf(header: ReadHeader): PieceOf | { problem: string } {
  const pax = (header.pax ?? {}) as Record<string, string>;
  const filename = pax[FILENAME];
  const offset = pax[OFFSET];
  const size = pax[SIZE];
  if (filename === undefined || filename === '') return { problem: `piece ${header.name} has no ${FILENAME}` };
  if (offset === undefined || !/^\d{1,16}$/.test(offset)) return { problem: `piece ${header.name} has no valid ${OFFSET} (${JSON.stringify(offset)})` };
  if (size === undefined || !/^\d{1,16}$/.test(size)) return { problem: `piece ${header.name} has no valid ${SIZE} (${JSON.stringify(size)})` };
  const fileOffset = Number(offset);
  const fileSize = fileOffset + Number(size);
  if (!Number.isSafeInteger(fileSize) || fileOffset + (header.size ?? 0) > fileSize) return { problem: `piece ${header.name} holds ${header.size ?? 0} bytes from byte ${fileOffset}, past the file's ${fileSize}` };
  return { filename, fileOffset, fileSize };
}

/**
 * Adds a file member through `fragments`: as one member when its data fits
 * in `pieceBytes`, else as pieces. Returns where it starts (its first
 * piece), and for pieces the index's `pieces` (one entry per fragment).
 */
export async function addFileMember<R extends ContentResult>(
  fragments: FragmentWriter,
  spec: MemberSpec,
  pieceBytes: number,
  content: (write: ContentWriter) => Promise<R>,
): Promise<MemberPlace & { result: R; pieces?: FilePieces[] }> {
  const lengths = pieceLengths(spec.size, pieceBytes);
  if (lengths.length === 1) {
    const place = await fragments.add(packHeader(spec), content);
    return { ...place, result: place.result! };
  }
  let fileOffset = 0;
  const headers = lengths.map((length, i) => {
    const header = pieceHeader(spec, i + 1, fileOffset, length);
    fileOffset += length;
    return header;
  });
  const { places, result } = await fragments.addPieces(headers, content);
  return { ...places[0]!, result, pieces: piecesIndex(places, lengths) };
}

/** The index's `pieces` of pieces that landed at `places`: the first piece in each fragment. */
export function piecesIndex(places: readonly MemberPlace[], lengths: readonly number[]): FilePieces[] {
  const pieces: FilePieces[] = [];
  let fileOffset = 0;
  places.forEach((place, i) => {
    if (pieces.at(-1)?.fragment !== place.fragment) pieces.push({ fragment: place.fragment, offset: place.offset, fileOffset });
    fileOffset += lengths[i]!;
  });
  return pieces;
}
