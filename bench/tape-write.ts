/**
 * File-tape write throughput next to GNU tar (issue 10):
 *
 *   npm run bench:tape -- [--scale 0.15] [--runs 5] [--seed S] [--dir DIR] [--drop-caches] [--json] [--keep]
 *
 * Generates a seeded dataset with compare-dataset.ts (scale 0.15, about
 * 320 MB: 3,000 files of 0–16 KiB, 30 of 1–9 MiB, a 77 MiB disk image, a
 * log, a database file; `--scale` or CAIRN_BENCH_TAPE_SCALE sizes it), then
 * in the same run, in rounds, alternating which goes first:
 *
 *   A. Cairn: `runBackup` through a `TapeFragmentSink` over `FileTape`
 *      (256 KiB records, one tape file per fragment, the index to a disk
 *      object store), in a child process (tape-write-cairn.ts), timed by
 *      the child from the backup's start to every byte durable (FileTape
 *      fdatasyncs at each filemark; the store fsyncs the index);
 *   B. `tar -b 512 -cf VOLUME -C DATASET . && sync VOLUME` (an fsync of the
 *      archive), timed as a whole by bash, on the same file system.
 *
 * then the peers that read and hash every byte as Cairn does, when
 * installed: `borg create --compression none` and `restic backup
 * --compression off` into a new repository, each followed by a syncfs of it
 * (Cairn's throughput over each is reported too: tar hashes nothing, they
 * do); and two controls that say where Cairn's time goes: the same `runBackup`
 * into a disk storage unit (no tape), and the tape layer alone (the sink
 * and FileTape fed as many bytes of ready chunks). The ratio is Cairn's
 * throughput over tar's (tar's seconds / Cairn's), per round; the issue's
 * goal is 0.9× or more. After every Cairn run, untimed, GNU tar lists each
 * tape file straight from the volume file at the offset its recorded
 * location gives, and every file of the dataset must be there: a broken
 * write is never measured (exit 1).
 *
 * The disk image is written without holes: tar -cf without --sparse stores
 * holes as zeros where Cairn stores a sparse member, and the comparison is
 * of writing the same bytes.
 *
 * What the hashing costs against tar: Cairn sha256s every byte of every
 * file (the index's content hash), files of 16 MiB and more twice (their
 * block map) and files above 64 MiB three times (their pieces), which tar
 * does not. This CPU's sha256 rate (one core,
 * measured here before and after the rounds, the better kept) gives the
 * seconds of one core that hashing takes. The ratio a writer would reach
 * that did tar's work at tar's speed plus that hashing is the ceiling
 * reported: tar / (tar + hashing) with the hashing on one core, tar / (tar
 * + hashing / cores) with it spread over every core, per round. Only
 * hashing overlapped with the I/O tar waits for (its read-ahead and final
 * sync) could go above it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LARGE_FILE_BYTES } from '#agent/image/block-map.ts';
import { DEFAULT_PIECE_BYTES } from '#core/model/storage-unit.ts';
import { generateDataset, shapeAt } from './compare-dataset.ts';
import { commandExists, quote, settle, step } from './compare-shell.ts';
import { TAR_B512_RECORD, type CairnRun } from './tape-write-cairn.ts';
import { listTapeFiles } from './tape-write-check.ts';

const MB = 1e6;
const MiB = 1024 * 1024;
const GOAL = 0.9;
const SIDE_A = fileURLToPath(new URL('./tape-write-cairn.ts', import.meta.url));

interface Options {
  scale: number;
  runs: number;
  seed: string;
  dir: string;
  dropCaches: boolean;
  json: boolean;
  keep: boolean;
}

function parseArgs(argv: string[]): Options {
  const value = (name: string): string | undefined => {
    const at = argv.indexOf(name);
    return at === -1 ? undefined : argv[at + 1];
  };
  const scale = Number(value('--scale') ?? process.env.CAIRN_BENCH_TAPE_SCALE ?? 0.15);
  if (!(scale > 0 && scale <= 4)) throw new Error('--scale takes a number in (0, 4]');
  const runs = Number(value('--runs') ?? 5);
  if (!Number.isInteger(runs) || runs < 1 || runs > 50) throw new Error('--runs takes a whole number from 1 to 50');
  return { scale, runs, seed: value('--seed') ?? 'cairn-issue-10', dir: value('--dir') ?? os.tmpdir(), dropCaches: argv.includes('--drop-caches'), json: argv.includes('--json'), keep: argv.includes('--keep') };
}

type Side = 'cairn' | 'tar' | 'disk' | 'sink' | 'borg' | 'restic';

/**
 * The peers that, like Cairn, read and hash every byte of every file (borg:
 * content-defined chunks, each hashed and stored once; restic the same,
 * encrypted too), measured when installed (Debian's borgbackup and restic),
 * with compression off: the same bytes to write as tar's and Cairn's. Each
 * run starts from a new, empty repository (initialised untimed), so nothing
 * is deduplicated against an earlier run.
 */
