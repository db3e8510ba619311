/**
 * Edge-agent memory benchmark: does a backup stay within a fixed memory
 * budget whatever the data size, and how fast is it next to GNU tar?
 *
 *   node --import tsx bench/agent-memory.ts [--json] [--small-files N] [--big-file-mib N] [--keep]
 *
 * Generates N small files (default 20,000) and one big file (default 1 GiB,
 * real data, not sparse) in a temp directory, backs them up with runBackup
 * into an FsObjectStore in a child process that samples its RSS every 100 ms,
 * then times `tar -cf` of the same tree (plus a sync of the archive, since
 * the store fsyncs what it writes). Exits 1 if the backup's peak RSS reaches
 * 300 MB. Needs about twice the data size free in the temp directory.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const RSS_LIMIT_BYTES = 300 * 1e6;
const MB = 1e6;

interface ChildReport {
  /** RSS with every module loaded, before the backup: what the data path adds is the difference. */
  baselineRssBytes: number;
  peakRssBytes: number;
  sampledPeakRssBytes: number;
  elapsedSeconds: number;
  imageBytes: number;
  fileCount: number;
  fragments: number;
  statusCode: number;
  writerWaits: number;
  readerWaits: number;
}

interface Options {
  json: boolean;
  smallFiles: number;
  bigFileMiB: number;
  keep: boolean;
}

function parseArgs(argv: string[]): Options {
  const value = (name: string, fallback: number): number => {
    const at = argv.indexOf(name);
    if (at === -1) return fallback;
    const parsed = Number(argv[at + 1]);
    if (!Number.isInteger(parsed) || parsed < 0) throw new Error(`${name} takes a whole number`);
    return parsed;
  };
  return { json: argv.includes('--json'), smallFiles: value('--small-files', 20_000), bigFileMiB: value('--big-file-mib', 1024), keep: argv.includes('--keep') };
}

/** Small files of 0–16 KiB in directories of 100, and one big file of fresh random MiB blocks. */
async function generateTree(root: string, options: Options): Promise<{ bytes: number }> {
  mkdirSync(root, { recursive: true });
  const pool = randomBytes(1024 * 1024);
  let bytes = 0;
  const jobs: Array<() => Promise<void>> = [];
  for (let i = 0; i < options.smallFiles; i++) {
    const dir = path.join(root, 'small', `d${String(Math.floor(i / 100)).padStart(4, '0')}`);
    if (i % 100 === 0) mkdirSync(dir, { recursive: true });
    const size = (i * 7919) % 16_384;
    const start = (i * 104_729) % (pool.length - size);
    bytes += size;
    jobs.push(() => writeFile(path.join(dir, `f${i}.dat`), pool.subarray(start, start + size)));
  }
  for (let i = 0; i < jobs.length; i += 64) await Promise.all(jobs.slice(i, i + 64).map((job) => job()));

  const handle = await open(path.join(root, 'big.bin'), 'w');
  try {
    const block = randomBytes(1024 * 1024);
    for (let i = 0; i < options.bigFileMiB; i++) {
      // A different first word per MiB, so no two blocks are alike.
      block.writeUInt32BE(i, 0);
      await handle.write(block);
    }
  } finally {
    await handle.close();
  }
  bytes += options.bigFileMiB * 1024 * 1024;
  return { bytes };
}

