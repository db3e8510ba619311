import { TapeError, type TapeDrive, type TapeRead, type TapeStatus } from '#core/ports/tape-drive.ts';

/** Which operations fail. Counts start when the faults are injected (constructor or `inject`); each N is 1-based. */
export interface TapeFaults {
  /** The write that carries the Nth record written from now fails with 'write-error'; nothing of it reaches the drive. */
  writeErrorAtRecord?: number;
  /** The read of the Nth record read from now fails with 'read-error' (the drive read it: the tape is past it, as after a medium error). Filemarks and end of data are not records. */
  readErrorAtRecord?: number;
  /** The Nth positioning operation from now (rewind, forwardFiles, backwardFiles, seekEndOfData, seekBlock) fails with 'position-error' without reaching the drive. */
  positionErrorAtCall?: number;
  /** Once a fault struck, every later operation of its kind fails too (a dead drive, a ruined volume); with a write fault, filemarks too. Default: only the one. */
  sticky?: boolean;
}

/**
 * Fault injection around any TapeDrive (kopia's faulty storage, restic's
 * wrapping backends): tests of the media manager's error counts, volume
 * freezing and retries pass a `FaultyTapeDrive(drive)` where the drive would
 * go. Without faults it changes nothing. A fault is a TapeError, as the
 * drive's own would be, whose message says it was injected.
 */
export class FaultyTapeDrive implements TapeDrive {
  readonly drive: TapeDrive;
  #faults: TapeFaults;
  #recordsWritten = 0;
  #recordsRead = 0;
  #positionCalls = 0;
  /** The write fault struck once already (a retry of the same write goes through unless sticky). */
  #writeFired = false;
  #struck = { write: false, read: false, position: false };
  /** Faults raised so far, by kind. */
  readonly injected = { write: 0, read: 0, position: 0 };

  constructor(drive: TapeDrive, faults: TapeFaults = {}) {
    this.drive = drive;
    this.#faults = faults;
  }

  get path(): string {
    return this.drive.path;
  }

  get blockSize(): number {
    return this.drive.blockSize;
  }

  /** Replaces the faults and starts counting again (what was injected so far stays counted). */
  inject(faults: TapeFaults): void {
    this.#faults = faults;
    this.#recordsWritten = 0;
    this.#recordsRead = 0;
    this.#positionCalls = 0;
    this.#writeFired = false;
    this.#struck = { write: false, read: false, position: false };
  }

  status(): Promise<TapeStatus> {
    return this.drive.status();
  }

  async rewind(): Promise<void> {
    this.#position('rewind');
    await this.drive.rewind();
  }

  async forwardFiles(count: number): Promise<void> {
    this.#position(`forwardFiles(${count})`);
    await this.drive.forwardFiles(count);
  }

  async backwardFiles(count: number): Promise<void> {
    this.#position(`backwardFiles(${count})`);
    await this.drive.backwardFiles(count);
  }

  async seekEndOfData(): Promise<void> {
    this.#position('seekEndOfData');
    await this.drive.seekEndOfData();
  }

  async seekBlock(block: number): Promise<void> {
    this.#position(`seekBlock(${block})`);
    await this.drive.seekBlock(block);
  }

  async writeRecords(data: Uint8Array): Promise<{ earlyWarning: boolean }> {
    const count = Math.floor(data.byteLength / this.drive.blockSize);
    const at = this.#faults.writeErrorAtRecord;
    if (this.#struck.write) {
      this.injected.write += 1;
      throw new TapeError('write-error', `${this.path}: injected write error (the drive failed at record ${at})`);
    }
    if (!this.#writeFired && at !== undefined && at > this.#recordsWritten && at <= this.#recordsWritten + count) {
      this.#writeFired = true;
      this.#strike('write');
      throw new TapeError('write-error', `${this.path}: injected write error at record ${at}`);
    }
    const result = await this.drive.writeRecords(data);
    this.#recordsWritten += count;
    return result;
  }

  async writeFilemarks(count?: number): Promise<void> {
    if (this.#struck.write) {
      this.injected.write += 1;
      throw new TapeError('write-error', `${this.path}: injected write error (filemark after a write error)`);
    }
    await this.drive.writeFilemarks(count);
  }

  async readRecord(buffer: Uint8Array): Promise<TapeRead> {
    if (this.#struck.read) {
      this.injected.read += 1;
      throw new TapeError('read-error', `${this.path}: injected read error (after the one at record ${this.#faults.readErrorAtRecord})`);
    }
    const read = await this.drive.readRecord(buffer);
    if (read.kind !== 'record') return read;
    this.#recordsRead += 1;
    if (this.#recordsRead === this.#faults.readErrorAtRecord) {
      this.#strike('read');
      throw new TapeError('read-error', `${this.path}: injected read error at record ${this.#recordsRead}`);
    }
    return read;
  }

  eject(): Promise<void> {
    return this.drive.eject();
  }

  close(): Promise<void> {
    return this.drive.close();
  }

  #position(operation: string): void {
    this.#positionCalls += 1;
    if (this.#struck.position || this.#positionCalls === this.#faults.positionErrorAtCall) {
      this.#strike('position');
      throw new TapeError('position-error', `${this.path}: injected position error on ${operation} (call ${this.#positionCalls})`);
    }
  }

  #strike(kind: 'write' | 'read' | 'position'): void {
    this.injected[kind] += 1;
    if (this.#faults.sticky) this.#struck[kind] = true;
  }
}
