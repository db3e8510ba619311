import { CairnError } from '#core/errors.ts';
import type { FragmentLocation } from '#core/model/image.ts';
import type { FragmentSink, WrittenFragment } from '#core/ports/fragment-sink.ts';
import { TapeError, type TapeDrive } from '#core/ports/tape-drive.ts';
import { StatusCode } from '#core/status-codes.ts';
import { checkMountedVolume } from './volume-label.ts';

/** Bytes handed to the drive per `writeRecords` call (rounded down to whole records, at least one): few calls, bounded memory. */
export const WRITE_BYTES = 1024 * 1024;

export interface TapeFragmentSinkOptions {
  /** The drive, with the volume mounted and its label checked (`checkMountedVolume`, or `TapeFragmentSink.mount`). */
  drive: TapeDrive;
  /** The mounted volume's media id: what the locations name. */
  mediaId: string;
  /**
   * The volume's append point from the media database: the number of the
   * tape file the next fragment becomes (1 on a freshly labelled volume; the
   * label is file 0). Every file before it is complete and may be pointed
   * at by the catalog; anything at or after it is not (a torn file of a
   * writer that was killed, fragments of a failed image) and is overwritten.
   */
  appendFile: number;
  /** Bytes per `writeRecords` call (default WRITE_BYTES). */
  writeBytes?: number;
}

/**
 * The fragment sink of one mounted tape volume (bptm): each fragment is one
 * tape file at the append point, its tar stream cut into records of the
 * drive's block size (the last one padded with zeros), closed by a
 * filemark. See docs/image-format.md, Tape.
 *
 * Why the media database's append point and not the tape's own end: on st
 * a killed writer's torn file is usually closed by a filemark after all
 * (the driver writes one when a device written to is closed, or before the
 * tape moves), so the tape cannot tell a torn file from a complete one; the
 * append point, moved only once a fragment's filemark is written, can.
 *
 * Positioning. Before each fragment the sink makes sure the tape is at
 * block 0 of `appendFile`: when the drive says so already (the fragment
 * before ended there) nothing moves; from block 0 of an earlier file (where
 * the label check leaves it: file 1) it spaces forward over the filemarks
 * in between; from anywhere else it rewinds and spaces forward over
 * `appendFile` filemarks. It never goes to end of data: after
 * a writer was killed, end of data is past a torn file (records without a
 * filemark), and the media database's append point is where the last
 * complete file ends. Spacing over filemarks stops exactly there, and
 * writing there erases the torn file (tape append semantics). A tape with
 * fewer complete files than the append point says is refused (84): files
 * the catalog may point at are missing, and this is not the volume the
 * media database thinks it is.
 *
 * `write` resolves with the fragment's location (the volume, the tape file
 * number and the logical block address where it starts, for `seekBlock`)
 * and `bytes`, the tar bytes it was given (the padding of the last record
 * is not counted; a reader trims to `bytes`). A drive error rejects with
 * the drive's TapeError (84); what was written is then a tape file that
 * nothing points at (closed by a filemark when one could still be written),
 * and the append point does not move. `appendFile` is
 * the next append point once a write resolved: the media database must
 * record it before the catalog commits an image holding that fragment.
 *
 * `endOfMedia` turns true once the drive reported early warning (or the
 * volume was past it when the sink first positioned): the writer then
 * closes the fragment at the next member boundary, which the space past
 * the mark is there for. `discard` leaves the file where it is: nothing
 * points at it, and the next append point or relabelling reclaims it.
 *
 * Chunks are copied into record-aligned buffers of `writeBytes` (two, so
 * one fills while the drive writes the other); no chunk is kept.
 */
export class TapeFragmentSink implements FragmentSink {
  readonly #drive: TapeDrive;
  readonly #mediaId: string;
  readonly #writeBytes: number;
  #appendFile: number;
  #earlyWarning = false;
  /** True while a write or a positioning is in progress. */
  #writing = false;

  /**
   * What the Mount step does with a volume a backup will append to: checks
   * its label (`checkMountedVolume`: 93 on the wrong tape), positions at the
   * append point (84 when the volume has fewer files than it says), and
   * returns the sink, ready to write there.
   */
  static async mount(options: TapeFragmentSinkOptions): Promise<TapeFragmentSink> {
    await checkMountedVolume(options.drive, options.mediaId);
    const sink = new TapeFragmentSink(options);
    await sink.position();
    return sink;
  }

