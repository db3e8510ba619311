/**
 * Offhost backup throughput as a ratio to the file-level path (issue 11):
 *
 *   npm run bench:offhost -- [--mib 256] [--runs 5] [--drop-caches] [--json] [--keep]
 *
 * Needs root, loop devices, mkfs.ext4 and filefrag; prints `skipped: reason`
 * and exits 0 otherwise. Makes an ext4 file system (inline_data) in a file
 * under /tmp/cairn-bench-offhost, on a loop device, and writes a seeded
 * tree of about `--mib` MiB: 2,000 small files (a quarter small enough to
 * be inline), 40 files of 1–4 MiB, two files written in turns (fragmented),
 * a sparse file and big files for the rest. Then sync and remount read-only
 * (the frozen image), and in rounds, alternating which goes first:
 *
 *   A. file level: `runBackup` of the tree into a disk storage unit, in this process;
 *   B. offhost: `runOffhostBackup`: the extent map (filefrag, getfattr) and
 *      the data mover as a separate process (`cairn-agent mover`: its own
 *      entry, dist/cairn-mover.js when the build is fresh, else the sources
 *      through tsx) writing the same image into another disk unit.
 *
 * The ratio is B's throughput over A's (A's seconds / B's), per round;
 * median, min and max are printed. B is timed whole (map, the mover's
 * start-up, its backup) and, beside it, as the map plus the
 * mover's own backup (its result's elapsedMs: what a mover already running
 * would take). After the first round, untimed, both images' indexes must
 * list the same paths with the same sha256s, or the bench exits 1.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { runBackup } from '#agent/image/backup.ts';
import { readIndex } from '#agent/image/index-reader.ts';
import { runOffhostBackup } from '#agent/offhost/offhost-backup.ts';
import { mapFrozenImage } from '#agent/offhost/mapper.ts';
import { excludeMatcher } from '#agent/reader/exclude.ts';
import { BackupTask, type BackupTaskResult } from '#core/model/task.ts';
import type { TaskReporter } from '#core/ports/task-reporter.ts';

const MiB = 1024 * 1024;
const ROOT = '/tmp/cairn-bench-offhost';
const REPO = fileURLToPath(new URL('..', import.meta.url));

interface Options {
  mib: number;
  runs: number;
  dropCaches: boolean;
  json: boolean;
  keep: boolean;
}

function parseArgs(argv: string[]): Options {
  const value = (name: string): string | undefined => {
    const at = argv.indexOf(name);
    return at === -1 ? undefined : argv[at + 1];
  };
  const mib = Number(value('--mib') ?? 256);
  if (!(Number.isInteger(mib) && mib >= 16 && mib <= 8192)) throw new Error('--mib takes a whole number from 16 to 8192');
  const runs = Number(value('--runs') ?? 5);
  if (!(Number.isInteger(runs) && runs >= 1 && runs <= 50)) throw new Error('--runs takes a whole number from 1 to 50');
  return { mib, runs, dropCaches: argv.includes('--drop-caches'), json: argv.includes('--json'), keep: argv.includes('--keep') };
}

function missing(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (loop devices, mount)';
  for (const tool of ['losetup', 'mkfs.ext4', 'filefrag', 'findmnt', 'blockdev']) if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is missing`;
  if (!existsSync('/dev/loop-control')) return 'no loop devices';
  return undefined;
}

/** Seeded content: a xorshift stream, so runs compare the same bytes and nothing compresses or repeats. */
function content(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = (seed * 2654435761 + 1) >>> 0 || 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeInt32LE(x | 0, i);
  }
  out.fill(7, size - (size % 4));
  return out;
}