const PEERS = ['borg', 'restic'] as const;
type Peer = (typeof PEERS)[number];
const PEER_PACKAGES: Record<Peer, string> = { borg: 'borgbackup', restic: 'restic' };

interface Sample {
  seconds: number;
  cpuSeconds: number;
  /** Cairn's sides: the child process's wall time, Node's start-up and module loading included. */
  processSeconds?: number;
  cairn?: CairnRun;
}

interface Paths {
  data: string;
  volume: string;
  unit: string;
  tarVolume: string;
  ioFile: string;
  /** A peer's repository (and its cache and password), removed before each run. */
  peer: string;
}

/** Runs tape-write-cairn.ts in a child; its JSON line and the child's whole wall time. */
async function runSideA(args: string[]): Promise<Sample> {
  const started = process.hrtime.bigint();
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SIDE_A, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`tape-write-cairn.ts ${args.join(' ')} exited with ${code}`))));
  });
  const processSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cairn = JSON.parse(out.trim().split('\n').at(-1)!) as CairnRun;
  return { seconds: cairn.seconds, cpuSeconds: cairn.userSeconds + cairn.systemSeconds, processSeconds, cairn };
}

/** This CPU's sha256 throughput on one core, in bytes a second: the best of three passes over 128 MiB in 1 MiB updates (Node's crypto, as Cairn's hashing). */
function sha256BytesPerSecond(): number {
  const chunk = randomBytes(MiB);
  let best = Infinity;
  for (let pass = 0; pass < 3; pass++) {
    const started = process.hrtime.bigint();
    const hash = createHash('sha256');
    for (let i = 0; i < 128; i++) hash.update(chunk);
    hash.digest();
    best = Math.min(best, Number(process.hrtime.bigint() - started) / 1e9);
  }
  return (128 * MiB) / best;
}

/**
 * The bytes a full backup of `dir` sha256s: every regular file's content
 * once, files of LARGE_FILE_BYTES or more once more for their block map,
 * and files above the unit's pieceBytes (DEFAULT_PIECE_BYTES here) once
 * more for their pieces (the fragment checksum takes each piece by its
 * sha256: docs/image-format.md).
 */
function bytesHashed(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const size = statSync(path.join(entry.parentPath, entry.name)).size;
    total += size * (1 + (size >= LARGE_FILE_BYTES ? 1 : 0) + (size > DEFAULT_PIECE_BYTES ? 1 : 0));
  }
  return total;
}

function dropCaches(): void {
  settle();
  spawnSync('bash', ['-c', 'echo 3 > /proc/sys/vm/drop_caches'], { stdio: 'ignore' });
}

