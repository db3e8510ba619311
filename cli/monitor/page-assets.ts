import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot, runningFromBuild } from '../package-root.ts';

/** The page's files as the server hands them out: name → content type and bytes. */
export type PageAssets = Map<string, { type: string; body: Buffer }>;

/** The page's entry module and style sheet, relative to the package root. */
export const PAGE_ENTRY = 'cli/monitor/page/main.ts';
export const PAGE_CSS = 'cli/monitor/page/monitor.css';
/** Where `npm run build` puts the bundled page (beside dist/cairn.js). */
export const PAGE_DIST = 'dist/monitor';

/** The one HTML document: no inline script or style, so the Content-Security-Policy can forbid both. */
const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cairn activity monitor</title>
<link rel="stylesheet" href="/monitor.css">
<script type="module" src="/monitor.js"></script>
</head>
<body><div id="app"></div></body>
</html>
`;

/**
 * Bundles the page with esbuild: Preact and the page's modules into one
 * browser ESM file (no CDN, nothing fetched at run time). Used by
 * `npm run build` (into dist/monitor/) and, when that build is missing (a
 * fresh clone run through tsx), by the server on its first request.
 * esbuild is imported here, on demand: it is a build tool, not something
 * every `cairn` command loads.
 */
export async function bundlePage(root = packageRoot): Promise<{ js: string; inputs: string[] }> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [PAGE_ENTRY],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const js = result.outputFiles[0]?.text;
  if (js === undefined) throw new Error('monitor page: esbuild wrote no bundle');
  return { js, inputs: Object.keys(result.metafile.inputs) };
}

/**
 * The page's files: the build's (dist/monitor/) when this process runs the
 * build, else a bundle made now from the sources (a stale dist/ is not
 * served beside newer code). The CSS is a plain file, served as is.
 */
export async function loadPageAssets(root = packageRoot, fromDist = runningFromBuild): Promise<PageAssets> {
  const built = join(root, PAGE_DIST);
  const fromBuild = fromDist && existsSync(join(built, 'monitor.js')) && existsSync(join(built, 'monitor.css'));
  const js = fromBuild ? readFileSync(join(built, 'monitor.js')) : Buffer.from((await bundlePage(root)).js);
  const css = readFileSync(fromBuild ? join(built, 'monitor.css') : join(root, PAGE_CSS));
  return new Map([
    ['/', { type: 'text/html; charset=utf-8', body: Buffer.from(INDEX_HTML) }],
    ['/monitor.js', { type: 'text/javascript; charset=utf-8', body: js }],
    ['/monitor.css', { type: 'text/css; charset=utf-8', body: css }],
  ]);
}