function buildTree(root: string, mib: number): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const file = (relative: string, data: Buffer): void => {
    const absolute = path.join(root, relative);
    mkdirSync(path.dirname(absolute), { recursive: true });
    writeFileSync(absolute, data);
    files += 1;
    bytes += data.byteLength;
  };
  for (let i = 0; i < 2000; i++) file(`small/d${i % 20}/f${i}`, content(i % 4 === 0 ? 40 : 1000 + ((i * 7919) % 16_000), i));
  for (let i = 0; i < 40; i++) file(`medium/m${i}`, content(MiB + ((i * 104_729) % (3 * MiB)), 10_000 + i));
  // Two files written in turns, each piece synced: fragmented.
  mkdirSync(path.join(root, 'frag'), { recursive: true });
  const a = openSync(path.join(root, 'frag/a'), 'w');
  const b = openSync(path.join(root, 'frag/b'), 'w');
  for (let i = 0; i < 64; i++) {
    writeSync(a, content(64 * 1024, 20_000 + i));
    fsyncSync(a);
    writeSync(b, content(64 * 1024, 30_000 + i));
    fsyncSync(b);
  }
  closeSync(a);
  closeSync(b);
  files += 2;
  bytes += 8 * MiB;
  // A sparse file: 64 MiB with 4 MiB of data.
  const sparse = openSync(path.join(root, 'sparse'), 'w');
  for (let k = 0; k < 4; k++) writeSync(sparse, content(MiB, 40_000 + k), 0, MiB, k * 16 * MiB);
  closeSync(sparse);
  execFileSync('truncate', ['-s', String(64 * MiB), path.join(root, 'sparse')]);
  files += 1;
  bytes += 4 * MiB;
  for (let i = 0; bytes < mib * MiB; i++) file(`big/b${i}`, content(Math.min(32 * MiB, mib * MiB - bytes), 50_000 + i));
  return { files, bytes };
}

const quiet: TaskReporter = { progress: async () => undefined, heartbeat: async () => undefined };

function task(unit: string, selection: string, n: number): BackupTask {
  return BackupTask.parse({
    jobId: n,
    backupId: `bench_${1_700_000_000 + n}`,
    client: 'bench',
    policy: 'offhost',
    schedule: 'full',
    level: 'full',
    selections: [selection],
    storageUnit: { name: 'disk', kind: 'disk', path: unit, fragmentSizeBytes: 1024 * MiB },
    buffers: { count: 16, sizeBytes: 256 * 1024 },
  });
}

function settle(dropCaches: boolean): void {
  execFileSync('sync');
  if (dropCaches) writeFileSync('/proc/sys/vm/drop_caches', '3');
}

