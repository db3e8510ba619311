import { TapeError, type TapeDrive, type TapeRead, type TapeStatus } from '#core/ports/tape-drive.ts';
import { countedKind, hasTapeFaultTag, tapeFaultTag, type TapeFaultReport } from '#core/media/tape-fault.ts';

/** Which drive and volume the errors of a wrapped drive are about. */
export interface FaultContext {
  /** The drive's name in the media manager. */
  drive: string;
  /** The volume loaded in it, when the caller knows it. */
  mediaId?: string;
}

/**
 * Says what failed, around any TapeDrive (a wrapping drive, as
 * FaultyTapeDrive and restic's wrapping backends): a TapeError the media
 * manager counts (write, read, position: `countedKind`) is thrown again as
 * a TapeError of the same fault whose message ends with the report's tag
 * (`[tape-fault kind=write drive=d0 media=CRN001L6 file=3 block=120]`,
 * core/media/tape-fault.ts): the drive, the volume and where the tape was.
 * The tag survives every wrapper that keeps the message, up to the job's
 * failure, where Release records it (core/broker/tape-release.ts); a
 * caller that wants each report as it happens passes `onFault`. Other
 * errors pass unchanged.
 */
export class FaultReportingTapeDrive implements TapeDrive {
  readonly drive: TapeDrive;
  readonly #context: FaultContext;
  readonly #onFault: ((report: TapeFaultReport, error: TapeError) => Promise<void>) | undefined;

  constructor(drive: TapeDrive, context: FaultContext, onFault?: (report: TapeFaultReport, error: TapeError) => Promise<void>) {
    this.drive = drive;
    this.#context = context;
    this.#onFault = onFault;
  }

  get path(): string {
    return this.drive.path;
  }

  get blockSize(): number {
    return this.drive.blockSize;
  }

  status(): Promise<TapeStatus> {
    return this.#reporting(() => this.drive.status());
  }
  rewind(): Promise<void> {
    return this.#reporting(() => this.drive.rewind());
  }
  forwardFiles(count: number): Promise<void> {
    return this.#reporting(() => this.drive.forwardFiles(count));
  }
  backwardFiles(count: number): Promise<void> {
    return this.#reporting(() => this.drive.backwardFiles(count));
  }
  seekEndOfData(): Promise<void> {
    return this.#reporting(() => this.drive.seekEndOfData());
  }
  seekBlock(block: number): Promise<void> {
    return this.#reporting(() => this.drive.seekBlock(block));
  }
  writeRecords(data: Uint8Array): Promise<{ earlyWarning: boolean }> {
    return this.#reporting(() => this.drive.writeRecords(data));
  }
  writeFilemarks(count?: number): Promise<void> {
    return this.#reporting(() => this.drive.writeFilemarks(count));
  }
  readRecord(buffer: Uint8Array): Promise<TapeRead> {
    return this.#reporting(() => this.drive.readRecord(buffer));
  }
  eject(): Promise<void> {
    return this.#reporting(() => this.drive.eject());
  }
  close(): Promise<void> {
    return this.drive.close();
  }

  async #reporting<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw await this.#reported(error);
    }
  }

  async #reported(error: unknown): Promise<unknown> {
    if (!(error instanceof TapeError)) return error;
    const kind = countedKind(error.fault);
    if (kind === undefined || hasTapeFaultTag(error.message)) return error;
    // Where the tape is now, when the drive can still say (best effort: a drive that failed may not).
    const where = await this.drive.status().catch(() => undefined);
    const report: TapeFaultReport = {
      kind,
      drive: this.#context.drive,
      ...(this.#context.mediaId === undefined ? {} : { mediaId: this.#context.mediaId }),
      ...(where?.fileNumber === undefined ? {} : { tapeFile: where.fileNumber }),
      ...(where?.block === undefined ? {} : { block: where.block }),
    };
    const tagged = new TapeError(error.fault, `${error.message} ${tapeFaultTag(report)}`, { cause: error });
    // A failure to record must not hide the tape error itself.
    await this.#onFault?.(report, tagged).catch(() => undefined);
    return tagged;
  }
}
