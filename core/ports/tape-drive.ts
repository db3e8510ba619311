import { CairnError } from '../errors.ts';
import { StatusCode, type StatusCodeValue } from '../status-codes.ts';

/**
 * A tape drive with a volume loaded, as the agent's media manager (bptm)
 * drives it: fixed-size records, filemarks between tape files, positioning
 * by file and by logical block. Two adapters behind one contract suite
 * (test/contracts/tape-drive-contract.ts): a Linux st drive (`/dev/nstN`,
 * positioned through `mt`), and a file tape (a plain file with the same
 * semantics, for virtual libraries and tests).
 *
 * Positions follow st: after a filemark is read or spaced over, the tape is
 * at block 0 of the next file; `fileNumber` counts filemarks from the
 * beginning of tape (the label is file 0). `block` is the logical block
 * address from the beginning of tape, counting filemarks as one block each,
 * as SCSI READ POSITION and `mt tell` report it; a restore seeks straight to
 * a recorded block with `seekBlock` (SCSI LOCATE, `mt seek`).
 *
 * Writing is append-only, as on tape: a write or a filemark at a position
 * erases everything after it (end of data moves there). A writer ends each
 * tape file with `writeFilemarks` before it positions, reads or closes: st
 * writes a filemark itself when a device it wrote to is closed, which is
 * what moving the tape needs (edge-agent/tape/drives/README.md).
 *
 * Usage errors (a write that is not whole records, a read buffer shorter
 * than a record, a negative count or block) are ValidationError (status
 * 20), not medium faults.
 */
export interface TapeDrive {
  /** The device or file path this drive opens. */
  readonly path: string;
  /** Bytes per record; every record written and read is this long. */
  readonly blockSize: number;

  /** Where the tape is and what the drive reports. */
  status(): Promise<TapeStatus>;
  rewind(): Promise<void>;
  /** Spaces forward over `count` filemarks (mt fsf): ends at block 0 of the file after the last one. Past end of data: TapeError 'blank-check'. */
  forwardFiles(count: number): Promise<void>;
  /** Spaces backward over `count` filemarks (mt bsf): ends just before the last filemark crossed (on its beginning-of-tape side). */
  backwardFiles(count: number): Promise<void>;
  /** Goes to end of data (mt eod), where the next tape file is appended. */
  seekEndOfData(): Promise<void>;
  /** Goes to logical block `block` (mt seek / SCSI LOCATE). */
  seekBlock(block: number): Promise<void>;

  /**
   * Writes whole records: `data.byteLength` is a multiple of `blockSize`
   * (the caller pads the last record of a tape file). Resolves once the
   * drive accepted them, with `earlyWarning` true once the tape is past its
   * early-warning mark: the writer should close the tape file soon; a few
   * more records (a trailer, the rest of a member) still fit. Rejects with
   * TapeError 'end-of-media' at the physical end (what did not fit is not
   * on tape; a file tape writes none of the call's records then, st may
   * have written some: `status().block` tells), 'write-error' on a medium
   * or drive error. Filemarks still fit at end of media.
   */
  writeRecords(data: Uint8Array): Promise<{ earlyWarning: boolean }>;
  /** Writes `count` filemarks (default 1), closing the current tape file. */
  writeFilemarks(count?: number): Promise<void>;
  /**
   * Reads the next record into `buffer` (at least `blockSize` long).
   * `{ kind: 'record', bytes }` for data; `{ kind: 'filemark' }` when a
   * filemark was crossed (the tape is then at the next file's block 0);
   * `{ kind: 'end-of-data' }` at blank tape after the last record written.
   * Rejects with TapeError 'read-error' on a medium error.
   */
  readRecord(buffer: Uint8Array): Promise<TapeRead>;

  /** Rewinds and takes the drive offline so the robot can unload it (mt offline). */
  eject(): Promise<void>;
  /** Closes the device; the tape stays where it is (non-rewinding). */
  close(): Promise<void>;
}

export interface TapeStatus {
  /** A volume is loaded and ready. */
  online: boolean;
  /** Filemarks between the beginning of tape and here; unknown (undefined) where the drive lost track. */
  fileNumber?: number;
  /** Record within the current tape file. */
  blockInFile?: number;
  /** Logical block address from the beginning of tape (filemarks count one each). */
  block?: number;
  atBeginning: boolean;
  atEndOfData: boolean;
  /** Past the early-warning mark. */
  earlyWarning: boolean;
  writeProtected: boolean;
}

export type TapeRead = { kind: 'record'; bytes: number } | { kind: 'filemark' } | { kind: 'end-of-data' };

/** Why a tape operation failed, for the media manager's error counts (per drive and per volume) and the job's status. */
export type TapeFault = 'end-of-media' | 'write-error' | 'read-error' | 'position-error' | 'blank-check' | 'not-ready' | 'write-protected';

const FAULT_STATUS: Record<TapeFault, StatusCodeValue> = {
  'end-of-media': StatusCode.MEDIA_WRITE_ERROR,
  'write-error': StatusCode.MEDIA_WRITE_ERROR,
  'write-protected': StatusCode.MEDIA_WRITE_ERROR,
  'read-error': StatusCode.MEDIA_READ_ERROR,
  'blank-check': StatusCode.MEDIA_READ_ERROR,
  'position-error': StatusCode.MEDIA_POSITION_ERROR,
  'not-ready': StatusCode.SYSTEM_ERROR_DURING_RESTORE,
};

/**
 * A tape operation that failed, with its fault (what the media manager
 * counts) and the status a job ends with: 84 for writing, 85 for reading
 * (and blank tape where data was expected), 86 for positioning (NetBackup's
 * media position error), 174 for a drive that is not ready.
 */
export class TapeError extends CairnError {
  readonly fault: TapeFault;

  constructor(fault: TapeFault, message: string, options: { cause?: unknown } = {}) {
    super(FAULT_STATUS[fault], message, options);
    this.name = 'TapeError';
    this.fault = fault;
  }
}
