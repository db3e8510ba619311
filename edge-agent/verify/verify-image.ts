import { createHash, type Hash } from 'node:crypto';
import { extract as createExtract, type Extract, type Header } from 'tar-stream';
import { CairnError, NotFoundError, messageOf } from '#core/errors.ts';
import { fragmentLabel, primaryCopy, type Fragment, type Image, type ImageCopy } from '#core/model/image.ts';
import type { IndexEntry } from '#core/model/task.ts';
import type { FragmentSource } from '#core/ports/fragment-sink.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { objectStoreFragmentSource } from '../image/object-store-fragments.ts';
import { fragmentChecksum, TAR_MEMBERS_CHECKSUM } from '../image/fragment-digest.ts';
import { memberMtimeNs, pathOfMember } from '../image/tar-member.ts';
import { isSparseMember, realMemberName } from '../image/sparse-member.ts';
import { isPieceMember, pieceOf } from '../image/piece-member.ts';
import { xattrKeyword } from '../image/member-attrs.ts';
import { readTrustedManifest, trustedChunkTable, trustedIndex, trustedIndexChunk } from '../restore/image-trust.ts';
import { keepRawPaxNames } from '../restore/raw-pax-names.ts';
import { disagreementOf } from '../restore/restore.ts';
import { drainedOrClosed } from '../restore/tar-drain.ts';
import { TarLayout } from './tar-layout.ts';
import { ResumableSha256 } from './resumable-sha256.ts';
import type { PieceCarry } from '#core/model/verify-task.ts';

/** One thing wrong with an image, located as precisely as the check that found it can. */
export interface VerifyProblem {
  /** The client path of the member it concerns, when one does. */
  path?: string;
  /** The object: `fragment 2 (images/…/fragment-00002.tar)`, `index …`, `manifest …`. */
  where: string;
  fragment?: number;
  /** Byte offset in the fragment: the member's first header, or the damaged byte for a structural problem. */
  offset?: number;
  reason: string;
}

export interface VerifyProgress {
  files: number;
  bytes: number;
  currentPath?: string;
}

export interface VerifyOptions {
  /** The storage unit of the copy verified: its manifest, index and (by default) fragments. */
  store: ObjectStore;
  /** The catalog record: the root of trust. */
  image: Image;
  /** Default: the primary copy. */
  copy?: ImageCopy;
  /** Reads the copy's fragments by location (default: objects in `store`, decompressed when the unit compresses). */
  fragmentSource?: FragmentSource;
  onProgress?: (progress: VerifyProgress) => void;
  signal?: AbortSignal;
  /**
   * One volume's share of a tape image (a verify job reads its volumes one
   * Read step at a time, as a restore job does): only `fragments` are read;
   * the manifest and index problems are reported with the first volume
   * only. A file whose pieces run from one volume onto the next is hashed
   * with a resumable sha256 (resumable-sha256.ts): the Read of the volume
   * its first pieces are on ends with the hash state in `carryOut`, and the
   * next volume's Read, given it as `carryIn`, goes on from it, so the
   * last volume checks the whole file's sha256 against its index line.
   * Without `carryIn` (a job recorded before carries, or a state that does
   * not match the piece met) its later pieces are checked against its index
   * line and their place in the file, and their bytes by each fragment's
   * checksum, which names the file when it fails.
   */
  volume?: { fragments: ReadonlySet<number>; first: boolean; last: boolean; carryIn?: PieceCarry };
}

export interface VerifyResult {
  backupId: string;
  copyNumber: number;
  fragments: number;
  /** Members read and checked against their index lines. */
  members: number;
  /** Files whose content sha256 was recomputed and matched the index. */
  filesHashed: number;
  /** Tar bytes read. */
  bytes: number;
  /** The first problems found (in image order: manifest, index, then fragments by offset). */
  problems: VerifyProblem[];
  problemCount: number;
  /** A volume's Read that ends inside a pieced file whose next piece is on the next volume: the file's hash so far, for that Read. */
  carryOut?: PieceCarry;
}

/** Problems kept in a result; the count says how many there were. */
const KEPT_PROBLEMS = 200;