  constructor(options: TapeFragmentSinkOptions) {
    if (!Number.isInteger(options.appendFile) || options.appendFile < 1) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `append point ${options.appendFile} of volume ${options.mediaId}: fragments start at tape file 1 (file 0 is the label)`);
    const blockSize = options.drive.blockSize;
    this.#drive = options.drive;
    this.#mediaId = options.mediaId;
    this.#appendFile = options.appendFile;
    this.#writeBytes = Math.max(blockSize, Math.floor((options.writeBytes ?? WRITE_BYTES) / blockSize) * blockSize);
  }

  get endOfMedia(): boolean {
    return this.#earlyWarning;
  }

  get mediaId(): string {
    return this.#mediaId;
  }

  /** The tape file the next fragment becomes: the volume's append point for the media database. */
  get appendFile(): number {
    return this.#appendFile;
  }

  /**
   * Positions the tape at the append point now, resolving with its logical
   * block, as `write` does before each fragment: the Mount step calls it so
   * that a volume that cannot be appended to fails the mount (84) rather
   * than the first write.
   */
  position(): Promise<number> {
    return this.#exclusive(() => this.#positionAtAppendPoint());
  }

  write(_number: number, body: AsyncIterable<Uint8Array>): Promise<WrittenFragment> {
    return this.#exclusive(async () => {
      const fileNumber = this.#appendFile;
      const blockOffset = await this.#positionAtAppendPoint();
      const bytes = await this.#writeFile(body);
      this.#appendFile = fileNumber + 1;
      return { location: { kind: 'tape', mediaId: this.#mediaId, fileNumber, blockOffset }, bytes };
    });
  }

  async discard(location: FragmentLocation): Promise<void> {
    if (location.kind !== 'tape' || location.mediaId !== this.#mediaId) throw new CairnError(StatusCode.INTERNAL_ERROR, `volume ${this.#mediaId} holds no fragment at ${JSON.stringify(location)}`);
    // Nothing to do: no catalog points at the file, and the tape cannot free it alone.
  }

  /** Runs `step` alone: one drive, one tape file at a time (the fragment writer never overlaps two writes; this says so if it did). */
  async #exclusive<T>(step: () => Promise<T>): Promise<T> {
    if (this.#writing) throw new CairnError(StatusCode.INTERNAL_ERROR, `volume ${this.#mediaId}: a fragment is already being written`);
    this.#writing = true;
    try {
      return await step();
    } finally {
      this.#writing = false;
    }
  }

  /** Puts the tape at block 0 of the append point; resolves with its logical block address. */
  async #positionAtAppendPoint(): Promise<number> {
    const drive = this.#drive;
    let status = await drive.status();
    if (status.fileNumber !== this.#appendFile || status.blockInFile !== 0 || status.block === undefined) {
      // From the start of an earlier file (after the label check: file 1), spacing forward is enough; from anywhere else, from the beginning.
      const from = status.blockInFile === 0 && status.fileNumber !== undefined && status.fileNumber < this.#appendFile ? status.fileNumber : 0;
      if (from === 0) await drive.rewind();
      try {
        await drive.forwardFiles(this.#appendFile - from);
      } catch (error) {
        if (error instanceof TapeError && error.fault === 'blank-check') {
          throw new CairnError(StatusCode.MEDIA_WRITE_ERROR, `volume ${this.#mediaId} in ${drive.path} has fewer than ${this.#appendFile} complete tape files (label included), but the media database's append point is file ${this.#appendFile}: files the catalog may point at are missing; not writing`, { cause: error });
        }
        throw error;
      }
      status = await drive.status();
    }
    if (status.fileNumber !== this.#appendFile || status.blockInFile !== 0 || status.block === undefined) {
      throw new TapeError('position-error', `volume ${this.#mediaId} in ${drive.path}: after spacing to tape file ${this.#appendFile} the drive reports file ${status.fileNumber ?? '?'}, block ${status.blockInFile ?? '?'} in it (logical block ${status.block ?? '?'})`);
    }
    if (status.earlyWarning) this.#earlyWarning = true;
    return status.block;
  }

  /**
   * Writes `body` as one tape file at the current position: full buffers of
   * `writeBytes` as they fill (at most one drive write in flight), then the
   * rest padded to a whole record, then the filemark. Resolves with the
   * bytes taken from `body`.
   */
  async #writeFile(body: AsyncIterable<Uint8Array>): Promise<number> {
    const drive = this.#drive;
    const blockSize = drive.blockSize;
    const buffers = [new Uint8Array(this.#writeBytes), new Uint8Array(this.#writeBytes)];
    let current = 0;
    let filled = 0;
    let total = 0;
    let inFlight: Promise<void> | undefined;
    const send = async (data: Uint8Array): Promise<void> => {
      const { earlyWarning } = await drive.writeRecords(data);
      if (earlyWarning) this.#earlyWarning = true;
    };
    try {
      for await (const chunk of body) {
        let at = 0;
        while (at < chunk.byteLength) {
          const buffer = buffers[current]!;
          const take = Math.min(chunk.byteLength - at, buffer.byteLength - filled);
          buffer.set(chunk.subarray(at, at + take), filled);
          filled += take;
          at += take;
          total += take;
          if (filled === buffer.byteLength) {
            // The other buffer's write must be done before this one starts: one write at a time, in order.
            await inFlight;
            inFlight = send(buffer);
            // A rejection is seen at the next await; keep it from counting as unhandled meanwhile.
            inFlight.catch(() => undefined);
            current = 1 - current;
            filled = 0;
          }
        }
      }
      await inFlight;
      inFlight = undefined;
      if (filled > 0) {
        const records = Math.ceil(filled / blockSize) * blockSize;
        const last = buffers[current]!;
        last.fill(0, filled, records);
        await send(last.subarray(0, records));
      }
      await drive.writeFilemarks(1);
      return total;
    } catch (error) {
      // A body that failed leaves a write of ours in flight: let it settle before the drive is used again.
      await inFlight?.catch(() => undefined);
      // Close the torn file, as the port asks before the tape moves (st would write the filemark itself then). Best
      // effort after a medium error: the error worth reporting is the first. The append point does not move, so the
      // next fragment overwrites this file whether or not its filemark made it.
      await drive.writeFilemarks(1).catch(() => undefined);
      throw error;
    }
  }
}