async function measure(side: Side, paths: Paths, dataBytes: number, expectedFiles: number): Promise<Sample> {
  // Nothing left of the previous run, and its dirty pages written: no run pays for another's.
  for (const leftover of [paths.volume, paths.tarVolume, paths.unit, paths.peer]) rmSync(leftover, { recursive: true, force: true });
  settle();
  switch (side) {
    case 'cairn': {
      const sample = await runSideA(['--dataset', paths.data, '--volume', paths.volume, '--unit', paths.unit]);
      const listed = await listTapeFiles(paths.volume, sample.cairn!.tapeFiles, TAR_B512_RECORD);
      if (sample.cairn!.statusCode !== 0 || listed !== expectedFiles) throw new Error(`broken tape write: status ${sample.cairn!.statusCode}, GNU tar lists ${listed} files in the tape files, the dataset has ${expectedFiles}`);
      return sample;
    }
    case 'disk':
      return runSideA(['--dataset', paths.data, '--unit', paths.unit, '--disk']);
    case 'sink':
      return runSideA(['--volume', paths.volume, '--sink-only', String(dataBytes)]);
    case 'tar': {
      const cost = step(`tar -b 512 -cf ${quote(paths.tarVolume)} -C ${quote(paths.data)} . && sync ${quote(paths.tarVolume)}`, { ioFile: paths.ioFile });
      return { seconds: cost.seconds, cpuSeconds: cost.cpuSeconds };
    }
    case 'borg':
    case 'restic':
      return peerBackup(side, paths);
  }
}