/** Pax records a Cairn member may carry (docs/image-format.md); anything else is a damaged keyword. */
const KNOWN_PAX = /^(path|linkpath|mtime|uid|gid|uname|gname|size|SCHILY\.xattr\..+|SCHILY\.acl\.(access|default)|GNU\.sparse\.(major|minor|name|realsize)|GNU\.volume\.(filename|offset|size))$/;

/**
 * Verifies one copy of an image without writing anything (bpverify): the
 * manifest against the catalog, the index (each chunk against the chunk
 * table, then the whole file against the catalog's sha256), and every
 * fragment, read whole: its checksum, its tar structure (header checksums,
 * zero padding, end-of-archive blocks: tar-layout.ts), every member against
 * its index line (path, type, size, mode, owner, mtime, link target,
 * device, pax keywords, xattrs and ACLs), and every plain or pieced file's
 * content against the sha256 in the index. Every line of the index must be
 * met by its member.
 *
 * It does not stop at the first problem: every fragment is read, and the
 * problems come back in image order, so the first one names the first bad
 * member. What the index does not pin down exactly (the digits of a pax
 * mtime below the precision of the index's milliseconds, owner names, a
 * sparse member's data) is still covered by the fragment checksum: a
 * fragment that fails it with no member-level finding is reported as such,
 * naming the members it could not check on their own.
 *
 * Rejects only when verifying cannot go on: 150 when `signal` aborts, 85
 * when the store itself fails (not a missing object: that is a problem).
 */
export async function verifyImage(options: VerifyOptions): Promise<VerifyResult> {
  const { image, store } = options;
  const copy = options.copy ?? primaryCopy(image);
  const problems: VerifyProblem[] = [];
  let problemCount = 0;
  const volume = options.volume;
  const add = (problem: VerifyProblem): void => {
    // The image-wide findings (manifest, index) belong to one volume's Read: the first.
    if (volume !== undefined && !volume.first && problem.fragment === undefined && problem.where !== 'the image') return;
    problemCount += 1;
    if (problems.length < KEPT_PROBLEMS) problems.push(problem);
  };

  // 1. The manifest against the catalog. Everything below relies on the catalog alone, so a bad manifest does not stop the rest.
  let manifest: Awaited<ReturnType<typeof readTrustedManifest>> | undefined;
  try {
    manifest = await readTrustedManifest(store, image, copy);
  } catch (error) {
    if (!isCorrupt(error)) throw error;
    add({ where: `manifest ${copy.manifestKey}`, reason: messageOf(error) });
  }

  // What the catalog cannot check for readTrustedManifest, but the storage unit and the index can.
  if (manifest !== undefined && manifest.storageUnit !== copy.storageUnit) add({ where: `manifest ${copy.manifestKey}`, reason: `storageUnit: the manifest has ${JSON.stringify(manifest.storageUnit)}, the catalog ${JSON.stringify(copy.storageUnit)}` });

  // 2. The index: chunk by chunk when the catalog vouches for a chunk table (names the bad chunk), then whole (the catalog's sha256).
  const chunks = manifest ? trustedChunkTable(copy, manifest) : undefined;
  let chunkProblems = 0;
  for (const [i, chunk] of (chunks ?? []).entries()) {
    try {
      await trustedIndexChunk(store, image, copy, chunks!, i);
    } catch (error) {
      if (!isCorrupt(error)) throw error;
      chunkProblems += 1;
      add({ where: `index ${copy.indexKey} chunk ${i + 1} of ${chunks!.length} (lines for ${JSON.stringify(chunk.first)} to ${JSON.stringify(chunk.last)}, at byte ${chunk.offset})`, reason: messageOf(error) });
    }
  }
  let indexTrusted = true;
  let indexLines = 0;
  try {
    for await (const line of trustedIndex(store, image, copy)) if (line) indexLines += 1;
  } catch (error) {
    if (!isCorrupt(error)) throw error;
    indexTrusted = false;
    if (chunkProblems === 0) add({ where: `index ${copy.indexKey}`, reason: messageOf(error) });
  }
  if (indexTrusted && manifest !== undefined && manifest.indexEntries !== indexLines) add({ where: `manifest ${copy.manifestKey}`, reason: `indexEntries: the manifest has ${manifest.indexEntries}, the index holds ${indexLines} lines` });

  // 3. Every fragment, with the index lines alongside (both in archive order) when the index can be trusted.
  const source = options.fragmentSource ?? objectStoreFragmentSource(store, copy.storageUnit);
  const lines = indexTrusted ? new IndexLines(trustedIndex(store, image, copy)) : undefined;
  const totals = { members: 0, filesHashed: 0, bytes: 0, files: 0 };
  const pieced: PiecedState = { open: undefined };
  const all = [...copy.fragments].sort((a, b) => a.number - b.number);
  const fragments = volume === undefined ? all : all.filter((f) => volume.fragments.has(f.number));
  const lastRead = fragments.at(-1)?.number ?? 0;
  try {
    for (const fragment of all) {
      if (options.signal?.aborted) throw new CairnError(StatusCode.TERMINATED_BY_ADMINISTRATOR, 'termination requested by administrator', { cause: options.signal.reason });
      if (fragment.number > lastRead) break;
      const expected = lines ? await lines.of(fragment.number) : undefined;
      // A fragment on an earlier volume: its lines are passed over (their pieces' later starts are kept), its bytes not read.
      if (volume !== undefined && !volume.fragments.has(fragment.number)) continue;
      for (const problem of await verifyFragment(fragment, source, expected, pieced, totals, options)) add(problem);
    }
    if (pieced.open && !continuesAfter(pieced.open.line, lastRead)) add({ path: pieced.open.line.path, where: 'the image', reason: `its pieces stop at file byte ${pieced.open.next} of ${pieced.open.line.size}` });
  } finally {
    await lines?.close();
  }
  // The file goes on on the next volume: its hash so far travels with the job to that volume's Read.
  const open = pieced.open;
  const carryOut = volume !== undefined && open !== undefined && open.hash instanceof ResumableSha256 && continuesAfter(open.line, lastRead) ? { path: open.line.path, next: open.next, sha256State: open.hash.save() } : undefined;
  return { backupId: image.backupId, copyNumber: copy.copyNumber, fragments: fragments.length, members: totals.members, filesHashed: totals.filesHashed, bytes: totals.bytes, problems, problemCount, ...(carryOut ? { carryOut } : {}) };
}

