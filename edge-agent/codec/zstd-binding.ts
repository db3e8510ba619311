import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type * as ZstdBinding from 'zstd-napi/binding.js';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';

/**
 * zstd-napi, loaded on first use rather than imported.
 *
 * The agent ships as one bundled file (scripts/build.ts, `cairn-agent.mjs`)
 * with every JavaScript dependency inlined; a native addon cannot be inlined,
 * so zstd-napi stays external and is looked up next to the bundle (a
 * `node_modules/zstd-napi` beside or above the file) only when a storage unit
 * with `compression: zstd` is written or read. A host without it runs every
 * uncompressed unit, and a compressed one fails with status 219 saying what
 * to install, instead of the whole agent failing to start.
 *
 * Why not Node's own zstd (`zlib.zstdCompressSync`, Node ≥ 22.15 / 23.8):
 * Cairn supports Node 20, the compressing workers use zstd-napi's CCtx
 * parameters (content size and checksum in every frame) and decompression
 * relies on ZSTD_decompressDCtx into an exact-size buffer (a frame claiming
 * more is refused, see zstd-fragment-source.ts); moving both to zlib is a
 * change of its own, to be made once Node 22 is the minimum.
 */
const SPECIFIER = 'zstd-napi/binding.js';

function missing(error: unknown): CairnError {
  return new CairnError(
    StatusCode.STORAGE_UNIT_UNAVAILABLE,
    `this storage unit compresses with zstd, and this agent cannot load the native package zstd-napi (${error instanceof Error ? error.message.split('\n')[0] : String(error)}): install it next to the agent (npm install zstd-napi@0.0.13 in the agent's directory) or use an uncompressed storage unit`,
    { cause: error },
  );
}

let binding: typeof ZstdBinding | undefined;

/** The loaded binding; status 219 naming the package when it cannot be loaded. */
export function zstdBinding(): typeof ZstdBinding {
  if (binding) return binding;
  const path = zstdBindingPath();
  try {
    // Required by its resolved path: a package resolved as ESM resolves it (import.meta.resolve), CommonJS loads the addon.
    binding = createRequire(path)(path) as typeof ZstdBinding;
  } catch (error) {
    throw missing(error);
  }
  return binding;
}

/** The binding's file, for worker threads that load it themselves; status 219 when it cannot be found. */
export function zstdBindingPath(): string {
  try {
    // Resolved as a package (not a path next to this file), so it works from the sources and from a bundle alike.
    return fileURLToPath(import.meta.resolve(SPECIFIER));
  } catch (error) {
    throw missing(error);
  }
}
