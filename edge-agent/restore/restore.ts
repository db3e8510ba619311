import { unlink } from 'node:fs/promises';
import { CairnError, NotFoundError } from '#core/errors.ts';
import { readUntilAborted, terminated, untilAborted } from './until-aborted.ts';
import { fragmentLabel, type Fragment, type ImageCopy, type Image } from '#core/model/image.ts';
import type { IndexEntry } from '#core/model/task.ts';
import type { FragmentSource } from '#core/ports/fragment-sink.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { corruptImageError } from './image-trust.ts';
import { IndexCursor } from './index-cursor.ts';
import { ProblemList } from '../reader/problems.ts';
import { checkExisting, checkTarget, type ExistingEntries } from './restore-target.ts';
import type { MemberRange } from './member-ranges.ts';
import { planImage, type ImagePlan } from './restore-plan.ts';
import { MalformedArchiveError, TarExtractor, type ExtractMember, type MemberDecision, type RestoreProgress } from './tar-extractor.ts';
import { memberOwner, pathOfMember } from '../image/tar-member.ts';
import { CorruptFragmentError } from '../codec/seek-table.ts';
import { realMemberSize } from '../image/sparse-member.ts';
import { BlockChain, type OpenImage } from './block-chain.ts';
import { isPieceMember, pieceOf } from '../image/piece-member.ts';
import { PieceTracker } from './piece-tracker.ts';
import { removePartialOf } from './partial-file.ts';
import { attrsOfIndex } from '../image/member-attrs.ts';
import { fragmentChecksum, TAR_MEMBERS_CHECKSUM, TarMembersVerifier, type MemberDigests } from '../image/fragment-digest.ts';

export interface RestoreOptions {
  /** The storage unit of the copy read (the primary copy's unless `copy` says otherwise). */
  store: ObjectStore;
  /** The catalog record of the image: the root of the chain of trust. */
  image: Image;
  /** The copy to read (default: the primary, copy 1). */
  copy?: ImageCopy;
  /** Reads the copy's fragments by location (default: objects in `store`). */
  fragmentSource?: FragmentSource;
  /** Members are written under it (`/home/a/x` → `<targetDir>/home/a/x`). Created if missing. */
  targetDir: string;
  /** Client paths to restore, with everything under them; all when absent. Each must match something. */
  paths?: string[];
  /** What to do when the target already holds entries; default `refuse` (nothing is written into a non-empty directory). */
  existing?: ExistingEntries;
  /** Best effort: list corrupt fragments and files, restore everything else. */
  continueOnError?: boolean;
  onProgress?: (progress: RestoreProgress) => void;
  signal?: AbortSignal;
  /** Opens earlier images (catalog record and store): block-diff files need the image their unchanged blocks are in. */
  openImage?: OpenImage;
  /** Owners by number only, never by the user and group names in the image (GNU tar's --numeric-owner). */
  numericOwner?: boolean;
  /** How times Node cannot set exactly are set (restore/exact-times.ts); `python: false` uses touch alone. */
  exactTimes?: { python?: string | false };
}

export interface RestoreResult {
  /** Members restored (files, directories, links). */
  files: number;
  /** Bytes of file content written. */
  bytes: number;
  /** Files whose content matched the sha256 in the index. */
  verified: number;
  /** Members not restored because they would escape the target or the file system cannot hold them, as `name: reason`. */
  refused: string[];
  /** Existing entries kept under another name (`existing: 'rename'`), as `path: kept as path.cairn-old`. */
  renamed: string[];
  /** With `continueOnError`: what could not be restored because the image is corrupt there, as `what: reason`. */
  failures: string[];
}

/**
 * A pieced file's pieces carried between the Reads of one tape restore job
 * (one Read per volume, each its own pass; partial-file.ts): a file whose
 * next piece is in a fragment in `later` is kept as a partial file when
 * this Read ends; `resume`, a file an earlier Read kept, is continued from
 * its partial file at the first of its pieces in this Read's fragments.
 */
export interface PieceCarry {
  /** Names the partial files: the job number. */
  tag: string;
  /** Fragments a later Read of the job restores. */
  later: ReadonlySet<number>;
  /** The index line of the file an earlier Read kept unfinished, and the file byte this Read's first piece of it starts at. */
  resume?: { entry: IndexEntry; fileOffset: number };
}