/** The error a verify ends with for a corrupt image: status 2001, naming the first bad member; the details list the problems found. */
export function corruptImageOf(result: VerifyResult): CairnError {
  const details = result.problems.map(describeProblem);
  if (result.problemCount > result.problems.length) details.push(`... and ${result.problemCount - result.problems.length} more`);
  return new CairnError(StatusCode.CORRUPT_IMAGE, `image ${result.backupId} is corrupt (${result.problemCount} problem${result.problemCount === 1 ? '' : 's'}): ${details[0] ?? 'unknown problem'}`, { details });
}

/** `path (where at byte N): reason`, the form jobs and the CLI show. */
export function describeProblem(problem: VerifyProblem): string {
  const at = problem.offset === undefined ? '' : ` at byte ${problem.offset}`;
  return `${problem.path ?? '-'} (${problem.where}${at}): ${problem.reason}`;
}

interface PiecedState {
  /**
   * A file stored as pieces whose next piece is still to come: its line, the
   * hash of its bytes so far, and the next file byte. `resumed`: its first
   * pieces were on an earlier volume, so the hash does not cover the file.
   */
  open: { line: IndexEntry; hash: ContentHash; next: number; resumed?: boolean } | undefined;
}

/** node:crypto's Hash, or the resumable one for a file that crosses a volume boundary. */
type ContentHash = Hash | ResumableSha256;

/** Whether a pieced file has a piece in a fragment after `fragment` (on a later volume, for a volume's Read). */
function continuesAfter(line: IndexEntry, fragment: number): boolean {
  return (line.pieces ?? []).some((p) => p.fragment > fragment);
}

interface Totals {
  members: number;
  filesHashed: number;
  bytes: number;
  files: number;
}

