import { fileURLToPath } from 'node:url';

/**
 * The package root (where package.json, cli/ and dist/ are). This module sits
 * one folder below the root in the sources (cli/) and in the build (dist/),
 * which is why it, and not a module deeper down, resolves it from its own URL
 * (scripts/build.ts refuses a deeper module that does).
 */
export const packageRoot: string = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

/**
 * Whether this process runs the build (dist/, which bin/cairn.js picks when
 * its manifest matches the sources) rather than the sources through tsx: only
 * then is dist/monitor/ the page that goes with the running code.
 */
export const runningFromBuild: boolean = /[\\/]dist[\\/][^\\/]+$/.test(fileURLToPath(import.meta.url));