/** What running restore plans needs besides the plans. */
export type RunOptions = Omit<RestoreOptions, 'store' | 'image' | 'copy' | 'fragmentSource' | 'paths'> & { failures: ProblemList; subject: string; carry?: PieceCarry };

/**
 * Restores an image (or the `paths` of it) under `targetDir`, following the
 * chain of trust: the catalog record → the manifest (must agree with it) →
 * the index (its sha256, from the catalog) → every fragment (bytes and
 * sha256, from the catalog) → every file (sha256 from the index).
 *
 * Before anything is written: the target is checked, the manifest compared
 * with the catalog, the whole index read (verifying its sha256 and every
 * line), the paths matched, and a non-empty target refused unless
 * `existing` says otherwise. Then the needed fragments are streamed in order
 * through one TarExtractor with the index alongside (both are in walk order,
 * so nothing is held in memory).
 *
 * Failures: without `continueOnError`, the restore ends with 2001
 * (CORRUPT_IMAGE) at the end of the first fragment in which something was
 * wrong. A fragment that cannot be parsed ends where it breaks; a file whose
 * sha256 does not match is not put in place, and the rest of its fragment is
 * still read (each file is verified on its own), so the error can also say
 * whether the fragment's own checksum fails. The details name every problem.
 * With `continueOnError`, every fragment is read and the problems are
 * returned in `failures` (partial success).
 * Directory modes and times are set on every exit path.
 *
 * Other rejections: 227 when a path matches nothing, 20 or 174 for a target
 * that cannot be used, 85 when the store cannot be read, 174 when the target
 * cannot be written, 150 when the signal aborts.
 */
export async function restoreImage(options: RestoreOptions): Promise<RestoreResult> {
  await checkTarget(options.targetDir);
  const failures = new ProblemList();
  const subject = `image ${options.image.backupId}`;
  const plan = await planImage({
    store: options.store,
    image: options.image,
    ...(options.copy ? { copy: options.copy } : {}),
    ...(options.fragmentSource ? { fragmentSource: options.fragmentSource } : {}),
    selection: options.paths === undefined ? { kind: 'all' } : { kind: 'paths', paths: options.paths },
    failures,
  });
  if (failures.count > 0 && !options.continueOnError) throw corruptImageError(subject, failures);
  return runPlans([plan], { ...options, failures, subject });
}

/**
 * Restores planned images in order through one extractor, so directory
 * metadata is set once, after everything, and on every exit path.
 */
export async function runPlans(plans: readonly ImagePlan[], options: RunOptions): Promise<RestoreResult> {
  const { failures } = options;
  await checkExisting(options.targetDir, options.existing ?? 'refuse');
  // Block diffs need earlier images: all of them are opened and checked before anything is written.
  const chain = new BlockChain(options.openImage);
  await chain.check(plans, options.continueOnError ? failures : undefined);
  const extractor = await TarExtractor.open({
    targetDir: options.targetDir,
    existing: options.existing === 'rename' ? 'rename' : 'overwrite',
    onProgress: options.onProgress,
    signal: options.signal,
    onCorrupt: (clientPath, reason) => failures.add(clientPath, reason),
    ...(options.carry === undefined ? {} : { partialTag: options.carry.tag }),
    ...(options.numericOwner ? { numericOwner: true } : {}),
    ...(options.exactTimes ? { exactTimes: options.exactTimes } : {}),
  });
  let completed = false;
  try {
    for (const plan of plans) await restorePlan(plan, extractor, chain, options);
    completed = true;
  } finally {
    // On a failure, setting directory modes is best effort: the failure is what the caller needs to see.
    await extractor.finish().catch((error: unknown) => {
      if (completed) throw error;
    });
  }
  const totals = extractor.totals();
  return { files: totals.files, bytes: totals.bytes, verified: totals.verified, refused: totals.refused, renamed: totals.renamed, failures: failures.report() };
}