/** One fragment's lines: by the offset of each member's first header, with piece starts (a pieced file's first piece in this fragment) too. */
type FragmentLines = Map<number, IndexEntry>;

async function verifyFragment(fragment: Fragment, source: FragmentSource, expected: FragmentLines | undefined, pieced: PiecedState, totals: Totals, options: VerifyOptions): Promise<VerifyProblem[]> {
  const label = fragmentLabel(fragment);
  const found: VerifyProblem[] = [];
  const problem = (p: Omit<VerifyProblem, 'where' | 'fragment'>): void => void found.push({ ...p, where: label, fragment: fragment.number });
  const pathAt = new Map([...(expected ?? new Map<number, IndexEntry>()).entries()].map(([offset, line]) => [offset, line.path]));
  const unmatched = new Map(expected ?? []);
  /** Members with bytes no check of their own covers (below the index's precision): named when only the fragment checksum fails. */
  const unchecked: string[] = [];

  let body: AsyncIterable<Uint8Array>;
  try {
    body = await source.read(fragment);
  } catch (error) {
    if (options.signal?.aborted) throw terminated(options.signal);
    if (!(error instanceof NotFoundError) && !isCorrupt(error)) throw new CairnError(StatusCode.MEDIA_READ_ERROR, `cannot read ${label}: ${messageOf(error)}`, { cause: error });
    problem({ reason: error instanceof NotFoundError ? 'the fragment is missing from the storage unit' : messageOf(error) });
    for (const [offset, line] of unmatched) if (offset === line.offset) problem({ path: line.path, offset, reason: 'not verified: its fragment cannot be read' });
    return found;
  }

  const hashing = fragment.encoding === undefined || fragment.checksum === TAR_MEMBERS_CHECKSUM;
  const checksum = fragmentChecksum(fragment);
  const layout = new TarLayout();
  let bytes = 0;
  let ended = false;
  async function* pass(): AsyncGenerator<Uint8Array, void, undefined> {
    for await (const chunk of body) {
      if (options.signal?.aborted) throw terminated(options.signal);
      if (hashing) checksum.update(chunk);
      layout.update(chunk);
      bytes += chunk.byteLength;
      yield chunk;
    }
    layout.end();
    ended = true;
  }

  const extract = createExtract();
  keepRawPaxNames(extract);
  const paxFormat = watchPaxRecords(extract);
  extract.on('error', () => undefined);
  const feeding = feed(pass(), extract);
  let parserError: unknown;
  try {
    for await (const entry of extract) {
      const header = entry.header;
      const own = entry.offset;
      const first = layout.takeFirstHeader(own) ?? own;
      const name = realMemberName(header);
      const clientPath = pathOfMember(name);
      totals.members += 1;
      options.onProgress?.({ files: totals.members, bytes: totals.bytes + bytes, currentPath: clientPath });
      const badRecords = paxFormat.take();
      if (badRecords !== undefined) problem({ path: expected?.get(first)?.path ?? clientPath, offset: first, reason: `its pax records are malformed: ${badRecords}` });
      const content = checkMember({ header, first, own, clientPath, expected, unmatched, pieced, problem, unchecked, fragment: fragment.number, volume: options.volume });
      // The member's data: hashed when its content is checked, read and dropped otherwise.
      let size = 0;
      for await (const chunk of entry as AsyncIterable<Uint8Array>) {
        content?.hash.update(chunk);
        size += chunk.byteLength;
        // A large member shows its bytes going by (the caller throttles what it reports).
        options.onProgress?.({ files: totals.members, bytes: totals.bytes + bytes, currentPath: clientPath });
      }
      if (content) finishContent(content, size, pieced, totals, problem, first);
    }
  } catch (error) {
    if (options.signal?.aborted) throw terminated(options.signal);
    parserError = error;
  }
  // A file whose pieces go on on a later volume: this Read cannot finish its sha256, so the fragment checksum speaks for its bytes here.
  if (options.volume !== undefined && pieced.open !== undefined && continuesAfter(pieced.open.line, Math.max(...options.volume.fragments))) unchecked.push(pieced.open.line.path);
  const fed = await feeding;
  if (fed.error !== undefined && !(fed.error instanceof CairnError && fed.error.statusCode === StatusCode.CORRUPT_IMAGE)) {
    if (options.signal?.aborted) throw terminated(options.signal);
    throw new CairnError(StatusCode.MEDIA_READ_ERROR, `cannot read ${label}: ${messageOf(fed.error)}`, { cause: fed.error });
  }
  totals.bytes += bytes;

  // A structural problem is the member's whose headers it is in (or after whose data): reported at that member's first header, like every other problem of it.
  for (const p of layout.problems) {
    const named = p.memberStart === undefined ? undefined : pathAt.get(p.memberStart);
    problem({ path: named, offset: named === undefined ? p.offset : p.memberStart, reason: p.reason });
    if (named !== undefined) unmatched.delete(p.memberStart!);
  }
  if (fed.error !== undefined) problem({ reason: messageOf(fed.error) });
  else if (parserError !== undefined && layout.problems.length === 0) problem({ reason: `the fragment is not a readable tar archive: ${messageOf(parserError)}` });
  const broken = parserError !== undefined || fed.error !== undefined || layout.broken;
  for (const [offset, line] of unmatched) {
    // A pieced file's later start in this fragment is listed under its own line already.
    problem({ path: line.path, offset, reason: broken ? 'not verified: the fragment is unreadable before its member' : 'the index places it here, where there is no such member' });
  }

  const expectedBytes = fragment.encoding?.tarBytes ?? fragment.bytes;
  if (ended && bytes !== expectedBytes) problem({ reason: bytes < expectedBytes ? `the fragment is truncated: ${bytes} of ${expectedBytes} bytes` : `the fragment is ${bytes} bytes, the catalog says ${expectedBytes}` });
  if (ended && hashing) {
    const sha256 = checksum.digest('hex');
    if (sha256 !== fragment.sha256) {
      const why = `the fragment's checksum (${fragment.checksum ?? 'stored-bytes'}) is ${sha256}, the catalog says ${fragment.sha256}`;
      if (found.length > 0) found[0] = { ...found[0]!, reason: `${found[0]!.reason}; ${why}` };
      else {
        const suspects = unchecked.length === 0 ? 'no member' : unchecked.length === 1 ? unchecked[0]! : `one of ${unchecked.slice(0, 10).join(', ')}${unchecked.length > 10 ? ', ...' : ''}`;
        problem({ path: unchecked.length === 1 ? unchecked[0] : undefined, reason: `${why}; every member-level check passed, so the damage is in bytes the index does not pin down (in ${suspects})` });
      }
    }
  }
  // In image order: the first problem names the first bad member.
  return found.sort((a, b) => (a.offset ?? Number.MAX_SAFE_INTEGER) - (b.offset ?? Number.MAX_SAFE_INTEGER));
}

