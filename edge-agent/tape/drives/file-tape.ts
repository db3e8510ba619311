import { open, type FileHandle } from 'node:fs/promises';
import { ValidationError } from '#core/errors.ts';
import { TapeError, type TapeDrive, type TapeRead, type TapeStatus } from '#core/ports/tape-drive.ts';
import { EarlyWriteback } from '../../transport/early-writeback.ts';
import { DATA_OFFSET, HEADER_BYTES, MARK_ENTRY_BYTES, MARK_TABLE_OFFSET, MAX_FILEMARKS, decodeHeader, decodeMarks, encodeHeader, encodeMarks } from './file-tape-format.ts';

export interface FileTapeOptions {
  /** Bytes per record (a multiple of 512, as tar's records are). */
  blockSize: number;
  /**
   * Bytes of records the volume holds (filemarks take none); a write that
   * would go past it fails with end of media. Unset: unlimited.
   */
  capacityBytes?: number;
  /**
   * How far before `capacityBytes` the early-warning mark is. Default: a
   * tenth of the capacity, at most 64 MiB, at least one record.
   */
  earlyWarningBytes?: number;
}

/** What the drive knows of the loaded volume: see file-tape-format.ts for the encoding. */
type Volume =
  | { kind: 'blank' }
  | { kind: 'cairn'; blockSize: number }
  /** A non-empty file without a file-tape header: positions work, reads fail, a write at the beginning of tape formats it. */
  | { kind: 'foreign' };

const DEFAULT_EARLY_WARNING_MAX = 64 * 1024 * 1024;

/**
 * A tape drive whose volume is a plain file (a virtual library's volume;
 * disk-changer's `driveN` link is opened through the link), with st's
 * semantics: fixed-size records, filemarks, end of data, positions as
 * core/ports/tape-drive.ts describes them, append-only writes, a capacity
 * with an early-warning mark.
 *
 * Durability follows tape: records are written with one pwrite per call and
 * not synced (a drive buffers too); a filemark syncs the records before it,
 * then the filemark (WRITE FILEMARKS flushes the drive's buffer). While
 * records stream, the disk is started on them every 32 MiB (early
 * writeback, not waited for), as a drive's buffer drains while the host
 * fills it, so the filemark's sync has only the tail to wait for; an early
 * flush that failed is the next write's or filemark's write error (st's
 * deferred error). A process
 * killed mid-write leaves every complete tape file readable; the records
 * after the last filemark that reached the file are on the volume as an
 * unterminated tape file before end of data, and a torn last record (the
 * file ends inside one) is not a record: end of data is before it and the
 * next write goes over it. See edge-agent/tape/drives/README.md.
 *
 * One FileTape per volume at a time (the broker never puts a volume in two
 * drives); operations on one drive run one after another.
 */
export class FileTape implements TapeDrive {
  readonly path: string;
  readonly blockSize: number;
  readonly #capacityBytes: number | undefined;
  readonly #earlyWarningAt: number;
  #file: FileHandle | undefined;
  readonly #writable: boolean;
  #volume: Volume;
  /** Records after which each filemark is, in order. */
  #marks: number[];
  /** Whole records on the volume. */
  #records: number;
  /** Bytes the file has now, a torn record included. */
  #fileBytes: number;
  /** Position: records and filemarks between the beginning of tape and here. */
  #record = 0;
  #mark = 0;
  #queue: Promise<unknown> = Promise.resolve();
  /** Early flushes of the records being written (see the class comment); one per open volume file. */
  #writeback: EarlyWriteback | undefined;

  private constructor(path: string, options: FileTapeOptions, file: FileHandle, writable: boolean, volume: Volume, marks: number[], records: number, fileBytes: number) {
    this.path = path;
    this.blockSize = options.blockSize;
    this.#capacityBytes = options.capacityBytes;
    const capacity = options.capacityBytes ?? Number.POSITIVE_INFINITY;
    const warning = options.earlyWarningBytes ?? Math.max(options.blockSize, Math.min(DEFAULT_EARLY_WARNING_MAX, Math.floor(capacity / 10)));
    this.#earlyWarningAt = capacity - warning;
    this.#file = file;
    this.#writable = writable;
    this.#volume = volume;
    this.#marks = marks;
    this.#records = records;
    this.#fileBytes = fileBytes;
  }

