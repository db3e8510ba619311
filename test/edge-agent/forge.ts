import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { extract as tarExtract, pack as tarPack, type Header } from 'tar-stream';
import { imageKeys } from '#core/ids.ts';
import type { Fragment, Image, ImageCopy } from '#core/model/image.ts';
import type { IndexEntry } from '#core/model/task.ts';
import { readAll, type ObjectStore } from '#core/ports/object-store.ts';
import { fragmentChecksum } from '#agent/image/fragment-digest.ts';
import { encodeManifest, MANIFEST_FORMAT, MANIFEST_FORMAT_VERSION, type ImageManifest } from '#agent/image/manifest.ts';

/*
 * Tools to damage a stored image the way media, bugs or an attacker could,
 * and to "reseal" it (fix the checksums in the manifest and the catalog
 * record) when a test wants only one link of the chain of trust to be wrong.
 */

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** The primary copy, where the tests' images are written and read. */
export function copy1(image: Image): ImageCopy {
  return image.copies[0]!;
}

/** The image with its primary copy changed by `patch`. */
export function withCopy1(image: Image, patch: Partial<ImageCopy>): Image {
  return { ...image, copies: [{ ...copy1(image), ...patch }, ...image.copies.slice(1)] };
}

/** The object key of a fragment on an object store. */
export function keyOf(fragment: Fragment): string {
  if (fragment.location.kind !== 'object') throw new Error(`fragment ${fragment.number} is not an object`);
  return fragment.location.key;
}

export async function objectBytes(store: ObjectStore, key: string): Promise<Buffer> {
  return readAll(await store.get(key));
}