async function restorePlan(plan: ImagePlan, extractor: TarExtractor, chain: BlockChain, options: RunOptions): Promise<void> {
  const { failures } = options;
  const stopOnFailure = (before: number): void => {
    if (failures.count > before && !options.continueOnError) throw corruptImageError(options.subject, failures);
  };
  const cursor = new IndexCursor(plan.lines(), new Set(plan.fragments.map((f) => f.number)));
  const pieces = new Pieces(plan, extractor, failures);
  /** The partial file kept for the next Read, if any. */
  let kept: string | undefined;
  const resume = options.carry?.resume;
  if (resume !== undefined && plan.wants(resume.entry.path)) pieces.tracker.resume(resume.entry, plan.decide(resume.entry), resume.fileOffset);
  try {
    for (const fragment of plan.fragments) {
      if (options.signal?.aborted) throw new CairnError(StatusCode.TERMINATED_BY_ADMINISTRATOR, 'termination requested by administrator', { cause: options.signal.reason });
      const before = failures.count;
      await restoreFragment(plan, fragment, cursor, extractor, chain, failures, options.signal, pieces);
      stopOnFailure(before);
    }
    const before = failures.count;
    const open = pieces.tracker.open;
    const later = options.carry?.later;
    // Its next piece is on a later volume: the Read that reads it continues the file.
    if (open !== undefined && later !== undefined && open.entry.pieces?.some((p) => p.fileOffset === open.next && later.has(p.fragment))) {
      pieces.tracker.suspend();
      kept = await extractor.keepPieced();
    } else if (open !== undefined) await pieces.abandon(`its pieces stop at byte ${open.next} of ${open.entry.size}: piece ${open.piece} is not in the fragments read`);
    // Reading the index to its end checks its sha256 once more when it was read again for the data.
    await cursor.finish((entry) => {
      if (plan.wants(entry.path) && entry.changed !== 'superseded') failures.add(`${entry.path}${plan.source}`, noMemberFor(plan.copy, entry));
    });
    stopOnFailure(before);
  } catch (error) {
    // A Read that fails after keeping a partial file has no next Read to continue it.
    if (kept !== undefined) await unlink(kept).catch(() => undefined);
    throw error;
  } finally {
    // The file an earlier Read kept was abandoned before its first piece here (listed why): its partial file goes.
    if (resume !== undefined && pieces.tracker.resumePending) await removePartialOf(options.targetDir, resume.entry.path, options.carry!.tag);
    await cursor.close();
  }
}

/**
 * Restores the wanted members of one fragment; whatever is wrong with it
 * goes to `failures`. A fragment the plan reads by ranges (a selective
 * restore wanting a small part of it) is read span by span, each fed to the
 * extractor at its offset; otherwise it is read whole and its sha256 checked.
 */