  /**
   * Loads the volume at `path` (following a symlink) at the beginning of
   * tape. A missing file is a drive with no volume: TapeError 'not-ready'.
   * A file this process may not write is a write-protected volume.
   */
  static async open(path: string, options: FileTapeOptions): Promise<FileTape> {
    checkOptions(options);
    let file: FileHandle;
    let writable = true;
    try {
      file = await open(path, 'r+');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EACCES' && code !== 'EROFS' && code !== 'EPERM') throw new TapeError('not-ready', `no volume in file tape drive ${path}: ${code ?? String(error)}`, { cause: error });
      writable = false;
      try {
        file = await open(path, 'r');
      } catch (again) {
        throw new TapeError('not-ready', `file tape drive ${path} cannot be opened: ${(again as NodeJS.ErrnoException).code ?? String(again)}`, { cause: again });
      }
    }
    try {
      const { size } = await file.stat();
      if (size === 0) return new FileTape(path, options, file, writable, { kind: 'blank' }, [], 0, 0);
      const header = decodeHeader(await readAt(file, HEADER_BYTES, 0));
      if (!header) return new FileTape(path, options, file, writable, { kind: 'foreign' }, [], 0, size);
      const records = Math.max(0, Math.floor((size - DATA_OFFSET) / header.blockSize));
      const marks = decodeMarks(await readAt(file, DATA_OFFSET - MARK_TABLE_OFFSET, MARK_TABLE_OFFSET), records);
      return new FileTape(path, options, file, writable, { kind: 'cairn', blockSize: header.blockSize }, marks, records, size);
    } catch (error) {
      await file.close();
      throw new TapeError('read-error', `file tape ${path} cannot be read: ${String(error)}`, { cause: error });
    }
  }

  /** Byte offset in the volume file of the first record of tape file `fileNumber` (where GNU tar reads a fragment from). */
  byteOffsetOf(fileNumber: number): number {
    if (!Number.isSafeInteger(fileNumber) || fileNumber < 0 || fileNumber > this.#marks.length) throw new ValidationError('no such tape file', [`fileNumber: ${fileNumber} (the volume has ${this.#marks.length} filemarks)`]);
    return DATA_OFFSET + (fileNumber === 0 ? 0 : this.#marks[fileNumber - 1]!) * this.#recordBytes();
  }

  status(): Promise<TapeStatus> {
    return this.#serial(async () => {
      const online = this.#file !== undefined;
      const start = this.#mark === 0 ? 0 : this.#marks[this.#mark - 1]!;
      return {
        online,
        fileNumber: this.#mark,
        blockInFile: this.#record - start,
        block: this.#record + this.#mark,
        atBeginning: this.#record === 0 && this.#mark === 0,
        atEndOfData: this.#atEndOfData(),
        earlyWarning: this.#pastEarlyWarning(this.#record),
        writeProtected: !this.#writable,
      };
    });
  }