interface MemberCheck {
  header: Header;
  /** Offsets of the member's first header (its pax header, if any) and of its own header. */
  first: number;
  own: number;
  clientPath: string;
  expected: FragmentLines | undefined;
  unmatched: FragmentLines;
  pieced: PiecedState;
  problem: (p: Omit<VerifyProblem, 'where' | 'fragment'>) => void;
  unchecked: string[];
  /** The fragment read, and the volume's share when only one volume is read. */
  fragment: number;
  volume: VerifyOptions['volume'];
}

/** How a member's content is checked: a plain file on its own, a piece as part of its file (`pieced.open`). */
interface Content {
  hash: ContentHash;
  line: IndexEntry;
  piece: boolean;
}

/** Checks a member's headers against its index line; returns how its data is checked when its content is. */
function checkMember(check: MemberCheck): Content | undefined {
  const { header, first, own, clientPath, expected, unmatched, pieced, problem, unchecked } = check;
  const pax = (header.pax ?? {}) as Record<string, string>;
  // The member is the index's line at its offset: a damaged path record must not rename it.
  const line = expected?.get(first);
  for (const key of Object.keys(pax)) if (!KNOWN_PAX.test(key)) problem({ path: line?.path ?? clientPath, offset: first, reason: `its pax header has a record ${JSON.stringify(key)}, which no Cairn member carries` });
  if (expected === undefined) return undefined; // the index is not trusted: the fragment checksum and the structure are all there is
  unmatched.delete(first);

  if (isPieceMember(header)) {
    const piece = pieceOf(header);
    if ('problem' in piece) {
      problem({ path: line?.path ?? clientPath, offset: first, reason: piece.problem });
      pieced.open = undefined;
      return undefined;
    }
    const open = pieced.open;
    if (piece.fileOffset === 0 || (line !== undefined && open?.line.path !== line.path)) {
      if (line === undefined) {
        problem({ path: clientPath, offset: first, reason: 'the index lists no member here' });
        return undefined;
      }
      if (piece.fileOffset !== 0) {
        // A volume's Read meets a file whose earlier pieces were on an earlier volume: it goes on from where the index places this piece.
        const here = line.pieces?.find((p) => p.offset === first && p.fragment === check.fragment);
        const resumable = check.volume !== undefined && here !== undefined && line.pieces!.some((p) => p.fragment < check.fragment && !check.volume!.fragments.has(p.fragment));
        if (!resumable || clientPath !== line.path || here.fileOffset !== piece.fileOffset) {
          problem({ path: line.path, offset: first, reason: resumable && here ? `its piece here starts at file byte ${piece.fileOffset}, the index says ${here.fileOffset}` : `its piece here starts at file byte ${piece.fileOffset}, where its earlier pieces were not read` });
          return undefined;
        }
        // The hash of its earlier pieces, carried from the volume before: the whole file is checked at its last piece.
        const carried = carriedHash(check.volume!.carryIn, line.path, piece.fileOffset, problem, first);
        if (carried === undefined) unchecked.push(line.path);
        pieced.open = carried === undefined ? { line, hash: createHash('sha256'), next: piece.fileOffset, resumed: true } : { line, hash: carried, next: piece.fileOffset };
        return { hash: pieced.open.hash, line, piece: true };
      }
      if (!compareLine(line, header, first, own, problem)) return undefined;
      // A file whose pieces run onto a later volume is hashed so that its state can go to that volume's Read.
      const crosses = check.volume !== undefined && continuesAfter(line, Math.max(...check.volume.fragments));
      pieced.open = { line, hash: crosses ? ResumableSha256.create() : createHash('sha256'), next: 0 };
      return { hash: pieced.open.hash, line, piece: true };
    }
    if (open === undefined || open.line.path !== clientPath || open.next !== piece.fileOffset) {
      problem({ path: line?.path ?? clientPath, offset: first, reason: open === undefined ? `a piece from file byte ${piece.fileOffset} with no file open` : `a piece from file byte ${piece.fileOffset} of ${clientPath} where ${open.line.path} continues at byte ${open.next}` });
      pieced.open = undefined;
      return undefined;
    }
    if (open.resumed) unchecked.push(open.line.path);
    return { hash: open.hash, line: open.line, piece: true };
  }
  if (pieced.open !== undefined) {
    problem({ path: pieced.open.line.path, offset: first, reason: `its pieces stop at file byte ${pieced.open.next} of ${pieced.open.line.size}: ${clientPath} comes instead` });
    pieced.open = undefined;
  }
  if (line === undefined) {
    problem({ path: clientPath, offset: first, reason: 'the index lists no member here' });
    return undefined;
  }
  if (!compareLine(line, header, first, own, problem)) return undefined;
  const plain = line.type === 'file' && !isSparseMember(header) && line.unchangedBlocksIn === undefined && line.sha256 !== undefined;
  if (plain) return { hash: createHash('sha256'), line, piece: false };
  if (line.type === 'file' && (header.size ?? 0) > 0) unchecked.push(line.path);
  else if (pax.mtime !== undefined || pax.uname !== undefined || pax.gname !== undefined) unchecked.push(line.path);
  return undefined;
}