async function restoreFragment(plan: ImagePlan, fragment: Fragment, cursor: IndexCursor, extractor: TarExtractor, chain: BlockChain, failures: ProblemList, signal: AbortSignal | undefined, pieces: Pieces): Promise<void> {
  const label = fragmentLabel(fragment);
  const noMember = (e: IndexEntry): string => noMemberFor(plan.copy, e);
  // A superseded copy is never restored: its member not being read loses nothing.
  const missing = (reason: (entry: IndexEntry) => string) => (entry: IndexEntry) => {
    if (plan.wants(entry.path) && entry.changed !== 'superseded') failures.add(`${entry.path}${plan.source}`, reason(entry));
  };
  /** The fragment's bytes (or those of `range`); undefined, with the failure listed, when the fragment is not in the store. */
  const open = async (range?: MemberRange): Promise<AsyncIterable<Uint8Array> | undefined> => {
    try {
      const body = await untilAborted(range === undefined ? plan.fragmentSource.read(fragment) : plan.fragmentSource.read(fragment, { start: range.start, end: range.end }), signal);
      return readUntilAborted(body, signal);
    } catch (error) {
      if (signal?.aborted) throw terminated(signal);
      if (!(error instanceof NotFoundError)) throw mediaReadError(label, error);
      failures.addLine(`${label} of image ${plan.image.backupId} is missing from storage unit ${plan.copy.storageUnit}`);
      await pieces.interrupted(`piece ${pieces.tracker.open?.piece ?? ''} (from file byte ${pieces.tracker.open?.next ?? ''}) is in ${label}, which is missing`);
      await cursor.endFragment(fragment.number, missing(() => `not restored: ${label} is missing`));
      return undefined;
    }
  };

  const decide = async (member: ExtractMember): Promise<MemberDecision> => {
    const clientPath = pathOfMember(member.name);
    const piece = isPieceMember(member.header) ? pieceOf(member.header) : undefined;
    if (piece !== undefined && 'problem' in piece) {
      await pieces.interrupted(`${label} holds ${piece.problem} (header at byte ${member.offset}) where its next piece belongs`);
      failures.addLine(`${label}: ${piece.problem} (header at byte ${member.offset})`);
      return { restore: false };
    }
    if (piece !== undefined && piece.fileOffset > 0) return pieces.next(member, clientPath, piece, fragment.number, (entry) => disagreementOf(entry, member));
    // Any other member while a pieced file waits for its next piece: that piece is not there.
    const waiting = pieces.tracker.open;
    if (waiting !== undefined) await pieces.abandon(`its piece ${waiting.piece} (from file byte ${waiting.next}) is not where it belongs: ${label} has ${member.header.name} there (header at byte ${member.offset})`);
    const entry = await cursor.match({ path: clientPath, offset: member.offset }, fragment.number, missing(noMember));
    if (entry === undefined) {
      if (plan.wants(clientPath)) failures.add(`${clientPath}${plan.source}`, `${label} holds it (header at byte ${member.offset}) where the index does not list it`);
      return { restore: false };
    }
    const disagreement = disagreementOf(entry, member);
    if (disagreement !== undefined) {
      if (plan.wants(entry.path)) failures.add(`${entry.path}${plan.source}`, `${label}: ${disagreement}`);
      return { restore: false };
    }
    // A copy that changed while it was backed up is never restored as good (docs/image-format.md, Files that change
    // while they are read): a superseded one is passed over (the file read again follows); the last copy of a file
    // that kept changing is refused and listed, which makes the restore's status 1.
    if (entry.changed === 'inconsistent' && plan.wants(entry.path)) extractor.refuseMember(member.name, INCONSISTENT_COPY);
    const decision = withAttrs(plan.decide(entry), entry);
    if (piece !== undefined || entry.pieces !== undefined) {
      if (piece === undefined) {
        if (plan.wants(entry.path)) failures.add(`${entry.path}${plan.source}`, `${label}: the index says it is stored in pieces, and its member (header at byte ${member.offset}) holds it whole`);
        return { restore: false };
      }
      return pieces.first(entry, decision, member, piece, fragment.number);
    }
    // A block diff holds the changed blocks only: the rest is the file's version in an earlier image.
    if (!decision.restore || entry.unchangedBlocksIn === undefined) return decision;
    return chain.skips(plan.image, entry) ? { restore: false } : { ...decision, base: chain.baseOf(plan.image, entry) };
  };

  const ranges = plan.rangesOf(fragment);
  if (ranges !== undefined) {
    // No fragment checksum here: trust rests on the verified index, each header agreeing with its line, and each file's sha256.
    for (const range of ranges) {
      if (signal?.aborted) throw terminated(signal);
      const body = await open(range);
      if (body === undefined) return;
      try {
        await extractor.extract(body, decide, `${label} at byte ${range.start} (where the index places ${range.first})`, range.start);
      } catch (error) {
        // A span that does not parse is this fragment's failure; the next span starts at a header of its own.
        if (!(error instanceof MalformedArchiveError) && !(error instanceof CorruptFragmentError)) throw error;
        await pieces.interrupted(`${label} is unreadable from where its piece ${pieces.tracker.open?.piece ?? ''} (from file byte ${pieces.tracker.open?.next ?? ''}) is`);
        failures.addLine(error.message);
      }
    }
    await cursor.endFragment(fragment.number, missing(noMember));
    return;
  }

  const body = await open();
  if (body === undefined) return;
  const check = new FragmentCheck(fragment);
  let broken: MalformedArchiveError | CorruptFragmentError | undefined;
  try {
    await extractor.extract(check.pass(body), decide, label, 0, check.digests);
  } catch (error) {
    // Only the archive being malformed (or its compressed form: codec/) is this fragment's failure; anything else (the index, the target, the store) ends the restore.
    if (!(error instanceof MalformedArchiveError) && !(error instanceof CorruptFragmentError)) throw error;
    broken = error;
  }
  const checksum = check.problem();
  if (broken) await pieces.interrupted(`${label} is unreadable from where its piece ${pieces.tracker.open?.piece ?? ''} (from file byte ${pieces.tracker.open?.next ?? ''}) is`);
  if (broken) failures.addLine(checksum === undefined ? broken.message : `${broken.message}; ${checksum}`);
  else if (checksum !== undefined) {
    // A file whose pieces run on past this fragment has pieces from bytes that failed the check: it is not restored (nor continued by a later Read).
    await pieces.interrupted(`its pieces up to file byte ${pieces.tracker.open?.next ?? ''} include ${label}, which fails its checksum`);
    failures.addLine(`${label}: ${checksum}`);
  }
  await cursor.endFragment(fragment.number, missing(broken ? () => `not restored: ${label} is unreadable from there on` : noMember));
}

