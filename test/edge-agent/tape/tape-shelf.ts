import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FileTape } from '#agent/tape/drives/file-tape.ts';
import { TapeFragmentSink } from '#agent/tape/format/tape-fragment-sink.ts';
import { tapeFragmentSource } from '#agent/tape/format/tape-fragment-source.ts';
import { writeLabel } from '#agent/tape/format/volume-label.ts';
import { CairnError } from '#core/errors.ts';
import type { FragmentSink, FragmentSinks, FragmentSource } from '#core/ports/fragment-sink.ts';
import type { TapeDrive } from '#core/ports/tape-drive.ts';
import { StatusCode } from '#core/status-codes.ts';

export const KiB = 1024;

/** GNU tar on this machine, for reading fragments straight from volume files. */
export const hasGnuTar = (() => {
  try {
    return execFileSync('tar', ['--version'], { encoding: 'utf8' }).includes('GNU tar');
  } catch {
    return false;
  }
})();

export interface VolumeShape {
  blockSize: number;
  capacityBytes: number;
  earlyWarningBytes: number;
}

/** A labelled file-tape volume: its file, the drive it is loaded in, and its append point as a media database would keep it. */
export interface ShelfVolume {
  mediaId: string;
  file: string;
  drive: FileTape;
  appendFile: number;
}

/**
 * A library's worth of file-tape volumes under `dir`, labelled on first
 * use and handed out in order as scratch media, each in its own FileTape
 * drive (the real adapter). Its sinks keep each volume's append point the
 * way the media database does: after each fragment written.
 */
export class Shelf {
  readonly volumes: ShelfVolume[] = [];
  readonly #dir: string;
  readonly #shape: VolumeShape;
  readonly #limit: number;
  /** Bytes per drive write of the sinks (small volumes: early warning must come before the buffer fills the volume). */
  readonly writeBytes: number;

  constructor(dir: string, shape: VolumeShape, options: { limit?: number; writeBytes?: number } = {}) {
    this.#dir = dir;
    this.#shape = shape;
    this.#limit = options.limit ?? 50;
    this.writeBytes = options.writeBytes ?? shape.blockSize * 4;
  }

  /** Volume `mediaId`, created blank (an empty file, as disk-changer makes them) and labelled. */
  async volume(mediaId: string, pool = 'daily'): Promise<ShelfVolume> {
    const existing = this.volumes.find((v) => v.mediaId === mediaId);
    if (existing) return existing;
    const file = path.join(this.#dir, mediaId);
    writeFileSync(file, '');
    const drive = await this.open(file);
    await writeLabel(drive, { mediaId, pool, writtenAt: '2026-12-03T04:00:00.000Z', writtenBy: 'cairn test' });
    const volume = { mediaId, file, drive, appendFile: 1 };
    this.volumes.push(volume);
    return volume;
  }

  open(file: string): Promise<FileTape> {
    return FileTape.open(file, this.#shape);
  }

  /** A sink on `volume` at its append point, which moves as fragments are written. */
  sinkOn(volume: ShelfVolume): FragmentSink {
    const sink = new TapeFragmentSink({ drive: volume.drive, mediaId: volume.mediaId, appendFile: volume.appendFile, writeBytes: this.writeBytes });
    return {
      get endOfMedia() {
        return sink.endOfMedia;
      },
      write: async (number, body) => {
        const written = await sink.write(number, body);
        volume.appendFile = sink.appendFile;
        return written;
      },
      discard: (location) => sink.discard(location),
    };
  }

  /** Scratch volumes in order (`V00001`, ...), the first one possibly partly written already. */
  sinks(first?: ShelfVolume): FragmentSinks {
    const next = async (): Promise<FragmentSink> => {
      const used = this.volumes.length;
      if (used >= this.#limit) throw new CairnError(StatusCode.UNABLE_TO_ALLOCATE_MEDIA, `no scratch volume left after ${used}`);
      return this.sinkOn(await this.volume(`V${String(used + 1).padStart(5, '0')}`));
    };
    return { first: async () => (first ? this.sinkOn(first) : next()), next };
  }

  /** Reads fragments from the shelf's volumes, each in its drive. */
  source(wrap: (drive: TapeDrive) => TapeDrive = (d) => d): FragmentSource {
    return tapeFragmentSource({
      mount: async (mediaId) => {
        const volume = this.volumes.find((v) => v.mediaId === mediaId);
        if (!volume) throw new Error(`no volume ${mediaId} on the shelf`);
        return wrap(volume.drive);
      },
    });
  }

  async close(): Promise<void> {
    for (const volume of this.volumes) await volume.drive.close();
  }
}

/** `length` bytes of a volume file from `offset`: what `dd skip=... count=...` on the file gives. */
export function readVolumeBytes(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const read = readSync(fd, buffer, 0, length, offset);
    return buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

/**
 * What `tar -tf -` lists of `archive` (GNU tar), throwing when tar fails.
 * GNU tar stops reading at the archive's end blocks, so input after them (the
 * rest of a volume read from a tape file's offset) may meet a closed pipe:
 * that EPIPE is not a failure; tar's exit status says whether it was.
 */
export function gnuTarList(archive: Buffer): string[] {
  const run = spawnSync('tar', ['-tf', '-'], { input: archive, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.error && (run.error as NodeJS.ErrnoException).code !== 'EPIPE') throw run.error;
  if (run.status !== 0) throw new Error(`tar -tf exited ${run.status ?? run.signal}: ${run.stderr}`);
  return run.stdout.split('\n').filter((line) => line !== '');
}
