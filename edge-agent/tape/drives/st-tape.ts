import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { ValidationError } from '#core/errors.ts';
import { TapeError, type TapeDrive, type TapeFault, type TapeRead, type TapeStatus } from '#core/ports/tape-drive.ts';
import { parseMtStatus, parseMtTell, type MtStatus } from './mt-status.ts';

export interface StTapeOptions {
  /** Bytes per record: the drive is put in fixed-block mode with this size (`mt setblk`). */
  blockSize: number;
  /** The mt-st program (default `mt` on PATH). */
  mt?: string;
  /** How long one mt command may take: a rewind or a space to end of data runs for minutes on a full tape. Default 30 minutes. */
  mtTimeoutMs?: number;
}

interface OpenDevice {
  file: FileHandle;
  mode: 'read' | 'write';
}

/** Where the tape is, as far as this drive knows while the device is open for writing (mt cannot run then). */
interface Tracked {
  fileNumber?: number;
  blockInFile?: number;
  block?: number;
}

const DEFAULT_MT_TIMEOUT_MS = 30 * 60 * 1000;

/**
 * A Linux st drive through its non-rewinding device (`/dev/nstN`): records
 * are whole `read`/`write` calls of the fixed block size, filemarks and
 * positioning are mt-st commands (`mt -f DEV weof|fsf|bsf|eod|seek|rewind|
 * offline`), and status is `mt status` and `mt tell`.
 *
 * st lets one process open a drive at a time, and mt opens it itself, so
 * the device is open only between records: opened for a run of writes or
 * reads, closed before any mt command. Two st rules follow (Linux
 * Documentation/scsi/st.rst):
 * - closing a device after writing writes a filemark. `writeFilemarks`
 *   uses that (the close is the first filemark); any other operation right
 *   after records (positioning, reading, `close`) also ends the tape file
 *   with a filemark, so callers end each tape file with `writeFilemarks`.
 * - while the device is open for writing, `status` answers from what this
 *   drive counted since it opened (mt cannot run), not from the drive.
 *
 * End of media follows st: the write that passes the early-warning mark
 * completes; the next one fails with ENOSPC and is tried once more, which
 * st lets through (room for a trailer): it succeeds with `earlyWarning`
 * set, and every later write reports it too. A write that still fails, or
 * a short write (physical end), is 'end-of-media'; on st the records a
 * short write put on tape stay there (`status().block` tells), unlike a
 * file tape's all-or-nothing write.
 *
 * After `mt seek` and `mt bsf`, st prints -1 for what it lost track of
 * (file number, block in file): those are undefined in `status`.
 */
