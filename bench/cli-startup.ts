// `npm run bench:startup`: how long `cairn images --json` takes on an empty
// home, from the compiled bundle (what `npx cairn` runs after `npm ci`) and
// from the sources through tsx (what runs when dist/ is stale or
// CAIRN_FROM_SOURCE=1), as whole processes: node's start, module loading,
// opening (creating) the SQLite catalog, the janitor, the query, the exit.
// Each run gets a new empty home. Prints min and median of each and their
// ratio; exits 1 when the compiled median is above the goal of issue 8.
//
//   node --import tsx bench/cli-startup.ts [--runs N] [--json]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROGRAMS, build } from '../scripts/build.ts';
import { buildState } from '../bin/launch.js';

const GOAL_SECONDS = 0.2;
const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const bin = join(root, 'bin', 'cairn.js');
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 15;
const json = process.argv.includes('--json');

/** One `cairn images --json` on a new empty home: wall seconds. */
function once(env: NodeJS.ProcessEnv): number {
  const home = mkdtempSync(join(tmpdir(), 'cairn-startup-'));
  try {
    const started = process.hrtime.bigint();
    const result = spawnSync(process.execPath, [bin, '--home', home, 'images', '--json'], { env, encoding: 'utf8' });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (result.status !== 0 || result.stdout.trim() !== '[]') throw new Error(`cairn images failed (exit ${result.status}): ${result.stderr}`);
    return seconds;
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

function summary(times: number[]): { min: number; median: number } {
  const sorted = [...times].sort((a, b) => a - b);
  return { min: sorted[0]!, median: sorted[Math.floor(sorted.length / 2)]! };
}

if (!buildState(root).fresh) await build({ root, entryPoints: PROGRAMS });
const compiledEnv = { ...process.env, CAIRN_FROM_SOURCE: '0' };
const sourceEnv = { ...process.env, CAIRN_FROM_SOURCE: '1' };
// One unmeasured run of each warms the page cache; then they alternate, so a machine that slows down mid-run slows both.
once(compiledEnv);
once(sourceEnv);
const compiled: number[] = [];
const source: number[] = [];
for (let i = 0; i < runs; i++) {
  compiled.push(once(compiledEnv));
  source.push(once(sourceEnv));
}
const result = { runs, goalSeconds: GOAL_SECONDS, compiled: summary(compiled), source: summary(source) };
const ratio = result.source.median / result.compiled.median;
if (json) console.log(JSON.stringify({ ...result, speedup: ratio }, null, 2));
else {
  const s = (x: number): string => `${x.toFixed(3)} s`;
  console.log(`cairn images --json, empty home, ${runs} runs each`);
  console.log(`  compiled (dist/)  min ${s(result.compiled.min)}  median ${s(result.compiled.median)}  (goal ≤ ${GOAL_SECONDS} s)`);
  console.log(`  sources (tsx)     min ${s(result.source.min)}  median ${s(result.source.median)}`);
  console.log(`  compiled is ${ratio.toFixed(1)}× faster`);
}
if (result.compiled.median > GOAL_SECONDS) process.exitCode = 1;