/**
 * The hash a volume's Read goes on from for a file whose earlier pieces the
 * previous volume's Read hashed: the carry must name this file and the file
 * byte this piece starts at (anything else is not this file's state, and the
 * file's bytes here fall back to the fragment checksums). A carry whose
 * state is malformed is a problem of the file.
 */
function carriedHash(carry: PieceCarry | undefined, path: string, fileOffset: number, problem: MemberCheck['problem'], first: number): ResumableSha256 | undefined {
  if (carry === undefined || carry.path !== path || carry.next !== fileOffset) return undefined;
  try {
    const hash = ResumableSha256.restore(carry.sha256State);
    if (hash.length === fileOffset) return hash;
    problem({ path, offset: first, reason: `the hash carried from the previous volume covers ${hash.length} bytes, where this piece starts at file byte ${fileOffset}` });
  } catch (error) {
    problem({ path, offset: first, reason: messageOf(error) });
  }
  return undefined;
}

/** The member's headers against its line; false (listed) when they differ. */
function compareLine(line: IndexEntry, header: Header, first: number, own: number, problem: MemberCheck['problem']): boolean {
  const clientPath = pathOfMember(realMemberName(header));
  const differs = (reason: string): false => {
    problem({ path: line.path, offset: first, reason });
    return false;
  };
  if (clientPath !== line.path) return differs(`the member here is named ${JSON.stringify(clientPath)}, the index says ${JSON.stringify(line.path)}`);
  const disagreement = disagreementOf(line, { name: header.name, header, offset: own });
  if (disagreement !== undefined) return differs(disagreement);
  const mtimeMs = Number(memberMtimeNs(header)) / 1e6;
  if (mtimeMs !== line.mtimeMs) return differs(`the member's mtime is ${mtimeMs} ms, the index says ${line.mtimeMs}`);
  const pax = (header.pax ?? {}) as Record<string, string>;
  const xattrs = Object.keys(pax).filter((k) => k.startsWith('SCHILY.xattr.')).sort();
  const expected = Object.entries(line.xattrs ?? {}).map(([name, value]) => [xattrKeyword(name), Buffer.from(value, 'base64').toString('utf8')] as const);
  if (JSON.stringify(xattrs) !== JSON.stringify(expected.map(([k]) => k).sort())) return differs(`the member's extended attributes are ${JSON.stringify(xattrs)}, the index lists ${JSON.stringify(expected.map(([k]) => k).sort())}`);
  for (const [key, value] of expected) if (pax[key] !== value) return differs(`the member's ${key} differs from the index's`);
  if ((pax['SCHILY.acl.access'] ?? undefined) !== line.acl?.access || (pax['SCHILY.acl.default'] ?? undefined) !== line.acl?.default) return differs("the member's ACLs differ from the index's");
  return true;
}