export class StTape implements TapeDrive {
  readonly path: string;
  readonly blockSize: number;
  readonly #mt: string;
  readonly #timeoutMs: number;
  #device: OpenDevice | undefined;
  #tracked: Tracked = {};
  /** Past the early-warning mark (a write got ENOSPC); cleared when the tape moves back. */
  #earlyWarning = false;
  /** The last operation left the tape at end of data (a write, a filemark, eod); st's EOD flag only shows after it read or spaced into it. */
  #atEnd = false;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(path: string, options: StTapeOptions) {
    this.path = path;
    this.blockSize = options.blockSize;
    this.#mt = options.mt ?? 'mt';
    this.#timeoutMs = options.mtTimeoutMs ?? DEFAULT_MT_TIMEOUT_MS;
  }

  /**
   * Opens the drive at `path` (a character device; `/dev/nstN`, never the
   * rewinding `/dev/stN`) and sets its fixed block size. The tape stays
   * where it is. No tape loaded, a busy drive, a device that is not a tape:
   * TapeError 'not-ready' with mt's words.
   */
  static async open(path: string, options: StTapeOptions): Promise<StTape> {
    if (!Number.isSafeInteger(options.blockSize) || options.blockSize <= 0 || options.blockSize % 512 !== 0) {
      throw new ValidationError('bad st drive options', [`blockSize: ${options.blockSize} (a positive multiple of 512)`]);
    }
    const info = await stat(path).catch((error: unknown) => {
      throw new TapeError('not-ready', `tape drive ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
    });
    if (!info.isCharacterDevice()) throw new TapeError('not-ready', `tape drive ${path} is not a character device (an st drive is /dev/nstN)`);
    const drive = new StTape(path, options);
    await drive.#run(['setblk', String(options.blockSize)], 'not-ready');
    return drive;
  }

  status(): Promise<TapeStatus> {
    return this.#serial(async () => {
      if (this.#device?.mode === 'write') {
        return { online: true, ...this.#tracked, atBeginning: false, atEndOfData: true, earlyWarning: this.#earlyWarning, writeProtected: false };
      }
      await this.#closeDevice();
      const status = await this.#status();
      const block = await this.#tell().catch(() => undefined);
      return {
        online: status.flags.has('ONLINE'),
        fileNumber: status.fileNumber,
        blockInFile: status.blockNumber,
        block,
        atBeginning: status.flags.has('BOT'),
        atEndOfData: this.#atEnd || status.flags.has('EOD'),
        earlyWarning: this.#earlyWarning || status.flags.has('EOT'),
        writeProtected: status.flags.has('WR_PROT'),
      };
    });
  }

  rewind(): Promise<void> {
    return this.#serial(() => this.#position(['rewind'], 'position-error', () => {
      this.#earlyWarning = false;
    }));
  }

  forwardFiles(count: number): Promise<void> {
    return this.#serial(async () => {
      checkCount(count);
      if (count > 0) await this.#position(['fsf', String(count)], 'blank-check');
    });
  }

  backwardFiles(count: number): Promise<void> {
    return this.#serial(async () => {
      checkCount(count);
      if (count > 0) {
        await this.#position(['bsf', String(count)], 'position-error', () => {
          this.#earlyWarning = false;
        });
      }
    });
  }

  seekEndOfData(): Promise<void> {
    return this.#serial(() => this.#position(['eod'], 'position-error', () => {
      this.#atEnd = true;
    }));
  }

  seekBlock(block: number): Promise<void> {
    return this.#serial(async () => {
      if (!Number.isSafeInteger(block) || block < 0) throw new ValidationError('bad tape block', [`block: ${block} (a whole number from 0)`]);
      await this.#position(['seek', String(block)], 'blank-check', () => {
        this.#earlyWarning = false;
      });
    });
  }

  writeRecords(data: Uint8Array): Promise<{ earlyWarning: boolean }> {
    return this.#serial(async () => {
      if (data.byteLength % this.blockSize !== 0) throw new ValidationError('a tape write is whole records', [`bytes: ${data.byteLength} is not a multiple of the block size ${this.blockSize}`]);
      if (data.byteLength === 0) return { earlyWarning: this.#earlyWarning };
      const { file } = await this.#openFor('write');
      let done = 0;
      let retried = false;
      try {
        while (done < data.byteLength) {
          let written: number;
          try {
            ({ bytesWritten: written } = await file.write(data, done, data.byteLength - done, null));
          } catch (error) {
            // st: the write after the one that passed early warning fails once with ENOSPC; the next goes through.
            if ((error as NodeJS.ErrnoException).code !== 'ENOSPC' || retried) throw error;
            retried = true;
            this.#earlyWarning = true;
            continue;
          }
          this.#count(written);
          done += written;
          if (written === 0 || written % this.blockSize !== 0) throw new TapeError('end-of-media', `${this.path}: end of media: ${Math.floor(done / this.blockSize)} of ${data.byteLength / this.blockSize} records written`);
        }
      } catch (error) {
        if (error instanceof TapeError) throw error;
        const code = (error as NodeJS.ErrnoException).code;
        const fault: TapeFault = code === 'ENOSPC' || (code === 'EIO' && this.#earlyWarning) ? 'end-of-media' : code === 'EROFS' || code === 'EACCES' ? 'write-protected' : 'write-error';
        throw new TapeError(fault, `${this.path}: write failed after ${done / this.blockSize} of ${data.byteLength / this.blockSize} records: ${code ?? String(error)}`, { cause: error });
      }
      return { earlyWarning: this.#earlyWarning };
    });
  }

  writeFilemarks(count = 1): Promise<void> {
    return this.#serial(async () => {
      checkCount(count);
      let left = count;
      if (this.#device?.mode === 'write' && left > 0) {
        // Closing after writing is st's own filemark.
        await this.#closeDevice();
        left -= 1;
      }
      // No filemark asked with the device open for writing: nothing to do, st flushes its buffer at the next filemark (mt cannot run while the device is open).
      if (count === 0 && this.#device) return;
      if (left > 0 || count === 0) await this.#run(['weof', String(left)], 'write-error');
      this.#atEnd = true;
    });
  }

  readRecord(buffer: Uint8Array): Promise<TapeRead> {
    return this.#serial(async (): Promise<TapeRead> => {
      if (buffer.byteLength < this.blockSize) throw new ValidationError('a tape read takes a whole record', [`buffer: ${buffer.byteLength} bytes, the block size is ${this.blockSize}`]);
      const { file } = await this.#openFor('read');
      let bytes: number;
      try {
        ({ bytesRead: bytes } = await file.read(buffer, 0, this.blockSize, null));
      } catch (error) {
        throw new TapeError('read-error', `${this.path}: read failed: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
      }
      this.#atEnd = false;
      if (bytes === this.blockSize) return { kind: 'record', bytes };
      if (bytes !== 0) throw new TapeError('read-error', `${this.path}: read a ${bytes}-byte record, the drive's block size is ${this.blockSize}`);
      // Zero bytes: a filemark (st is then past it) or end of data; st's status says which.
      await this.#closeDevice();
      if ((await this.#status()).flags.has('EOD')) {
        this.#atEnd = true;
        return { kind: 'end-of-data' };
      }
      return { kind: 'filemark' };
    });
  }

  eject(): Promise<void> {
    return this.#serial(() => this.#position(['offline'], 'not-ready'));
  }

  close(): Promise<void> {
    return this.#serial(() => this.#closeDevice());
  }

  #serial<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(operation);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /** A positioning command: the device closed first, the tape no longer at a known end of data unless `after` says so. */
  async #position(args: string[], fault: TapeFault, after?: () => void): Promise<void> {
    await this.#closeDevice();
    this.#atEnd = false;
    try {
      await this.#run(args, fault);
    } catch (error) {
      // st answers EIO both past end of data and at the beginning of tape: the status bits say which.
      if (error instanceof TapeError && fault !== 'not-ready') {
        const flags = (await this.#status().catch(() => undefined))?.flags;
        if (flags?.has('EOD')) throw new TapeError('blank-check', error.message, { cause: error });
        if (flags?.has('BOT') && args[0] !== 'rewind') throw new TapeError('position-error', error.message, { cause: error });
      }
      throw error;
    }
    after?.();
  }

  async #openFor(mode: 'read' | 'write'): Promise<OpenDevice> {
    if (this.#device?.mode === mode) return this.#device;
    await this.#closeDevice();
    if (mode === 'write') {
      const status = await this.#status();
      this.#tracked = { fileNumber: status.fileNumber, blockInFile: status.blockNumber, block: await this.#tell().catch(() => undefined) };
    }
    try {
      // O_NONBLOCK is not used: st waits for the drive to become ready at open.
      const file = await open(this.path, mode === 'write' ? constants.O_RDWR : constants.O_RDONLY);
      this.#device = { file, mode };
      if (mode === 'write') this.#atEnd = true;
      return this.#device;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const fault: TapeFault = code === 'EROFS' || code === 'EACCES' ? 'write-protected' : code === 'EBUSY' || code === 'ENOMEDIUM' || code === 'ENXIO' || code === 'ENOENT' ? 'not-ready' : mode === 'write' ? 'write-error' : 'read-error';
      throw new TapeError(fault, `${this.path}: cannot open for ${mode === 'write' ? 'writing' : 'reading'}: ${code ?? String(error)}`, { cause: error });
    }
  }

  /** Closes the device; after writing, st writes a filemark then (counted in the tracked position). */
  async #closeDevice(): Promise<void> {
    const device = this.#device;
    if (!device) return;
    this.#device = undefined;
    try {
      await device.file.close();
    } catch (error) {
      throw new TapeError(device.mode === 'write' ? 'write-error' : 'read-error', `${this.path}: closing the device failed: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
    }
    if (device.mode === 'write') {
      const { fileNumber, block } = this.#tracked;
      this.#tracked = { fileNumber: fileNumber === undefined ? undefined : fileNumber + 1, blockInFile: 0, block: block === undefined ? undefined : block + 1 };
    }
  }

  #count(bytes: number): void {
    const records = Math.floor(bytes / this.blockSize);
    const { fileNumber, blockInFile, block } = this.#tracked;
    this.#tracked = { fileNumber, blockInFile: blockInFile === undefined ? undefined : blockInFile + records, block: block === undefined ? undefined : block + records };
  }

  async #status(): Promise<MtStatus> {
    return parseMtStatus(await this.#run(['status'], 'not-ready'));
  }

  async #tell(): Promise<number> {
    const text = await this.#run(['tell'], 'position-error');
    const block = parseMtTell(text);
    if (block === undefined) throw new TapeError('position-error', `${this.path}: mt tell printed no block: ${text.trim()}`);
    return block;
  }

  /** Runs `mt -f DEVICE ...args`; a failure is a TapeError of `fault` with mt's own words (ENOSPC is end of media, a read-only tape is write-protected). */
  #run(args: string[], fault: TapeFault): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(this.#mt, ['-f', this.path, ...args], { timeout: this.#timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        const words = (stderr || stdout || error.message).trim();
        const actual: TapeFault = /No space left/i.test(words) ? 'end-of-media' : /Read-only file system|Permission denied|write.protect/i.test(words) ? 'write-protected' : /No medium found|busy|No such device/i.test(words) ? 'not-ready' : fault;
        reject(new TapeError(actual, `${this.path}: mt ${args.join(' ')} failed: ${words}`, { cause: error }));
      });
    });
  }
}

function checkCount(count: number): void {
  if (!Number.isSafeInteger(count) || count < 0) throw new ValidationError('bad tape count', [`count: ${count} (a whole number from 0)`]);
}
