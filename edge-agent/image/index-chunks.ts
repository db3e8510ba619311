import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * The index's chunk table (docs/image-format.md, "File index"): the gzip
 * index is a series of gzip members, each holding whole lines, so one
 * member can be read by range and decompressed on its own while the file
 * stays one gzip stream for `zcat` and whole-file readers. Each chunk
 * records where it is, its sha256, and the first and last path it holds;
 * within a chunk the paths grow in walk order (`comparePaths`), so a path
 * can only be in the chunks whose [first, last] holds it. The table is in
 * the manifest, and the catalog holds its sha256 (`indexChunksSha256`),
 * which makes every chunk's sha256 as trustworthy as the catalog itself.
 */
export const IndexChunk = z
  .object({
    /** Byte offset of the chunk's gzip member in the index object. */
    offset: z.number().int().min(0),
    bytes: z.number().int().positive(),
    /** Index lines in the chunk. */
    entries: z.number().int().positive(),
    /** sha256 of the chunk's stored (compressed) bytes. */
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    first: z.string(),
    last: z.string(),
    /**
     * The first member after this chunk (the next line with a fragment),
     * absent when there is none: where the chunk's last member in a
     * fragment ends, for a ranged read that does not read the next chunk.
     */
    next: z.object({ fragment: z.number().int().positive(), offset: z.number().int().min(0) }).strict().optional(),
  })
  .strict();
export type IndexChunk = z.output<typeof IndexChunk>;

export const IndexChunkTable = z.array(IndexChunk).min(1);
export type IndexChunkTable = z.output<typeof IndexChunkTable>;

/**
 * The sha256 the catalog keeps for a chunk table: of its JSON with the keys
 * in a fixed order, so the value does not depend on how the manifest was
 * formatted or parsed.
 */
export function chunkTableSha256(chunks: IndexChunkTable): string {
  const canonical = chunks.map((c) => ({
    offset: c.offset,
    bytes: c.bytes,
    entries: c.entries,
    sha256: c.sha256,
    first: c.first,
    last: c.last,
    ...(c.next ? { next: { fragment: c.next.fragment, offset: c.next.offset } } : {}),
  }));
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}

const SLASH = 0x2f;

/**
 * The walk's order of client paths (edge-agent/reader/walker.ts: depth
 * first, each directory's names sorted by UTF-16 code unit): segment by
 * segment, so `/a/b` < `/a-c` < `/a.d` even though `-` and `.` sort before
 * `/` as characters. Names hold no `/` and no NUL, so comparing with `/`
 * counted as the lowest character is the same.
 */
export function comparePaths(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x === SLASH) return -1;
    if (y === SLASH) return 1;
    return x - y;
  }
  return a.length - b.length;
}

/** Whether `path` is `root` or lies under it (`root` a client path, `/` for everything). */
function atOrUnder(path: string, root: string): boolean {
  return root === '/' || path === root || path.startsWith(`${root}/`);
}

/**
 * Whether a chunk can hold a line at or under `root`: the subtree of `root`
 * is one interval in walk order, starting at `root`, and a chunk's lines lie
 * between its first and last path.
 */
export function chunkMayHoldSubtree(chunk: IndexChunk, root: string): boolean {
  if (root === '/') return true;
  if (comparePaths(chunk.last, root) < 0) return false;
  return comparePaths(chunk.first, root) <= 0 || atOrUnder(chunk.first, root);
}

/** Whether a chunk can hold the line of exactly `path`. */
export function chunkMayHoldPath(chunk: IndexChunk, path: string): boolean {
  return comparePaths(chunk.first, path) <= 0 && comparePaths(path, chunk.last) <= 0;
}