/** After a checked member's data: a plain file's sha256 against its line; a piece adds to its file, checked after the last piece. */
function finishContent(content: Content, size: number, pieced: PiecedState, totals: Totals, problem: MemberCheck['problem'], first: number): void {
  const { line } = content;
  if (content.piece) {
    // The file byte after this piece is where the next one must start; after the last, the whole file is checked.
    const open = pieced.open;
    if (open === undefined || open.hash !== content.hash) return;
    open.next += size;
    if (open.next < line.size) return;
    pieced.open = undefined;
    // Its first pieces were on an earlier volume: the fragment checksums stand for its content.
    if (open.resumed) return;
  }
  const sha256 = content.hash.digest('hex');
  totals.filesHashed += 1;
  if (sha256 !== line.sha256) problem({ path: line.path, offset: first, reason: `its content has sha256 ${sha256}, the index says ${line.sha256}` });
}

/**
 * The index lines, read once alongside the fragments: `of(n)` gives the
 * lines of fragment `n` (the index is in archive order, so they follow one
 * another), and a pieced file's later piece starts are given to the
 * fragments they are in. Lines whose data is in an earlier image
 * (fragment 0) are passed over. One fragment's lines are held at a time.
 */
class IndexLines {
  readonly #lines: AsyncGenerator<IndexEntry, void, undefined>;
  #pending: IndexEntry | undefined;
  #done = false;
  readonly #later = new Map<number, FragmentLines>();

  constructor(lines: AsyncGenerator<IndexEntry, void, undefined>) {
    this.#lines = lines;
  }