/**
 * Recomputes a fragment's checksum (whichever its `checksum` says) as it
 * streams; once it has ended, says how it differs from the catalog. A
 * `tar-members-1` checksum hashes each file's data on its own: those
 * digests (`digests`) are what the extractor checks each file against the
 * index with, so every byte is hashed once.
 */
class FragmentCheck {
  readonly #fragment: Fragment;
  readonly #hash: ReturnType<typeof fragmentChecksum>;
  /** The member data digests the checksum computes, for the extractor; undefined for a checksum of the stored bytes. */
  readonly digests: MemberDigests | undefined;
  /** False for a compressed fragment whose checksum is of its stored bytes: its source checked those (codec/zstd-fragment-source.ts). */
  readonly #hashing: boolean;
  #bytes = 0;
  #ended = false;

  constructor(fragment: Fragment) {
    this.#fragment = fragment;
    if (fragment.checksum === TAR_MEMBERS_CHECKSUM) {
      const verifier = new TarMembersVerifier({ memberDigests: true });
      this.#hash = { update: (chunk) => verifier.update(chunk), digest: () => verifier.digest() };
      this.digests = verifier;
    } else {
      this.#hash = fragmentChecksum(fragment);
    }
    this.#hashing = fragment.encoding === undefined || fragment.checksum === TAR_MEMBERS_CHECKSUM;
  }

