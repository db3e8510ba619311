/**
 * Side A of `bench/tape-write.ts`, also a command of its own (to pair it
 * with tar under any whole-process timer, or to profile it):
 *
 *   node [--cpu-prof] --import tsx bench/tape-write-cairn.ts --dataset DIR --volume FILE --unit DIR [--block-kib 256]
 *   node --import tsx bench/tape-write-cairn.ts --dataset DIR --unit DIR --disk
 *   node --import tsx bench/tape-write-cairn.ts --volume FILE --sink-only BYTES [--block-kib 256]
 *
 * Cairn's real backup path onto a file tape: a blank volume file is
 * labelled and mounted (`TapeFragmentSink.mount`: label check, positioning
 * at the append point; untimed: a scratch volume the library hands out is
 * labelled already, and the Mount step is not the write; the agent's reader
 * thread started, as a running agent has it), then `runBackup` of DIR with a `TapeFragmentSink` over
 * `FileTape` (records of 256 KiB, tar -b 512's record size; one tape file
 * per fragment, 1 GiB fragments by default) and the file index and manifest
 * to a disk object store in `--unit`. Timed from the start of `runBackup`
 * to the drive closed: every fragment's filemark written (FileTape
 * fdatasyncs the records before each filemark, and the filemark) and the
 * index and manifest fsynced by the store. Prints one JSON line
 * (`CairnRun`); exits 1 on a failed backup.
 *
 * Two controls, to say where the time goes: `--disk` is the same
 * `runBackup` into a disk storage unit (fragments as objects, no tape);
 * `--sink-only BYTES` is the tape layer alone, `TapeFragmentSink` over
 * `FileTape` fed BYTES of ready 256 KiB chunks (the data path's buffer size)
 * as one fragment, no reading, packing or hashing.
 */
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { runBackup } from '#agent/image/backup.ts';
import { FileTape } from '#agent/tape/drives/file-tape.ts';
import { TapeFragmentSink } from '#agent/tape/format/tape-fragment-sink.ts';
import { writeLabel } from '#agent/tape/format/volume-label.ts';
import { ReaderThread } from '#agent/reader/reader-thread.ts';
import { CairnError } from '#core/errors.ts';
import type { DataPathTimes } from '#core/model/task.ts';
import { BackupTask } from '#core/model/task.ts';
import type { TaskReporter } from '#core/ports/task-reporter.ts';
import { StatusCode } from '#core/status-codes.ts';

export const KiB = 1024;
/** tar -b 512: 512 blocks of 512 bytes a record. */
export const TAR_B512_RECORD = 512 * 512;

/** The data path's default buffer size (core/model/task.ts): the chunks a fragment sink is given. */
const CHUNK_BYTES = 256 * KiB;

const QUIET: TaskReporter = { progress: async () => undefined, heartbeat: async () => undefined };

export interface CairnRunOptions {
  dataset: string;
  volume: string;
  unit: string;
  blockSize: number;
  /** The unit's pieceBytes (default the storage unit's default, 64 MiB): tests make pieces of small files with it. */
  pieceBytes?: number;
}

/** One tape file the backup wrote: where a reader finds it (the catalog's location) and its tar bytes. */
export interface TapeFileWritten {
  fileNumber: number;
  blockOffset: number;
  bytes: number;
}

export interface CairnRun {
  /** From runBackup's start to the drive closed, every byte durable. */
  seconds: number;
  /** User + system CPU of the whole process (every thread, the reader thread's too) over the same span. */
  userSeconds: number;
  systemSeconds: number;
  /** Tar bytes of the image (what went on tape, record padding not counted). */
  bytes: number;
  volumeBytes: number;
  fileCount: number;
  statusCode: number;
  tapeFiles: TapeFileWritten[];
  writerWaits: number;
  readerWaits: number;
  /** The agent's own account of where the time went (edge-agent/transport/busy-meter.ts). */
  times?: DataPathTimes;
}

/**
 * What a running agent has before a job comes (`cairn local serve` and
 * `cairn-agent run-task` start it with the process): its reader thread
 * booted and idle. Untimed, as Node's start-up and module loading are.
 */
async function agentStarted(dataset: string): Promise<void> {
  ReaderThread.keepIdleThread();
  const thread = ReaderThread.take();
  await thread.lstat([dataset]);
  await thread.close();
}

