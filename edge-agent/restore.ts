import { createHash } from 'node:crypto';
import { CairnError } from '#core/errors.ts';
import type { Fragment } from '#core/model/image.ts';
import type { IndexEntry } from '#core/model/task.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { readIndex } from './index-reader.ts';
import { readManifest, type ImageManifest } from './manifest.ts';
import { pathSelector } from './safe-path.ts';
import { TarExtractor, type ExtractMember, type MemberDecision, type RestoreProgress } from './tar-extractor.ts';
import { pathOfMember } from './tar-member.ts';

export interface RestoreOptions {
  store: ObjectStore;
  manifestKey: string;
  /** Members are written under it (`/home/a/x` → `<targetDir>/home/a/x`). Created if missing. */
  targetDir: string;
  /** Client paths to restore, with everything under them; all when absent. */
  paths?: string[];
  /** Exactly which client paths to restore (overrides `paths`): a point-in-time restore's picks from an earlier image. */
  select?: (clientPath: string) => boolean;
  onProgress?: (progress: RestoreProgress) => void;
  signal?: AbortSignal;
}

export interface RestoreResult {
  /** Members restored (files, directories, links). */
  files: number;
  /** Bytes of file content written. */
  bytes: number;
  /** Members not restored because they would have escaped the target, as `name: reason`. */
  refused: string[];
  /** Files whose content matched the sha256 in the index. */
  verified: number;
}

/**
 * Restores an image (or the `paths` of it) under `targetDir`.
 *
 * Reads the manifest, then streams the fragments in order through one
 * TarExtractor, walking the index alongside: fragments and index are both in
 * walk order, so each member is matched with its index line with nothing
 * held in memory, and every file is checked against its sha256. With
 * `paths`, one pass over the index finds the fragments that hold them and
 * only those are read; a selected hard link brings the file it links to.
 *
 * Rejects with a CairnError: 232 (CORRUPT_IMAGE) when a file, a fragment or
 * the index fails its checksum or the fragments and the index disagree (the
 * rest of the image is still restored first, and details name every bad
 * path); 227 when the manifest is missing; 85 when the store cannot be read;
 * 174 when the target cannot be written; 150 when the signal aborts.
 */
export async function restoreImage(options: RestoreOptions): Promise<RestoreResult> {
  const { store } = options;
  const manifest = await readManifest(store, options.manifestKey);
  const selected = options.select ?? (options.paths === undefined ? undefined : pathSelector(options.paths));
  const plan = selected === undefined ? { fragments: new Set(manifest.fragments.map((f) => f.number)), linkTargets: new Set<string>() } : await planSelection(store, manifest, selected);
  const wanted = (clientPath: string): boolean => selected === undefined || selected(clientPath) || plan.linkTargets.has(clientPath);

  const extractor = await TarExtractor.open({ targetDir: options.targetDir, onProgress: options.onProgress, signal: options.signal });
  const index = new IndexCursor(readIndex(store, manifest.indexKey, manifest.indexSha256));
  const badFragments: string[] = [];
  try {
    for (const fragment of manifest.fragments) {
      if (!plan.fragments.has(fragment.number)) continue;
      const body = verifiedFragment(await readFragment(store, fragment), fragment, (problem) => badFragments.push(problem));
      await extractor.extract(body, async (member) => {
        const entry = await index.expect(member, fragment.number);
        return decisionFor(entry, wanted);
      });
    }
    // Reading the index to its end is what verifies its checksum.
    await index.finish();
  } finally {
    await index.close();
  }
  const result = await extractor.finish();
  const corrupt = [...result.corrupt, ...badFragments];
  if (corrupt.length > 0) {
    throw new CairnError(StatusCode.CORRUPT_IMAGE, `image ${manifest.backupId} is corrupt: ${corrupt[0]}`, { details: corrupt });
  }
  return { files: result.files, bytes: result.bytes, refused: result.refused, verified: result.verified };
}