/** Runs in the child: one backup, RSS sampled every 100 ms; prints a ChildReport as JSON. */
async function child(treeDir: string, unitDir: string): Promise<void> {
  const { runBackup } = await import('#agent/image/backup.ts');
  const { FsObjectStore } = await import('#agent/disk/fs-object-store.ts');
  const { BackupTask } = await import('#core/model/task.ts');
  const baselineRssBytes = process.memoryUsage().rss;
  let sampledPeak = baselineRssBytes;
  const sampler = setInterval(() => (sampledPeak = Math.max(sampledPeak, process.memoryUsage().rss)), 100);
  const task = BackupTask.parse({
    jobId: 1,
    backupId: 'bench_1700000000',
    client: 'bench',
    policy: 'bench',
    schedule: 'full',
    level: 'full',
    selections: [treeDir],
    storageUnit: { name: 'bench', kind: 'disk', path: unitDir },
  });
  const started = process.hrtime.bigint();
  const result = await runBackup(task, { store: new FsObjectStore(unitDir), reporter: { progress: async () => undefined, heartbeat: async () => undefined }, now: () => new Date() });
  const elapsedSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(sampler);
  sampledPeak = Math.max(sampledPeak, process.memoryUsage().rss);
  const report: ChildReport = {
    baselineRssBytes,
    // maxRSS (KiB) is the kernel's high-water mark: it catches peaks between samples.
    peakRssBytes: Math.max(sampledPeak, process.resourceUsage().maxRSS * 1024),
    sampledPeakRssBytes: sampledPeak,
    elapsedSeconds,
    imageBytes: result.bytes,
    fileCount: result.fileCount,
    fragments: result.fragments.length,
    statusCode: result.statusCode,
    writerWaits: result.writerWaits,
    readerWaits: result.readerWaits,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

function runChild(treeDir: string, unitDir: string): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', treeDir, unitDir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    proc.on('error', reject);
    proc.on('close', (code) => {
      if (code !== 0) return reject(new Error(`backup child exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1)!) as ChildReport);
    });
  });
}

function timeTar(treeDir: string, archive: string): { seconds: number; withSyncSeconds: number } {
  const started = process.hrtime.bigint();
  const tar = spawnSync('tar', ['-cf', archive, '-C', '/', treeDir.slice(1)], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr.toString()}`);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  spawnSync('sync', [archive]);
  return { seconds, withSyncSeconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const work = mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-'));
  const treeDir = path.join(work, 'tree');
  const unitDir = path.join(work, 'unit');
  try {
    const log = (line: string): void => void (options.json || process.stderr.write(`${line}\n`));
    log(`generating ${options.smallFiles} small files and a ${options.bigFileMiB} MiB file in ${treeDir} ...`);
    const { bytes } = await generateTree(treeDir, options);
    // Let the kernel write the new tree out first, so neither run competes with that flush.
    spawnSync('sync');
    log('backing up with runBackup in a child process ...');
    const backup = await runChild(treeDir, unitDir);
    log('timing tar -cf of the same tree ...');
    const archive = path.join(work, 'peer.tar');
    const tar = timeTar(treeDir, archive);
    const figures = {
      dataBytes: bytes,
      files: backup.fileCount,
      fragments: backup.fragments,
      statusCode: backup.statusCode,
      peakRssMB: round(backup.peakRssBytes / MB),
      baselineRssMB: round(backup.baselineRssBytes / MB),
      sampledPeakRssMB: round(backup.sampledPeakRssBytes / MB),
      rssLimitMB: RSS_LIMIT_BYTES / MB,
      elapsedSeconds: round(backup.elapsedSeconds),
      throughputMBps: round(backup.imageBytes / MB / backup.elapsedSeconds),
      writerWaits: backup.writerWaits,
      readerWaits: backup.readerWaits,
      tarSeconds: round(tar.seconds),
      tarWithSyncSeconds: round(tar.withSyncSeconds),
      tarArchiveBytes: statSync(archive).size,
      imageBytes: backup.imageBytes,
      ratioToTar: round(backup.elapsedSeconds / tar.seconds),
      ratioToTarWithSync: round(backup.elapsedSeconds / tar.withSyncSeconds),
      withinLimit: backup.peakRssBytes < RSS_LIMIT_BYTES,
    };
    if (options.json) {
      process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
    } else {
      process.stdout.write(
        [
          `data            ${round(bytes / MB)} MB in ${figures.files} members, ${figures.fragments} fragment(s), status ${figures.statusCode}`,
          `peak RSS        ${figures.peakRssMB} MB (limit ${figures.rssLimitMB} MB; sampled every 100 ms: ${figures.sampledPeakRssMB} MB; ${figures.baselineRssMB} MB before the backup started)`,
          `runBackup       ${figures.elapsedSeconds} s, ${figures.throughputMBps} MB/s (writer waits ${figures.writerWaits}, reader waits ${figures.readerWaits})`,
          `tar -cf         ${figures.tarSeconds} s (${figures.tarWithSyncSeconds} s with sync of the archive)`,
          `Cairn / tar     ${figures.ratioToTar}× (${figures.ratioToTarWithSync}× against tar + sync)`,
          '',
        ].join('\n'),
      );
    }
    if (!figures.withinLimit) process.exitCode = 1;
  } finally {
    if (!options.keep) rmSync(work, { recursive: true, force: true });
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

if (process.argv[2] === '--child') {
  await child(process.argv[3]!, process.argv[4]!);
} else {
  await main();
}