  async of(fragment: number): Promise<FragmentLines> {
    const out: FragmentLines = this.#later.get(fragment) ?? new Map();
    this.#later.delete(fragment);
    for (;;) {
      const line = this.#pending ?? (await this.#next());
      this.#pending = undefined;
      if (line === undefined) return out;
      if (line.fragment === 0) continue;
      if (line.fragment > fragment) {
        this.#pending = line;
        return out;
      }
      out.set(line.offset, line);
      for (const piece of line.pieces ?? []) {
        if (piece.fragment === line.fragment && piece.offset === line.offset) continue;
        const map = piece.fragment === fragment ? out : (this.#later.get(piece.fragment) ?? new Map<number, IndexEntry>());
        map.set(piece.offset, line);
        if (piece.fragment !== fragment) this.#later.set(piece.fragment, map);
      }
    }
  }

  async close(): Promise<void> {
    await this.#lines.return(undefined);
  }

  async #next(): Promise<IndexEntry | undefined> {
    if (this.#done) return undefined;
    const next = await this.#lines.next();
    if (next.done) this.#done = true;
    return next.done ? undefined : next.value;
  }
}

/**
 * Checks the exact form of every pax header's records as tar-stream reads
 * them (`LEN keyword=value\n`, LEN the record's length in decimal, the
 * records filling the header's data exactly): tar-stream skips a record's
 * newline and stops quietly at a bad length, so a damaged separator would
 * otherwise change nothing a field comparison sees. Wraps the same private
 * `_decodeLongHeader` as keepRawPaxNames (restore/raw-pax-names.ts, whose
 * test fails if an upgrade changes it); `take` gives the problem of the
 * pax header read before the member now yielded, once.
 */
function watchPaxRecords(extract: Extract): { take(): string | undefined } {
  const target = extract as unknown as { _decodeLongHeader?: (buf: Buffer) => void; _header?: { type?: string } | null };
  const original = target._decodeLongHeader;
  let pending: string | undefined;
  if (typeof original === 'function') {
    target._decodeLongHeader = function (this: typeof target, buf: Buffer): void {
      if (this._header?.type === 'pax-header') pending = paxRecordsProblem(buf);
      original.call(this, buf);
    };
  }
  return {
    take() {
      const problem = pending;
      pending = undefined;
      return problem;
    },
  };
}

/** How a pax header's data departs from `LEN keyword=value\n` records filling it exactly, or undefined. */
export function paxRecordsProblem(data: Uint8Array): string | undefined {
  // tar-stream hands on the bytes as its source chunked them: a tape source's are Uint8Array views, whose toString takes no encoding.
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  for (let at = 0; at < buf.length; ) {
    const space = buf.indexOf(0x20, at);
    const digits = space < 0 ? '' : buf.toString('latin1', at, space);
    if (!/^[1-9]\d*$/.test(digits)) return `the record at byte ${at} of the pax data has no length`;
    const length = Number(digits);
    if (at + length > buf.length) return `the record at byte ${at} of the pax data is ${length} bytes long, past the end of the data`;
    if (buf[at + length - 1] !== 0x0a) return `the record at byte ${at} of the pax data does not end with a newline`;
    if (buf.indexOf(0x3d, space + 1) < 0 || buf.indexOf(0x3d, space + 1) >= at + length - 1) return `the record at byte ${at} of the pax data has no keyword=value`;
    at += length;
  }
  return undefined;
}

function isCorrupt(error: unknown): boolean {
  return error instanceof CairnError && error.statusCode === StatusCode.CORRUPT_IMAGE;
}

function terminated(signal: AbortSignal): CairnError {
  return new CairnError(StatusCode.TERMINATED_BY_ADMINISTRATOR, 'termination requested by administrator', { cause: signal.reason });
}

async function feed(source: AsyncIterable<Uint8Array>, extract: Extract): Promise<{ error?: unknown }> {
  try {
    for await (const chunk of source) {
      if (extract.destroyed) return {};
      if (!extract.write(chunk)) await drainedOrClosed(extract);
    }
    extract.end(undefined);
    return {};
  } catch (error) {
    extract.destroy(error instanceof Error ? error : new Error(String(error)));
    return { error };
  }
}
