// Starts a program from its compiled bundle in dist/ when that bundle was
// built from the sources as they are now, else from the TypeScript sources
// through tsx. A stale bundle is never run: a developer who edits a file, or
// a test run after an edit, gets the sources, only slower.
//
// "Built from the sources as they are now": dist/build-manifest.json, written
// last by scripts/build.ts, lists every file the bundle was built from with
// its size, mtime and SHA-256. A file whose size and mtime match is taken as
// unchanged (a stat, microseconds); one whose mtime moved (a checkout, a
// touch) is hashed and still counts as unchanged if its content is; a file
// gone or changed makes the bundle stale. Checking the ~130 inputs costs
// about a millisecond.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { URL, fileURLToPath, pathToFileURL } from 'node:url';

/** Bumped when the manifest's shape changes: a manifest of another format is stale. */
export const MANIFEST_FORMAT = 1;
export const MANIFEST_NAME = 'build-manifest.json';

/** Size, mtime and SHA-256 of one input file, as the manifest records it. */
export function fingerprint(path) {
  const { size, mtimeMs } = statSync(path);
  return { size, mtimeMs, sha256: createHash('sha256').update(readFileSync(path)).digest('hex') };
}

function unchanged(path, recorded) {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return false;
  }
  if (stat.size !== recorded.size) return false;
  if (stat.mtimeMs === recorded.mtimeMs) return true;
  return createHash('sha256').update(readFileSync(path)).digest('hex') === recorded.sha256;
}

/**
 * Whether dist/ under `root` holds a bundle built from the current sources:
 * `{ fresh: true }` or `{ fresh: false, reason }`.
 */
export function buildState(root, dist = join(root, 'dist')) {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(dist, MANIFEST_NAME), 'utf8'));
  } catch {
    return { fresh: false, reason: 'no build (npm run build)' };
  }
  if (manifest?.format !== MANIFEST_FORMAT || typeof manifest.inputs !== 'object') return { fresh: false, reason: 'the build manifest is of another format' };
  for (const [file, recorded] of Object.entries(manifest.inputs)) {
    if (!unchanged(join(root, file), recorded)) return { fresh: false, reason: `${file} changed since the build` };
  }
  return { fresh: true };
}

/**
 * The module of a program: `dist/<bundle>` when it is fresh and
 * CAIRN_FROM_SOURCE is not 1, else the sources through tsx (`source` imports
 * the entry module; it is called after tsx is registered).
 */
export async function load(binUrl, bundle, source) {
  const root = fileURLToPath(new URL('..', binUrl));
  if (process.env.CAIRN_FROM_SOURCE !== '1' && buildState(root).fresh) return import(pathToFileURL(join(root, 'dist', bundle)).href);
  const { register } = await import('tsx/esm/api');
  register();
  return source();
}