export async function cairnTapeWrite(options: CairnRunOptions): Promise<CairnRun> {
  rmSync(options.unit, { recursive: true, force: true });
  mkdirSync(options.unit, { recursive: true });
  await agentStarted(options.dataset);
  // A blank cartridge, as disk-changer makes them: an empty file.
  writeFileSync(options.volume, '');
  const drive = await FileTape.open(options.volume, { blockSize: options.blockSize });
  try {
    await writeLabel(drive, { mediaId: 'BENCH1', pool: 'bench', writtenAt: new Date().toISOString(), writtenBy: 'cairn bench' });
    // The Mount step's part, untimed as the labelling: the label checked, the tape at the append point.
    const sink = await TapeFragmentSink.mount({ drive, mediaId: 'BENCH1', appendFile: 1 });
    const task = benchTask(options.dataset, options.unit, options.pieceBytes);
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    const result = await runBackup(task, {
      store: new FsObjectStore(options.unit),
      sinks: {
        first: async () => sink,
        // One volume without a capacity: it never reaches early warning.
        next: async () => {
          throw new CairnError(StatusCode.UNABLE_TO_ALLOCATE_MEDIA, 'the bench has one volume');
        },
      },
      reporter: QUIET,
      now: () => new Date(),
    });
    await drive.close();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const used = process.cpuUsage(cpu);
    const tapeFiles = result.fragments.map((fragment): TapeFileWritten => {
      const location = fragment.location;
      if (location.kind !== 'tape') throw new Error(`fragment ${fragment.number} is not on tape`);
      return { fileNumber: location.fileNumber, blockOffset: location.blockOffset, bytes: fragment.bytes };
    });
    return {
      seconds,
      userSeconds: used.user / 1e6,
      systemSeconds: used.system / 1e6,
      bytes: result.bytes,
      volumeBytes: statSync(options.volume).size,
      fileCount: result.fileCount,
      statusCode: result.statusCode,
      tapeFiles,
      writerWaits: result.writerWaits,
      readerWaits: result.readerWaits,
      times: result.times,
    };
  } finally {
    await drive.close();
  }
}

/** The same backup into a disk storage unit (fragments as objects in `unit`): the data path without the tape. */
export async function cairnDiskWrite(options: { dataset: string; unit: string }): Promise<CairnRun> {
  rmSync(options.unit, { recursive: true, force: true });
  mkdirSync(options.unit, { recursive: true });
  await agentStarted(options.dataset);
  const task = benchTask(options.dataset, options.unit);
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const result = await runBackup(task, { store: new FsObjectStore(options.unit), reporter: QUIET, now: () => new Date() });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  return { seconds, userSeconds: used.user / 1e6, systemSeconds: used.system / 1e6, bytes: result.bytes, volumeBytes: 0, fileCount: result.fileCount, statusCode: result.statusCode, tapeFiles: [], writerWaits: result.writerWaits, readerWaits: result.readerWaits, times: result.times };
}

/** The tape layer alone: `bytes` of ready chunks of the data path's buffer size through the sink, as one tape file. */
export async function tapeSinkOnly(options: { volume: string; bytes: number; blockSize: number }): Promise<CairnRun> {
  writeFileSync(options.volume, '');
  const drive = await FileTape.open(options.volume, { blockSize: options.blockSize });
  try {
    await writeLabel(drive, { mediaId: 'BENCH1', pool: 'bench', writtenAt: new Date().toISOString(), writtenBy: 'cairn bench' });
    const sink = new TapeFragmentSink({ drive, mediaId: 'BENCH1', appendFile: 1 });
    // Distinct bytes per chunk would cost generating them inside the timing; the drive does not care what they are.
    const chunk = new Uint8Array(CHUNK_BYTES).fill(0x5a);
    async function* body(): AsyncGenerator<Uint8Array> {
      for (let left = options.bytes; left > 0; left -= CHUNK_BYTES) yield left >= CHUNK_BYTES ? chunk : chunk.subarray(0, left);
    }
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    const written = await sink.write(1, body());
    await drive.close();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const used = process.cpuUsage(cpu);
    const location = written.location;
    if (location.kind !== 'tape') throw new Error('not on tape');
    return { seconds, userSeconds: used.user / 1e6, systemSeconds: used.system / 1e6, bytes: written.bytes, volumeBytes: statSync(options.volume).size, fileCount: 0, statusCode: 0, tapeFiles: [{ fileNumber: location.fileNumber, blockOffset: location.blockOffset, bytes: written.bytes }], writerWaits: 0, readerWaits: 0 };
  } finally {
    await drive.close();
  }
}

function benchTask(dataset: string, unit: string, pieceBytes?: number): BackupTask {
  return BackupTask.parse({ jobId: 1, backupId: 'bench_1700000000', client: 'bench', policy: 'bench', schedule: 'full', level: 'full', selections: [dataset], storageUnit: { name: 'bench', kind: 'disk', path: unit, ...(pieceBytes === undefined ? {} : { pieceBytes }) } });
}

function argument(argv: string[], name: string): string {
  const at = argv.indexOf(name);
  const value = at === -1 ? undefined : argv[at + 1];
  if (value === undefined) throw new Error(`${name} is required: --dataset DIR --volume FILE --unit DIR [--block-kib 256] | --dataset DIR --unit DIR --disk | --volume FILE --sink-only BYTES`);
  return value;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const blockKiB = argv.includes('--block-kib') ? Number(argument(argv, '--block-kib')) : TAR_B512_RECORD / KiB;
  const blockSize = blockKiB * KiB;
  const run = argv.includes('--sink-only')
    ? await tapeSinkOnly({ volume: argument(argv, '--volume'), bytes: Number(argument(argv, '--sink-only')), blockSize })
    : argv.includes('--disk')
      ? await cairnDiskWrite({ dataset: argument(argv, '--dataset'), unit: argument(argv, '--unit') })
      : await cairnTapeWrite({ dataset: argument(argv, '--dataset'), volume: argument(argv, '--volume'), unit: argument(argv, '--unit'), blockSize });
  process.stdout.write(`${JSON.stringify(run)}\n`);
  if (run.statusCode !== 0) process.exitCode = 1;
}