async function sameImages(a: { unit: string; result: BackupTaskResult }, b: { unit: string; result: BackupTaskResult }): Promise<string | undefined> {
  const lines = async (side: typeof a): Promise<Map<string, string>> => {
    const out = new Map<string, string>();
    for await (const entry of readIndex(new FsObjectStore(side.unit), side.result.indexKey, side.result.indexSha256)) out.set(entry.path, `${entry.type} ${entry.size} ${entry.sha256 ?? ''}`);
    return out;
  };
  const [x, y] = await Promise.all([lines(a), lines(b)]);
  if (x.size !== y.size) return `${x.size} index lines against ${y.size}`;
  for (const [p, line] of x) if (y.get(p) !== line) return `${p}: ${line} against ${y.get(p) ?? 'absent'}`;
  return undefined;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((p, q) => p - q);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const summary = (xs: number[]): { median: number; min: number; max: number } => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const skip = missing();
  if (skip) {
    process.stdout.write(options.json ? `${JSON.stringify({ skipped: skip })}\n` : `skipped: ${skip}\n`);
    return;
  }
  const dir = path.join(ROOT, String(process.pid));
  const image = path.join(dir, 'ext4.img');
  const mount = path.join(dir, 'mnt');
  const tree = path.join(mount, 'tree');
  let device = '';
  let mounted = false;
  try {
    mkdirSync(mount, { recursive: true });
    execFileSync('truncate', ['-s', `${Math.ceil(options.mib * 1.5 + 256)}M`, image]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-O', 'inline_data', '-b', '4096', '-I', '256', image]);
    device = execFileSync('losetup', ['-f', '--show', image], { encoding: 'utf8' }).trim();
    execFileSync('mount', [device, mount]);
    mounted = true;
    const dataset = buildTree(tree, options.mib);
    execFileSync('sync', ['-f', mount]);
    execFileSync('mount', ['-o', 'remount,ro', mount]);

    const rounds: Array<{ fileSeconds: number; offhostSeconds: number; offhostBackupSeconds: number; mapSeconds: number; ratio: number; ratioBackupOnly: number; offhost: BackupTaskResult['offhost']; fileTimes: BackupTaskResult['times']; moverTimes: BackupTaskResult['times'] }> = [];
    for (let round = 0; round <= options.runs; round++) {
      const units = { file: path.join(dir, `unit-file-${round}`), offhost: path.join(dir, `unit-offhost-${round}`) };
      let file: { seconds: number; result: BackupTaskResult } | undefined;
      let off: { seconds: number; mapSeconds: number; result: BackupTaskResult } | undefined;
      const runFile = async (): Promise<void> => {
        settle(options.dropCaches);
        const started = process.hrtime.bigint();
        const result = await runBackup(task(units.file, tree, round * 2 + 1), { store: new FsObjectStore(units.file), reporter: quiet, now: () => new Date() });
        file = { seconds: Number(process.hrtime.bigint() - started) / 1e9, result };
      };
      const runOffhost = async (): Promise<void> => {
        settle(options.dropCaches);
        const started = process.hrtime.bigint();
        const { result } = await runOffhostBackup({
          task: task(units.offhost, tree, round * 2 + 2),
          readRoot: mount,
          device,
          workDir: path.join(dir, 'work'),
          reporter: quiet,
          // bin/cairn-agent.js runs the dist/ bundle when it is fresh (npm run build), else the sources through tsx.
          mover: { command: [process.execPath, path.join(REPO, 'bin/cairn-agent.js'), 'mover'] },
        });
        // The map's own time is measured apart below; the mover's backup is its result's elapsedMs.
        off = { seconds: Number(process.hrtime.bigint() - started) / 1e9, mapSeconds: Number.NaN, result };
      };
      const order = round % 2 === 0 ? [runFile, runOffhost] : [runOffhost, runFile];
      for (const run of order) await run();
      // The map alone, once more, to report its share of B.
      settle(options.dropCaches);
      const mapStarted = process.hrtime.bigint();
      await mapFrozenImage({ selections: [tree], exclude: excludeMatcher([]), readRoot: mount, device, out: path.join(dir, 'map.ndjson') });
      off!.mapSeconds = Number(process.hrtime.bigint() - mapStarted) / 1e9;
      if (round === 0) {
        const differs = await sameImages({ unit: units.file, result: file!.result }, { unit: units.offhost, result: off!.result });
        if (differs) throw new Error(`the offhost image differs from the file-level one: ${differs}`);
      }
      rmSync(units.file, { recursive: true, force: true });
      rmSync(units.offhost, { recursive: true, force: true });
      if (round === 0) continue; // warm-up
      const backupOnly = off!.mapSeconds + off!.result.elapsedMs / 1000;
      rounds.push({ fileSeconds: file!.seconds, offhostSeconds: off!.seconds, offhostBackupSeconds: backupOnly, mapSeconds: off!.mapSeconds, ratio: file!.seconds / off!.seconds, ratioBackupOnly: file!.seconds / backupOnly, offhost: off!.result.offhost, fileTimes: file!.result.times, moverTimes: off!.result.times });
    }
    const report = {
      dataset: { ...dataset, mib: dataset.bytes / MiB, fileSystem: 'ext4 (inline_data) on a loop device', cache: options.dropCaches ? 'dropped before every run' : 'warm' },
      runs: options.runs,
      fileLevelSeconds: summary(rounds.map((r) => r.fileSeconds)),
      offhostSeconds: summary(rounds.map((r) => r.offhostSeconds)),
      offhostMapPlusMoverBackupSeconds: summary(rounds.map((r) => r.offhostBackupSeconds)),
      mapSeconds: summary(rounds.map((r) => r.mapSeconds)),
      ratio: summary(rounds.map((r) => r.ratio)),
      ratioWithoutMoverStartup: summary(rounds.map((r) => r.ratioBackupOnly)),
      offhost: rounds.at(-1)?.offhost,
      rounds,
    };
    if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else {
      const f = (s: { median: number; min: number; max: number }, digits = 2): string => `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
      const mbps = (seconds: number): string => (dataset.bytes / 1e6 / seconds).toFixed(0);
      process.stdout.write(
        [
          `dataset: ${dataset.files} files, ${(dataset.bytes / MiB).toFixed(0)} MiB on ext4 (inline_data), loop device; cache ${report.dataset.cache}; ${options.runs} rounds after a warm-up, medians (min–max)`,
          `file level (runBackup)            ${f(report.fileLevelSeconds)} s   ${mbps(report.fileLevelSeconds.median)} MB/s`,
          `offhost (map + mover process)     ${f(report.offhostSeconds)} s   ${mbps(report.offhostSeconds.median)} MB/s`,
          `offhost without mover start-up    ${f(report.offhostMapPlusMoverBackupSeconds)} s   (map ${f(report.mapSeconds)} s)`,
          `offhost / file-level throughput   ${f(report.ratio)}×   without the mover's start-up ${f(report.ratioWithoutMoverStartup)}×`,
          `mover: ${JSON.stringify(report.offhost)}`,
          '',
        ].join('\n'),
      );
    }
  } finally {
    if (mounted) spawnSync('umount', [mount]);
    if (device) spawnSync('losetup', ['-d', device]);
    if (!options.keep) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
