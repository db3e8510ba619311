/**
 * `npm run bench [-- ARGS]`: the agent's benchmarks one after the other,
 * each given the same ARGS (each takes the flags it knows and ignores the
 * others): agent-memory.ts (memory bound, throughput to a disk unit), then
 * tape-write.ts (file-tape throughput next to tar), then snapshot.ts (btrfs
 * snapshot create and delete time), then offhost.ts (the offhost path's
 * throughput over the file-level path's; skipped without root and loop
 * devices). With `--json`, one object `{ agentMemory, tapeWrite, snapshot,
 * offhost }`. Exits with the first non-zero status.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const json = args.includes('--json');
const benches = { agentMemory: 'agent-memory.ts', tapeWrite: 'tape-write.ts', snapshot: 'snapshot.ts', offhost: 'offhost.ts' };
const reports: Record<string, unknown> = {};
let status = 0;
for (const [name, file] of Object.entries(benches)) {
  const run = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(file, import.meta.url)), ...args], { stdio: ['ignore', json ? 'pipe' : 'inherit', 'inherit'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (json) reports[name] = run.status === 0 && run.stdout.trim() !== '' ? JSON.parse(run.stdout) : { status: run.status };
  if (status === 0 && run.status !== 0) status = run.status ?? 1;
}
if (json) process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
process.exitCode = status;