function decisionFor(entry: IndexEntry, wanted: (clientPath: string) => boolean): MemberDecision {
  if (!wanted(entry.path)) return { restore: false };
  return entry.sha256 === undefined ? { restore: true } : { restore: true, sha256: entry.sha256 };
}

/** The fragments that hold the selected paths, and the files selected hard links point at. */
async function planSelection(store: ObjectStore, manifest: ImageManifest, selected: (clientPath: string) => boolean): Promise<{ fragments: Set<number>; linkTargets: Set<string> }> {
  const fragments = new Set<number>();
  const linkTargets = new Set<string>();
  for await (const entry of readIndex(store, manifest.indexKey, manifest.indexSha256)) {
    if (!selected(entry.path)) continue;
    fragments.add(entry.fragment);
    if (entry.type === 'hardlink' && entry.linkTarget !== undefined && !selected(entry.linkTarget)) linkTargets.add(entry.linkTarget);
  }
  if (linkTargets.size > 0) {
    // A hard link's file comes earlier in walk order, so a second pass finds its fragment.
    for await (const entry of readIndex(store, manifest.indexKey, manifest.indexSha256)) {
      if (linkTargets.has(entry.path)) fragments.add(entry.fragment);
    }
  }
  return { fragments, linkTargets };
}

const memberTypeOf: Record<IndexEntry['type'], string> = { file: 'file', directory: 'directory', symlink: 'symlink', hardlink: 'link' };

/** Walks the index in step with the fragments' members. */
class IndexCursor {
  readonly #entries: AsyncGenerator<IndexEntry, void, undefined>;

  constructor(entries: AsyncGenerator<IndexEntry, void, undefined>) {
    this.#entries = entries;
  }

  /** The index line of the next member of `fragment`, skipping lines of fragments not being read. */
  async expect(member: ExtractMember, fragment: number): Promise<IndexEntry> {
    const clientPath = pathOfMember(member.name);
    for (;;) {
      const step = await this.#entries.next();
      if (step.done) throw corrupt(`fragment ${fragment} holds ${clientPath}, which the index does not list`);
      const entry = step.value;
      if (entry.fragment < fragment) continue;
      if (entry.fragment !== fragment || entry.path !== clientPath) throw corrupt(`fragment ${fragment} holds ${clientPath} where the index lists ${entry.path} in fragment ${entry.fragment}`);
      if (memberTypeOf[entry.type] !== member.header.type || (entry.type === 'file' && entry.size !== member.header.size)) {
        throw corrupt(`${clientPath}: the fragment holds a ${member.header.type} of ${member.header.size} bytes, the index a ${entry.type} of ${entry.size}`);
      }
      return entry;
    }
  }

  async finish(): Promise<void> {
    for (;;) if ((await this.#entries.next()).done) return;
  }

  async close(): Promise<void> {
    await this.#entries.return(undefined);
  }
}

async function readFragment(store: ObjectStore, fragment: Fragment): Promise<AsyncIterable<Uint8Array>> {
  try {
    return await store.get(fragment.key);
  } catch (error) {
    if (error instanceof CairnError) throw error;
    throw new CairnError(StatusCode.MEDIA_READ_ERROR, `cannot read fragment ${fragment.number} (${fragment.key}): ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/** Passes a fragment through, and at its end reports a size or sha256 that differs from the manifest. */
async function* verifiedFragment(body: AsyncIterable<Uint8Array>, fragment: Fragment, onMismatch: (problem: string) => void): AsyncGenerator<Uint8Array, void, undefined> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of body) {
    hash.update(chunk);
    bytes += chunk.byteLength;
    yield chunk;
  }
  const sha256 = hash.digest('hex');
  if (sha256 !== fragment.sha256 || bytes !== fragment.bytes) {
    onMismatch(`fragment ${fragment.number} (${fragment.key}): ${bytes} bytes with sha256 ${sha256}; the manifest says ${fragment.bytes} bytes with sha256 ${fragment.sha256}`);
  }
}

function corrupt(message: string): CairnError {
  return new CairnError(StatusCode.CORRUPT_IMAGE, message);
}