/** The index lines as stored, without checking anything. */
export async function indexLines(store: ObjectStore, image: Image): Promise<IndexEntry[]> {
  const text = gunzipSync(await objectBytes(store, copy1(image).indexKey)).toString('utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as IndexEntry);
}

export async function rewriteManifest(store: ObjectStore, image: Image, edit: (manifest: ImageManifest) => void): Promise<void> {
  const { manifestKey } = copy1(image);
  const manifest = JSON.parse((await objectBytes(store, manifestKey)).toString('utf8')) as ImageManifest;
  edit(manifest);
  await store.put(manifestKey, encodeManifest(manifest));
}

/** Replaces the index with `edit`'s lines; with `reseal` (default) the manifest and the returned catalog record carry its new sha256. */
export async function rewriteIndex(store: ObjectStore, image: Image, edit: (lines: IndexEntry[]) => unknown[], options: { reseal?: boolean } = {}): Promise<Image> {
  const lines = edit(await indexLines(store, image));
  const bytes = gzipSync(Buffer.from(lines.map((l) => `${JSON.stringify(l)}\n`).join('')));
  await store.put(copy1(image).indexKey, bytes);
  if (options.reseal === false) return image;
  const indexSha256 = sha256(bytes);
  // The new index is one gzip member: resealed as an index without a chunk table.
  await rewriteManifest(store, image, (m) => {
    m.indexSha256 = indexSha256;
    m.indexEntries = lines.length;
    delete m.indexChunks;
  });
  const { indexChunksSha256: _dropped, ...copy } = copy1(image);
  return { ...image, copies: [{ ...copy, indexSha256 }, ...image.copies.slice(1)] };
}

/**
 * Replaces fragment `number` with `edit`'s bytes; with `reseal` (default)
 * its size and checksum are fixed in the manifest and the returned catalog
 * record, so only what the edit changed inside the tar is wrong.
 */
export async function rewriteFragment(store: ObjectStore, image: Image, number: number, edit: (bytes: Buffer) => Buffer, options: { reseal?: boolean } = {}): Promise<Image> {
  const fragment = copy1(image).fragments.find((f) => f.number === number)!;
  const bytes = edit(await objectBytes(store, keyOf(fragment)));
  await store.put(keyOf(fragment), bytes);
  if (options.reseal === false) return image;
  // Resealed with the checksum the fragment records (tar-members-1, or stored-bytes for an old image).
  const checksum = fragmentChecksum(fragment);
  checksum.update(bytes);
  const sealed = { ...fragment, bytes: bytes.length, sha256: checksum.digest('hex') };
  const fragments = copy1(image).fragments.map((f) => (f.number === number ? sealed : f));
  const total = fragments.reduce((sum, f) => sum + f.bytes, 0);
  await rewriteManifest(store, image, (m) => {
    m.fragments = fragments;
    m.bytes = total;
  });
  return { ...withCopy1(image, { fragments }), bytes: total };
}

/** Offset of a member's own ustar header: its index offset, past a pax header when there is one. */
export function headerOffset(bytes: Buffer, entry: IndexEntry): number {
  const first = entry.offset;
  if (String.fromCharCode(bytes[first + 156]!) !== 'x') return first;
  const paxSize = parseInt(bytes.subarray(first + 124, first + 136).toString('ascii').replace(/\0.*$/, '').trim(), 8);
  return first + 512 + Math.ceil(paxSize / 512) * 512;
}

/** Rewrites a ustar header's size field and its checksum, as a forger would. */
export function setHeaderSize(bytes: Buffer, offset: number, size: number): void {
  bytes.write(`${size.toString(8).padStart(11, '0')}\0`, offset + 124, 'ascii');
  bytes.fill(0x20, offset + 148, offset + 156);
  let sum = 0;
  for (let i = offset; i < offset + 512; i++) sum += bytes[i]!;
  bytes.write(`${sum.toString(8).padStart(6, '0')}\0 `, offset + 148, 'ascii');
}

export interface ForgedMember {
  name: string;
  type?: 'file' | 'directory';
  content?: string;
  mode?: number;
}

/**
 * A one-fragment image packed by tar-stream from `members`, with an index,
 * a manifest and a catalog record that all agree with it: the tar is the
 * only thing a test has to get wrong.
 */
export async function forgeImage(store: ObjectStore, backupId: string, members: ForgedMember[]): Promise<Image> {
  const client = backupId.slice(0, backupId.lastIndexOf('_'));
  const keys = imageKeys(backupId);
  const mtime = new Date(1_700_000_000_000);
  const pack = tarPack();
  const packed = readAll(pack as AsyncIterable<Uint8Array>);
  for (const m of members) {
    const type = m.type ?? 'file';
    const header = { name: m.name, type, mode: m.mode ?? (type === 'directory' ? 0o755 : 0o644), uid: 0, gid: 0, mtime };
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null): void => (error ? reject(error) : resolve());
      if (type === 'file') pack.entry(header, m.content ?? '', done);
      else pack.entry(header, done);
    });
  }
  pack.finalize();
  const tar = await packed;
  await store.put(keys.fragment(1), tar);

  const offsets = await memberOffsets(tar);
  const lines: IndexEntry[] = members.map((m, i) => {
    const type = m.type ?? 'file';
    const content = Buffer.from(m.content ?? '');
    const entry: IndexEntry = {
      path: `/${m.name.replace(/\/+$/, '')}`,
      type,
      mode: m.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: 0,
      gid: 0,
      size: type === 'file' ? content.length : 0,
      mtimeMs: mtime.getTime(),
      fragment: 1,
      offset: offsets[i]!,
    };
    if (type === 'file') entry.sha256 = sha256(content);
    return entry;
  });
  const index = gzipSync(Buffer.from(lines.map((l) => `${JSON.stringify(l)}\n`).join('')));
  await store.put(keys.index, index);

  const fragments: Fragment[] = [{ number: 1, bytes: tar.length, sha256: sha256(tar), location: { kind: 'object', key: keys.fragment(1) } }];
  const createdAt = new Date(Number(backupId.slice(backupId.lastIndexOf('_') + 1)) * 1000).toISOString();
  const files = lines.filter((l) => l.type === 'file').length;
  const manifest: ImageManifest = {
    format: MANIFEST_FORMAT,
    formatVersion: MANIFEST_FORMAT_VERSION,
    backupId,
    copyNumber: 1,
    jobId: 1,
    client,
    policy: 'forged',
    schedule: 'full',
    level: 'full',
    storageUnit: 'disk1',
    createdAt,
    completedAt: createdAt,
    statusCode: 0,
    selections: ['/'],
    exclude: [],
    fragmentSizeBytes: 1024 * 1024,
    fragments,
    fileCount: lines.length,
    bytes: tar.length,
    dataBytes: lines.reduce((sum, l) => sum + l.size, 0),
    indexKey: keys.index,
    indexSha256: sha256(index),
    indexEntries: lines.length,
    unreadable: [],
    unreadableCount: 0,
    counts: { files, directories: lines.length - files, symlinks: 0, hardlinks: 0, changed: 0, unreadable: 0, excluded: 0, skipped: 0, unchanged: 0, specials: 0 },
    buffers: { count: 4, sizeBytes: 65536, writerWaits: 0, readerWaits: 0 },
  };
  await store.put(keys.manifest, encodeManifest(manifest));
  return {
    backupId,
    client,
    policy: 'forged',
    schedule: 'full',
    level: 'full',
    jobId: 1,
    statusCode: 0,
    fileCount: lines.length,
    bytes: tar.length,
    createdAt,
    expiresAt: new Date(Date.parse(createdAt) + 86_400_000).toISOString(),
    state: 'ACTIVE',
    copies: [{ copyNumber: 1, storageUnit: 'disk1', fragments, indexKey: keys.index, indexSha256: manifest.indexSha256, manifestKey: keys.manifest }],
  };
}

/** The offset of each member's first header, in archive order (as the index records it). */
async function memberOffsets(tar: Buffer): Promise<number[]> {
  const extract = tarExtract();
  const headers: Array<{ header: Header; offset: number }> = [];
  const done = (async () => {
    for await (const entry of extract) {
      headers.push({ header: entry.header, offset: entry.offset });
      entry.resume();
    }
  })();
  extract.end(tar);
  await done;
  // A member's first header is its pax header when it has one: right after the previous member's data.
  let end = 0;
  return headers.map(({ header, offset }) => {
    const first = end;
    end = offset + 512 + Math.ceil((header.type === 'directory' ? 0 : header.size) / 512) * 512;
    return first;
  });
}