/** One durable backup of the dataset by a peer into a new repository: its init untimed, the backup and a syncfs of the repository timed. */
function peerBackup(peer: Peer, paths: Paths): Sample {
  const repo = path.join(paths.peer, 'repo');
  mkdirSync(paths.peer, { recursive: true });
  if (peer === 'borg') {
    const env = { BORG_BASE_DIR: path.join(paths.peer, 'home'), BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes' };
    step(`borg init -e none ${quote(repo)}`, { env, ioFile: paths.ioFile });
    settle();
    const cost = step(`borg create --compression none ${quote(`${repo}::bench`)} ${quote(paths.data)} && sync -f ${quote(repo)}`, { env, ioFile: paths.ioFile });
    return { seconds: cost.seconds, cpuSeconds: cost.cpuSeconds };
  }
  const env = { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: 'bench-tape-password', RESTIC_CACHE_DIR: path.join(paths.peer, 'cache') };
  step('restic init -q', { env, ioFile: paths.ioFile });
  settle();
  const cost = step(`restic backup -q --compression off ${quote(paths.data)} && sync -f ${quote(repo)}`, { env, ioFile: paths.ioFile });
  return { seconds: cost.seconds, cpuSeconds: cost.cpuSeconds };
}

interface Spread {
  min: number;
  median: number;
  max: number;
}

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  const median = sorted.length % 2 === 1 ? sorted[Math.floor(middle)]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { min: round(sorted[0]!), median: round(median), max: round(sorted.at(-1)!) };
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const log = (line: string): void => void (options.json || process.stderr.write(`${line}\n`));
  mkdirSync(options.dir, { recursive: true });
  const work = mkdtempSync(path.join(options.dir, 'cairn-tape-bench-'));
  const paths: Paths = { data: path.join(work, 'data'), volume: path.join(work, 'cairn.vol'), unit: path.join(work, 'unit'), tarVolume: path.join(work, 'tar.vol'), ioFile: path.join(work, 'step.io'), peer: path.join(work, 'peer') };
  const canDrop = options.dropCaches && process.getuid?.() === 0;
  try {
    const shape = shapeAt(options.scale);
    // Every MiB of the disk image written: no holes (see the top of this file).
    shape.vmDataExtents = shape.vmBytes / MiB;
    log(`generating the dataset (scale ${options.scale}, seed ${options.seed}) in ${paths.data} ...`);
    const dataBytes = await generateDataset(paths.data, options.seed, shape);
    const expectedFiles = shape.smallFiles + shape.mediumFiles + 3;
    settle();
    // Read once, so that without --drop-caches both sides read the dataset from the page cache alike.
    step(`tar -cf - -C ${quote(paths.data)} . | cat > /dev/null`, { ioFile: paths.ioFile });
    const hashed = bytesHashed(paths.data);
    const rateBefore = sha256BytesPerSecond();
    const peers = PEERS.filter((peer) => commandExists(peer));
    const peersMissing = PEERS.filter((peer) => !peers.includes(peer)).map((peer) => `${peer}: not installed (apt-get install ${PEER_PACKAGES[peer]})`);
    const sides: Side[] = ['cairn', 'tar', 'disk', 'sink', ...peers];
    const samples: Record<Side, Sample[]> = { cairn: [], tar: [], disk: [], sink: [], borg: [], restic: [] };
    const loadAtStart = os.loadavg()[0]!;
    // Round 0 is a warm-up (module caches, the file system's free extents), not counted.
    for (let round = 0; round <= options.runs; round++) {
      // Each round starts with the next side in turn, and A and B swap places every round.
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        if (canDrop) dropCaches();
        const sample = await measure(side, paths, dataBytes, expectedFiles);
        if (round > 0) samples[side].push(sample);
      }
      if (round > 0) log(`round ${round}/${options.runs}: Cairn ${samples.cairn.at(-1)!.seconds.toFixed(2)} s, tar ${samples.tar.at(-1)!.seconds.toFixed(2)} s, Cairn to a disk unit ${samples.disk.at(-1)!.seconds.toFixed(2)} s, tape layer alone ${samples.sink.at(-1)!.seconds.toFixed(2)} s${peers.map((peer) => `, ${peer} ${samples[peer].at(-1)!.seconds.toFixed(2)} s`).join('')}`);
      else log('warm-up round done');
    }
    const sha256Rate = Math.max(rateBefore, sha256BytesPerSecond());
    const hashSeconds = hashed / sha256Rate;
    const cpus = os.cpus().length;
    const ratios = samples.cairn.map((cairn, i) => samples.tar[i]!.seconds / cairn.seconds);
    const ceilingOneCore = samples.tar.map((tar) => tar.seconds / (tar.seconds + hashSeconds));
    const ceilingAllCores = samples.tar.map((tar) => tar.seconds / (tar.seconds + hashSeconds / cpus));
    const processRatios = samples.cairn.map((cairn, i) => samples.tar[i]!.seconds / cairn.processSeconds!);
    const figure = (side: Side) => {
      const list = samples[side];
      const seconds = spread(list.map((s) => s.seconds));
      return {
        seconds,
        mbPerSecond: spread(list.map((s) => dataBytes / MB / s.seconds)),
        cpuSeconds: spread(list.map((s) => s.cpuSeconds)),
        ...(list[0]?.processSeconds === undefined ? {} : { processSeconds: spread(list.map((s) => s.processSeconds!)) }),
      };
    };
    const lastCairn = samples.cairn.at(-1)!.cairn!;
    const report = {
      dataset: { bytes: dataBytes, files: expectedFiles, scale: options.scale, seed: options.seed, shape },
      runs: options.runs,
      cache: canDrop ? 'dropped before every run (echo 3 > /proc/sys/vm/drop_caches)' : 'warm: the dataset read once before measuring, the page cache kept',
      durability: 'Cairn: FileTape fdatasyncs at each filemark, the disk store fsyncs the index and manifest; tar: `tar -b 512 -cf VOL -C DATA . && sync VOL` (an fsync of the archive)',
      cpus,
      loadAverage: { atStart: round(loadAtStart), atEnd: round(os.loadavg()[0]!) },
      cairnTape: figure('cairn'),
      tar: figure('tar'),
      cairnDiskUnit: figure('disk'),
      tapeLayerAlone: figure('sink'),
      /** The peers that hash every byte too, and Cairn's throughput over each one's (its seconds / Cairn's), per round. */
      peers: Object.fromEntries(peers.map((peer) => [peer, { ...figure(peer), cairnOverPeer: spread(samples.cairn.map((cairn, i) => samples[peer][i]!.seconds / cairn.seconds)) }])),
      peersMissing,
      /** Cairn's throughput over tar's, per round (tar's seconds / Cairn's). */
      ratio: spread(ratios),
      /** The same with Cairn's whole child process (Node's start-up and module loading included). */
      ratioWholeProcess: spread(processRatios),
      goal: GOAL,
      goalMet: spread(ratios).median >= GOAL,
      /** What hashing alone costs, and the best ratio it leaves (see the top of this file). */
      hashing: {
        sha256MBPerSecondOneCore: round(sha256Rate / MB),
        bytesHashed: hashed,
        oneCoreSeconds: round(hashSeconds),
        /** Hashing's seconds over tar's whole run, per round. */
        overTar: spread(samples.tar.map((tar) => hashSeconds / tar.seconds)),
        ceilingOneCore: spread(ceilingOneCore),
        ceilingAllCores: spread(ceilingAllCores),
        /** The ratio over its ceiling with the hashing spread over every core, per round. */
        ratioOfCeiling: spread(ratios.map((ratio, i) => ratio / ceilingAllCores[i]!)),
      },
      lastCairnRun: { imageBytes: lastCairn.bytes, volumeBytes: lastCairn.volumeBytes, tapeFiles: lastCairn.tapeFiles, times: lastCairn.times, writerWaits: lastCairn.writerWaits, readerWaits: lastCairn.readerWaits },
      tarVolumeBytes: statSync(paths.tarVolume, { throwIfNoEntry: false })?.size,
      check: `every Cairn run: GNU tar lists all ${expectedFiles} files in the tape files, read from the volume file at their recorded offsets`,
    };
    if (options.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return;
    }
    const row = (name: string, f: ReturnType<typeof figure>): string =>
      `${name.padEnd(26)} ${f.seconds.median.toFixed(2).padStart(6)} s (${f.seconds.min.toFixed(2)}–${f.seconds.max.toFixed(2)})  ${f.mbPerSecond.median.toFixed(0).padStart(5)} MB/s  cpu ${f.cpuSeconds.median.toFixed(2)} s`;
    const times = report.lastCairnRun.times;
    process.stdout.write(
      [
        `dataset: ${(dataBytes / MB).toFixed(0)} MB, ${expectedFiles} files (scale ${options.scale}, seed ${options.seed}); ${report.cpus} CPUs; ${options.runs} rounds after a warm-up, medians (min–max); cache ${canDrop ? 'dropped before every run' : 'warm (dataset read once first)'}; load ${report.loadAverage.atStart} → ${report.loadAverage.atEnd}`,
        row('Cairn → file tape', report.cairnTape),
        row('tar -b 512 -cf && sync', report.tar),
        row('Cairn → disk unit', report.cairnDiskUnit),
        row('tape layer alone', report.tapeLayerAlone),
        ...peers.map((peer) => row(`${peer} (no compression)`, figure(peer))),
        `Cairn / tar throughput     ${report.ratio.median.toFixed(2)}× (${report.ratio.min.toFixed(2)}–${report.ratio.max.toFixed(2)}); goal ≥ ${GOAL}×: ${report.goalMet ? 'met' : 'not met'} (whole Cairn process, Node start-up included: ${report.ratioWholeProcess.median.toFixed(2)}×)`,
        ...peers.map((peer) => `Cairn / ${peer} throughput ${' '.repeat(Math.max(0, 10 - peer.length))}${report.peers[peer]!.cairnOverPeer.median.toFixed(2)}× (${report.peers[peer]!.cairnOverPeer.min.toFixed(2)}–${report.peers[peer]!.cairnOverPeer.max.toFixed(2)}): ${peer} reads and hashes every byte too`),
        ...peersMissing.map((missing) => `peer skipped: ${missing}`),
        `hashing                    sha256 ${report.hashing.sha256MBPerSecondOneCore.toFixed(0)} MB/s a core; Cairn hashes ${(hashed / MB).toFixed(0)} MB (every file, those of ${LARGE_FILE_BYTES / MiB} MiB or more twice, above ${DEFAULT_PIECE_BYTES / MiB} MiB three times): ${hashSeconds.toFixed(2)} s of one core, ${report.hashing.overTar.median.toFixed(2)}× tar's whole run`,
        `ceiling (tar + hashing)    ${report.hashing.ceilingAllCores.median.toFixed(2)}× with the hashing spread over ${cpus} cores, ${report.hashing.ceilingOneCore.median.toFixed(2)}× on one; Cairn reaches ${report.hashing.ratioOfCeiling.median.toFixed(2)} of the first`,
        times ? `Cairn's last run, where the time went (ms): elapsed ${times.elapsedMs}, reader ${times.readMs}, writer ${times.writeMs}, hashing ${times.hashMs}, writer waiting for data ${times.writerWaitMs}, reader waiting for the writer ${times.readerWaitMs}, main thread busy ${times.mainThreadMs}` : '',
        `check: ${report.check}: ok`,
        '',
      ].join('\n'),
    );
  } finally {
    if (!options.keep) rmSync(work, { recursive: true, force: true });
    else log(`kept ${work}`);
  }
}

await main();