  async *pass(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
    for await (const chunk of body) {
      if (this.#hashing) this.#hash.update(chunk);
      this.#bytes += chunk.byteLength;
      yield chunk;
    }
    this.#ended = true;
  }

  /** Undefined when the fragment matches (or was not read to its end). */
  problem(): string | undefined {
    if (!this.#ended) return undefined;
    // A compressed fragment reads as its tar archive: its size is `encoding.tarBytes`, not the stored `bytes`.
    const { encoding, sha256: expected } = this.#fragment;
    const expectedBytes = encoding?.tarBytes ?? this.#fragment.bytes;
    const sizeProblem = this.#bytes === expectedBytes ? undefined : encoding !== undefined ? `decompresses to ${this.#bytes} tar bytes, the catalog says ${expectedBytes}` : this.#bytes < expectedBytes ? `is truncated: ${this.#bytes} of ${expectedBytes} bytes` : `is ${this.#bytes} bytes, the catalog says ${expectedBytes}`;
    if (!this.#hashing) return sizeProblem === undefined ? undefined : `the fragment ${sizeProblem}`;
    const sha256 = this.#hash.digest('hex');
    if (sizeProblem === undefined && sha256 === expected) return undefined;
    return `the fragment ${sizeProblem ?? `is ${this.#bytes} bytes as expected`}, with sha256 ${sha256} where the catalog says ${expected}`;
  }
}

/**
 * Files stored as pieces in one plan: the tracker's checks (piece-tracker.ts)
 * and what follows from them: a refused piece, or one that never comes,
 * abandons its file, which is listed (when wanted) and whose unfinished
 * temporary file the extractor drops.
 */
class Pieces {
  readonly tracker = new PieceTracker();
  readonly #plan: ImagePlan;
  readonly #extractor: TarExtractor;
  readonly #failures: ProblemList;

  constructor(plan: ImagePlan, extractor: TarExtractor, failures: ProblemList) {
    this.#plan = plan;
    this.#extractor = extractor;
    this.#failures = failures;
  }

  async first(entry: IndexEntry, decision: MemberDecision, member: ExtractMember, piece: Exclude<ReturnType<typeof pieceOf>, { problem: string }>, fragment: number): Promise<MemberDecision> {
    return this.#verdict(this.tracker.first(entry, decision, member, piece, fragment));
  }

  async next(member: ExtractMember, clientPath: string, piece: Exclude<ReturnType<typeof pieceOf>, { problem: string }>, fragment: number, disagreement: (entry: IndexEntry) => string | undefined): Promise<MemberDecision> {
    const verdict = this.tracker.next(member, clientPath, piece, fragment, disagreement);
    if ('problem' in verdict && verdict.entry === undefined && this.#plan.wants(clientPath)) {
      this.#failures.add(`${clientPath}${this.#plan.source}`, `not restored: ${verdict.problem}`);
      return { restore: false };
    }
    return this.#verdict(verdict);
  }

  /** When a file waits for its next piece, it will not get it: abandoned, for `reason`. */
  async interrupted(reason: string): Promise<void> {
    if (this.tracker.open !== undefined) await this.abandon(reason);
  }

  async abandon(reason: string): Promise<void> {
    const open = this.tracker.open;
    const entry = this.tracker.abandon();
    if (entry === undefined) return;
    await this.#extractor.dropPieced();
    if (open!.decision.restore && this.#plan.wants(entry.path)) this.#failures.add(`${entry.path}${this.#plan.source}`, `not restored: ${reason}`);
  }

  async #verdict(verdict: ReturnType<PieceTracker['next']>): Promise<MemberDecision> {
    if ('decision' in verdict) return verdict.decision;
    // Listed when it was to be restored: a line the plan refused, or a file not asked for, is passed over.
    const wanted = verdict.entry !== undefined && this.#plan.decide(verdict.entry).restore;
    // The file's earlier pieces are dropped with it.
    if (this.tracker.open?.entry.path === verdict.entry?.path) {
      this.tracker.abandon();
      await this.#extractor.dropPieced();
    }
    if (wanted) this.#failures.add(`${verdict.entry!.path}${this.#plan.source}`, `not restored: ${verdict.problem}`);
    return { restore: false };
  }
}

/** A decision to restore a line that has extended attributes or ACLs carries them, for the extractor to set once the member is in place. */
function withAttrs(decision: MemberDecision, entry: IndexEntry): MemberDecision {
  const attrs = decision.restore ? attrsOfIndex(entry) : undefined;
  return attrs ? { ...decision, attrs } : decision;
}

/** Why the last copy of a file that kept changing while it was backed up is not restored. */
export const INCONSISTENT_COPY = 'not restored: it changed while it was backed up and the image holds no consistent copy of it';

const memberTypeOf: Record<IndexEntry['type'], string> = { file: 'file', directory: 'directory', symlink: 'symlink', hardlink: 'link', fifo: 'fifo', 'character-device': 'character-device', 'block-device': 'block-device' };

/**
 * How a member's header differs from its (verified) index line, or
 * undefined. The fragment's own checksum is known only at its end, so what
 * restore applies from a header before then (type, size, mode, owner, link
 * target) must agree with the index first.
 */
export function disagreementOf(entry: IndexEntry, member: ExtractMember): string | undefined {
  const { header } = member;
  const differs = (what: string, found: unknown, expected: unknown): string => `the member's ${what} is ${JSON.stringify(found)}, the index says ${JSON.stringify(expected)}`;
  if (memberTypeOf[entry.type] !== header.type) return differs('type', header.type, memberTypeOf[entry.type]);
  if (entry.type === 'file' && entry.size !== realMemberSize(header)) return differs('size', realMemberSize(header), entry.size);
  if ((entry.mode & 0o7777) !== (header.mode & 0o7777)) return differs('mode', (header.mode & 0o7777).toString(8), (entry.mode & 0o7777).toString(8));
  const [uid, gid] = memberOwner(header);
  if (uid !== entry.uid || gid !== entry.gid) return differs('owner', `${uid}:${gid}`, `${entry.uid}:${entry.gid}`);
  if (entry.type === 'symlink' && header.linkname !== entry.linkTarget) return differs('link target', header.linkname, entry.linkTarget);
  if (entry.type === 'hardlink' && pathOfMember(header.linkname ?? '') !== entry.linkTarget) return differs('link target', pathOfMember(header.linkname ?? ''), entry.linkTarget);
  if (entry.device && (entry.device.major !== header.devmajor || entry.device.minor !== header.devminor)) return differs('device number', `${header.devmajor}:${header.devminor}`, `${entry.device.major}:${entry.device.minor}`);
  return undefined;
}

/** The reason for an index line that no member matched. */
function noMemberFor(copy: ImageCopy, entry: IndexEntry): string {
  const fragment = copy.fragments.find((f) => f.number === entry.fragment);
  return `the index places it in ${fragment ? fragmentLabel(fragment) : `fragment ${entry.fragment}`} at byte ${entry.offset}, where there is no such member`;
}

function mediaReadError(label: string, error: unknown): CairnError {
  if (error instanceof CairnError) return error;
  return new CairnError(StatusCode.MEDIA_READ_ERROR, `cannot read ${label}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}