  rewind(): Promise<void> {
    return this.#serial(async () => {
      this.#loaded();
      this.#moveTo(0, 0);
    });
  }

  forwardFiles(count: number): Promise<void> {
    return this.#serial(async () => {
      this.#loaded();
      checkCount(count);
      for (let i = 0; i < count; i += 1) {
        if (this.#mark >= this.#marks.length) {
          this.#moveTo(this.#records, this.#marks.length);
          throw new TapeError('blank-check', `${this.path}: end of data after ${i} of ${count} filemarks`);
        }
        this.#moveTo(this.#marks[this.#mark]!, this.#mark + 1);
      }
    });
  }

  backwardFiles(count: number): Promise<void> {
    return this.#serial(async () => {
      this.#loaded();
      checkCount(count);
      if (count === 0) return;
      if (count > this.#mark) {
        this.#moveTo(0, 0);
        throw new TapeError('position-error', `${this.path}: beginning of tape reached after ${this.#mark} of ${count} filemarks`);
      }
      const mark = this.#mark - count;
      this.#moveTo(this.#marks[mark]!, mark);
    });
  }

  seekEndOfData(): Promise<void> {
    return this.#serial(async () => {
      this.#loaded();
      this.#moveTo(this.#records, this.#marks.length);
    });
  }

  seekBlock(block: number): Promise<void> {
    return this.#serial(async () => {
      this.#loaded();
      if (!Number.isSafeInteger(block) || block < 0) throw new ValidationError('bad tape block', [`block: ${block} (a whole number from 0)`]);
      const endOfData = this.#records + this.#marks.length;
      if (block > endOfData) {
        this.#moveTo(this.#records, this.#marks.length);
        throw new TapeError('blank-check', `${this.path}: block ${block} is past end of data (block ${endOfData})`);
      }
      // Filemark k sits at logical block marks[k] + k; those before `block` are behind the new position.
      let low = 0;
      let high = this.#marks.length;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if (this.#marks[middle]! + middle < block) low = middle + 1;
        else high = middle;
      }
      this.#moveTo(block - low, low);
    });
  }

  writeRecords(data: Uint8Array): Promise<{ earlyWarning: boolean }> {
    return this.#serial(async () => {
      const file = this.#writableFile();
      if (data.byteLength % this.blockSize !== 0) throw new ValidationError('a tape write is whole records', [`bytes: ${data.byteLength} is not a multiple of the block size ${this.blockSize}`]);
      const count = data.byteLength / this.blockSize;
      if (count === 0) return { earlyWarning: this.#pastEarlyWarning(this.#record) };
      const after = this.#record + count;
      if (this.#capacityBytes !== undefined && after * this.blockSize > this.#capacityBytes) {
        throw new TapeError('end-of-media', `${this.path}: end of media: ${count} records at record ${this.#record} do not fit in ${this.#capacityBytes} bytes (nothing written)`);
      }
      await this.#prepareWrite(file);
      const at = DATA_OFFSET + this.#record * this.blockSize;
      const writeback = this.#writebackOf(file);
      if (writeback.failure) throw deferredWriteError(this.path, this.#record, writeback.failure.error);
      try {
        await writeAll(file, data, at);
      } catch (error) {
        // Whatever part reached the file is not on tape: end of data stays where the write began.
        await file.truncate(at).catch(() => undefined);
        this.#fileBytes = at;
        throw new TapeError('write-error', `${this.path}: write of ${count} records at record ${this.#record} failed: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
      }
      this.#records = after;
      this.#fileBytes = at + data.byteLength;
      this.#record = after;
      writeback.wrote(data.byteLength);
      return { earlyWarning: this.#pastEarlyWarning(after) };
    });
  }

  writeFilemarks(count = 1): Promise<void> {
    return this.#serial(async () => {
      const file = this.#writableFile();
      checkCount(count);
      try {
        if (count === 0) {
          await file.datasync();
          return;
        }
        if (this.#mark + count > MAX_FILEMARKS) throw new TapeError('end-of-media', `${this.path}: the volume's filemark table is full (${MAX_FILEMARKS} filemarks)`);
        await this.#prepareWrite(file);
        // The records first, then the marks that close them: a mark on disk always has its records.
        const writeback = this.#writebackOf(file);
        await writeback.settle().catch((error: unknown) => {
          throw deferredWriteError(this.path, this.#record, error);
        });
        await file.datasync();
        await writeAll(file, encodeMarks(this.#mark, Array.from({ length: count }, () => this.#record)), MARK_TABLE_OFFSET + this.#mark * MARK_ENTRY_BYTES);
        await file.datasync();
      } catch (error) {
        if (error instanceof TapeError) throw error;
        throw new TapeError('write-error', `${this.path}: writing ${count} filemarks at record ${this.#record} failed: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
      }
      for (let i = 0; i < count; i += 1) this.#marks.push(this.#record);
      this.#mark += count;
    });
  }

  readRecord(buffer: Uint8Array): Promise<TapeRead> {
    return this.#serial(async (): Promise<TapeRead> => {
      const file = this.#loaded();
      if (buffer.byteLength < this.blockSize) throw new ValidationError('a tape read takes a whole record', [`buffer: ${buffer.byteLength} bytes, the block size is ${this.blockSize}`]);
      if (this.#volume.kind === 'foreign') throw new TapeError('read-error', `${this.path} is not a file tape (no CAIRN-FILE-TAPE header)`);
      if (this.#mark < this.#marks.length && this.#marks[this.#mark] === this.#record) {
        this.#mark += 1;
        return { kind: 'filemark' };
      }
      if (this.#record >= this.#records) return { kind: 'end-of-data' };
      const recordBytes = this.#recordBytes();
      if (recordBytes !== this.blockSize) throw new TapeError('read-error', `${this.path}: the volume's records are ${recordBytes} bytes, the drive reads ${this.blockSize}`);
      try {
        const { bytesRead } = await file.read(buffer, 0, this.blockSize, DATA_OFFSET + this.#record * this.blockSize);
        if (bytesRead !== this.blockSize) throw new Error(`short read: ${bytesRead} of ${this.blockSize} bytes`);
      } catch (error) {
        throw new TapeError('read-error', `${this.path}: reading record ${this.#record} failed: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
      }
      this.#record += 1;
      return { kind: 'record', bytes: this.blockSize };
    });
  }

  eject(): Promise<void> {
    return this.#serial(async () => {
      this.#moveTo(0, 0);
      await this.#closeFile();
    });
  }

  close(): Promise<void> {
    return this.#serial(() => this.#closeFile());
  }

  async #closeFile(): Promise<void> {
    const file = this.#file;
    this.#file = undefined;
    // No flush may be left running on a descriptor being closed; its failure no longer matters to anyone.
    await this.#writeback?.settle().catch(() => undefined);
    this.#writeback = undefined;
    await file?.close();
  }

  #writebackOf(file: FileHandle): EarlyWriteback {
    this.#writeback ??= new EarlyWriteback(file);
    return this.#writeback;
  }

  /** Runs one operation after the ones before it (a drive does one thing at a time). */
  #serial<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(operation);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  #loaded(): FileHandle {
    if (!this.#file) throw new TapeError('not-ready', `file tape drive ${this.path} has no volume loaded (ejected or closed)`);
    return this.#file;
  }

  #writableFile(): FileHandle {
    const file = this.#loaded();
    if (!this.#writable) throw new TapeError('write-protected', `${this.path}: the volume file is read-only`);
    return file;
  }

  #recordBytes(): number {
    return this.#volume.kind === 'cairn' ? this.#volume.blockSize : this.blockSize;
  }

  #moveTo(record: number, mark: number): void {
    this.#record = record;
    this.#mark = mark;
  }

  #atEndOfData(): boolean {
    return this.#record === this.#records && this.#mark === this.#marks.length;
  }

  #pastEarlyWarning(records: number): boolean {
    return records * this.blockSize > this.#earlyWarningAt;
  }

  /**
   * Before any write: a write at the beginning of tape (re)formats the
   * volume with this drive's block size; elsewhere the volume's records
   * must be this drive's size. Then everything after the position is
   * erased, filemarks first (one pwrite of zeros ends the table there), so
   * a crash in between never leaves a filemark past the records.
   */
  async #prepareWrite(file: FileHandle): Promise<void> {
    const atBeginning = this.#record === 0 && this.#mark === 0;
    if (atBeginning && (this.#volume.kind !== 'cairn' || this.#volume.blockSize !== this.blockSize)) {
      if (this.#volume.kind === 'foreign') {
        await file.truncate(0);
        this.#fileBytes = 0;
      }
      await writeAll(file, encodeHeader({ blockSize: this.blockSize }), 0);
      this.#fileBytes = Math.max(this.#fileBytes, HEADER_BYTES);
      this.#volume = { kind: 'cairn', blockSize: this.blockSize };
    } else if (this.#recordBytes() !== this.blockSize) {
      throw new TapeError('write-error', `${this.path}: the volume's records are ${this.#recordBytes()} bytes, the drive writes ${this.blockSize}; rewrite it from the beginning of tape`);
    }
    if (this.#mark < this.#marks.length) {
      await writeAll(file, Buffer.alloc((this.#marks.length - this.#mark) * MARK_ENTRY_BYTES), MARK_TABLE_OFFSET + this.#mark * MARK_ENTRY_BYTES);
      this.#marks.length = this.#mark;
    }
    const end = DATA_OFFSET + this.#record * this.blockSize;
    // Records past the position, or a torn record a killed writer left: erased.
    if (this.#fileBytes > end) {
      await file.truncate(end);
      this.#fileBytes = end;
    }
    this.#records = this.#record;
  }
}

function checkOptions(options: FileTapeOptions): void {
  const problems: string[] = [];
  const { blockSize, capacityBytes, earlyWarningBytes } = options;
  if (!Number.isSafeInteger(blockSize) || blockSize <= 0 || blockSize % 512 !== 0) problems.push(`blockSize: ${blockSize} (a positive multiple of 512)`);
  if (capacityBytes !== undefined && (!Number.isSafeInteger(capacityBytes) || capacityBytes < blockSize)) problems.push(`capacityBytes: ${capacityBytes} (at least one record)`);
  if (earlyWarningBytes !== undefined && (!Number.isSafeInteger(earlyWarningBytes) || earlyWarningBytes < 0 || (capacityBytes !== undefined && earlyWarningBytes >= capacityBytes))) {
    problems.push(`earlyWarningBytes: ${earlyWarningBytes} (from 0, less than the capacity)`);
  }
  if (problems.length > 0) throw new ValidationError('bad file tape options', problems);
}

/** An early flush (see the class comment) failed: the records written since the last filemark may not be on the volume. */
function deferredWriteError(path: string, record: number, cause: unknown): TapeError {
  return new TapeError('write-error', `${path}: a flush of the records before record ${record} failed: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, { cause });
}

function checkCount(count: number): void {
  if (!Number.isSafeInteger(count) || count < 0) throw new ValidationError('bad tape count', [`count: ${count} (a whole number from 0)`]);
}

async function readAt(file: FileHandle, length: number, position: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buffer.subarray(0, done);
}

async function writeAll(file: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.byteLength) {
    const { bytesWritten } = await file.write(data, done, data.byteLength - done, position + done);
    done += bytesWritten;
  }
}
