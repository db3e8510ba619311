/**
 * Runs one timed shell step of `bench:compare` and what it cost: wall time,
 * and the I/O the step's processes did (`/proc/<shell>/io` read after the
 * step's processes were reaped: Linux adds a reaped child's counters to its
 * parent's, so `rchar` is every byte the step read through read(2), page
 * cache hits included), and their CPU time (bash's `times`: the reaped
 * children's user and system time).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, lstatSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

export interface StepCost {
  seconds: number;
  /** Bytes the step's processes read through read(2) (cache hits included). */
  readBytes: number;
  /** CPU seconds (user + system) of the step's processes, every thread: what the step cost the machine, whatever the disk did meanwhile. */
  cpuSeconds: number;
  stdout: string;
}

export function quote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Runs `script` under bash with pipefail; throws with its stderr if it fails. */
export function step(script: string, options: { cwd?: string; env?: NodeJS.ProcessEnv; ioFile: string }): StepCost {
  rmSync(options.ioFile, { force: true });
  const wrapped = `set -o pipefail\n{\n${script}\n}\ns=$?\n{ cat /proc/$$/io; times; } > ${quote(options.ioFile)}\nexit $s`;
  const started = process.hrtime.bigint();
  const run = spawnSync('bash', ['-c', wrapped], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 * 1024 * 1024 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (run.status !== 0) throw new Error(`step failed (exit ${run.status}): ${script}\n${run.stderr.toString().slice(-2000)}`);
  const io = readFileSync(options.ioFile, 'utf8');
  const readBytes = Number(/^rchar: (\d+)/m.exec(io)?.[1] ?? NaN);
  return { seconds, readBytes, cpuSeconds: childrenCpuSeconds(io), stdout: run.stdout.toString() };
}

/** The second line of bash's `times` (the children's `user sys`, as `0m1.234s 0m0.567s`), summed. */
function childrenCpuSeconds(io: string): number {
  const lines = io.split('\n').filter((line) => /^\d+m[\d.]+s \d+m[\d.]+s$/.test(line.trim()));
  const children = lines[1];
  if (!children) return NaN;
  return children
    .trim()
    .split(' ')
    .reduce((sum, field) => {
      const [, minutes, seconds] = /^(\d+)m([\d.]+)s$/.exec(field)!;
      return sum + Number(minutes) * 60 + Number(seconds);
    }, 0);
}

/** Flushes every dirty page first, untimed, so a step does not pay for the one before it. */
export function settle(): void {
  spawnSync('sync');
}

/** Apparent bytes of every file under `root` (what a repository or archive stores). */
export function storedBytes(root: string): number {
  let total = 0;
  const walk = (at: string): void => {
    const stats = lstatSync(at);
    if (stats.isDirectory()) for (const name of readdirSync(at)) walk(path.join(at, name));
    else if (stats.isFile()) total += stats.size;
  };
  walk(root);
  return total;
}

export function commandExists(name: string): boolean {
  return spawnSync('bash', ['-c', `command -v ${quote(name)}`], { stdio: 'ignore' }).status === 0;
}
