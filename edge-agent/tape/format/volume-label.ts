import { extract as createExtract, pack as createPack } from 'tar-stream';
import { z } from 'zod';
import { CairnError } from '#core/errors.ts';
import { IsoTime, Name } from '#core/model/names.ts';
import { TapeError, type TapeDrive } from '#core/ports/tape-drive.ts';
import { StatusCode } from '#core/status-codes.ts';

/** The first line of a label's text: what tells a Cairn volume from any other tape. */
export const LABEL_MAGIC = 'CAIRN-TAPE-LABEL';
/** The label format this Cairn writes and reads; a label of a higher version is refused (written by a newer Cairn). */
export const LABEL_FORMAT_VERSION = 1;
/** The one member of the label's tar archive. */
export const LABEL_MEMBER = 'CAIRN.LABEL';
/** A label file longer than this is not a Cairn label (it is some other data on file 0). */
const MAX_LABEL_BYTES = 1024 * 1024;

/**
 * What tape file 0 of a Cairn volume says about the volume: it is how a
 * mount proves the right volume is in the drive before anything is written
 * or read (docs/image-format.md, Tape).
 */
export const VolumeLabel = z
  .object({
    formatVersion: z.number().int().positive(),
    /** The volume's media id (its barcode), as the fragment locations name it. */
    mediaId: z.string().regex(/^[A-Za-z0-9]{1,16}$/),
    /** The volume pool the volume was labelled into. */
    pool: Name,
    /** Bytes per record of every tape file on the volume. */
    blockSize: z.number().int().positive().multipleOf(512),
    writtenAt: IsoTime,
    /** The Cairn that wrote the label, e.g. `cairn 0.1.0`. */
    writtenBy: z.string().min(1).max(200).regex(/^[^\n=]*$/),
  })
  .strict();
export type VolumeLabel = z.output<typeof VolumeLabel>;

/** Why file 0 is not the label wanted: what a mount or `cairn media label` decides on. */
export type LabelProblem =
  /** Nothing was ever written: a new scratch tape (labelling it is safe). */
  | 'blank'
  /** Data that is not a Cairn label: another program's tape (never overwritten without the operator saying so). */
  | 'foreign'
  /** A Cairn label that cannot be read: torn (no filemark after it), malformed, or of a newer format version. */
  | 'corrupt'
  /** A good Cairn label of another volume, or written with another block size than the drive's. */
  | 'wrong-volume';

/**
 * File 0 is not the label a mount wants. Status 93 (NetBackup's "media
 * manager found wrong tape in drive") whatever the problem: in every case
 * the tape in the drive is not a volume this job may use, and a retry would
 * load the same one. `problem` says which, for the caller that may label a
 * blank tape; `found` is the label read, when there was one.
 */
export class VolumeLabelError extends CairnError {
  readonly problem: LabelProblem;
  readonly found: VolumeLabel | undefined;

  constructor(problem: LabelProblem, message: string, options: { found?: VolumeLabel; cause?: unknown } = {}) {
    super(StatusCode.WRONG_TAPE_IN_DRIVE, message, { cause: options.cause });
    this.name = 'VolumeLabelError';
    this.problem = problem;
    this.found = options.found;
  }
}

/**
 * The label's text: the magic line, then one `key=value` line per field in
 * a fixed order. Readable by a person (`tar -xOf` prints it), parsed by
 * key, so a later version may add keys that this one ignores; a change an
 * older Cairn must not misread raises `formatVersion`.
 */
export function labelText(label: VolumeLabel): string {
  const fields: [keyof VolumeLabel, string | number][] = [
    ['formatVersion', label.formatVersion],
    ['mediaId', label.mediaId],
    ['pool', label.pool],
    ['blockSize', label.blockSize],
    ['writtenAt', label.writtenAt],
    ['writtenBy', label.writtenBy],
  ];
  return `${LABEL_MAGIC}\n${fields.map(([key, value]) => `${key}=${value}`).join('\n')}\n`;
}

/**
 * The label's tape file: a POSIX tar archive holding one member,
 * `CAIRN.LABEL`, whose content is `labelText`, padded with zeros to whole
 * records of the drive's block size. A tar archive rather than a bare text
 * record because it costs nothing (the archive is 3 KiB, well inside one
 * record) and makes every file of a Cairn volume a tar archive:
 * `tar -tvf` works on file 0 as on any fragment, and an operator who finds
 * an unknown tape sees `CAIRN.LABEL` in the first 512 bytes (`dd bs=512
 * count=1 | strings`). No vendor pax keywords: GNU tar warns about every
 * keyword it does not know ("Ignoring unknown extended header keyword").
 */
export async function labelArchive(label: VolumeLabel): Promise<Buffer> {
  const text = Buffer.from(labelText(label), 'utf8');
  const pack = createPack();
  pack.entry({ name: LABEL_MEMBER, type: 'file', size: text.length, mode: 0o444, mtime: new Date(label.writtenAt), uname: 'cairn', gname: 'cairn' }, text);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
  const archive = Buffer.concat(chunks);
  return padToRecords(archive, label.blockSize);
}

/** What `writeLabel` takes: the label without what the drive and this Cairn decide. */
export type NewLabel = Omit<VolumeLabel, 'formatVersion' | 'blockSize'>;

/**
 * Labels the volume in `drive`: rewinds, writes the label file and its
 * filemark. Everything on the tape is gone after it (writing at the
 * beginning of tape moves end of data there): the caller decides whether
 * the tape may be labelled (`readLabel` first: blank, or the operator said
 * so). The label's block size is the drive's. Returns the label written;
 * the tape is left at file 1, block 0, where the first fragment goes.
 */
export async function writeLabel(drive: TapeDrive, label: NewLabel): Promise<VolumeLabel> {
  const full = VolumeLabel.parse({ formatVersion: LABEL_FORMAT_VERSION, ...label, blockSize: drive.blockSize });
  const archive = await labelArchive(full);
  await drive.rewind();
  await drive.writeRecords(archive);
  await drive.writeFilemarks(1);
  return full;
}

/**
 * Reads the label of the volume in `drive`: rewinds and reads file 0 to its
 * filemark. Resolves with the label, the tape at file 1, block 0; rejects
 * with a VolumeLabelError saying what file 0 is instead (blank, foreign,
 * corrupt), and with the drive's TapeError when the drive fails.
 */
export async function readLabel(drive: TapeDrive): Promise<VolumeLabel> {
  await drive.rewind();
  const { bytes, closed } = await readLabelFile(drive);
  const parsed = await parseLabelArchive(bytes, drive.path);
  if (!closed) throw new VolumeLabelError('corrupt', `the label of volume ${parsed.mediaId} in ${drive.path} is torn: no filemark follows it (its writer stopped before closing it)`, { found: parsed });
  return parsed;
}

/**
 * Checks that the volume in `drive` is `expectedMediaId`, written with the
 * drive's block size: the mount's check before a backup appends to it or a
 * restore reads it. Resolves with its label, the tape at file 1, block 0;
 * rejects with a VolumeLabelError (93) naming the expected media id and
 * what was found.
 */
export async function checkMountedVolume(drive: TapeDrive, expectedMediaId: string): Promise<VolumeLabel> {
  let label: VolumeLabel;
  try {
    label = await readLabel(drive);
  } catch (error) {
    if (!(error instanceof VolumeLabelError)) throw error;
    const found = { blank: 'a blank tape', foreign: 'a tape that is not a Cairn volume', corrupt: 'a tape whose label cannot be read', 'wrong-volume': 'another volume' }[error.problem];
    throw new VolumeLabelError(error.problem, `wrong tape in ${drive.path}: expected volume ${expectedMediaId}, found ${found} (${error.message})`, { found: error.found, cause: error });
  }
  if (label.mediaId !== expectedMediaId) {
    throw new VolumeLabelError('wrong-volume', `wrong tape in ${drive.path}: expected volume ${expectedMediaId}, found volume ${label.mediaId} (pool ${label.pool}, labelled ${label.writtenAt} by ${label.writtenBy})`, { found: label });
  }
  if (label.blockSize !== drive.blockSize) {
    throw new VolumeLabelError('wrong-volume', `volume ${label.mediaId} in ${drive.path} was written with ${label.blockSize}-byte records; the drive is set to ${drive.blockSize}-byte records`, { found: label });
  }
  return label;
}

/** Reads file 0's records up to its filemark (`closed`) or end of data (a torn label). */
async function readLabelFile(drive: TapeDrive): Promise<{ bytes: Buffer; closed: boolean }> {
  const records: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buffer = Buffer.alloc(drive.blockSize);
    let read;
    try {
      read = await drive.readRecord(buffer);
    } catch (error) {
      // st reports reading blank tape as a blank check; a record-oriented reader reports end of data.
      if (error instanceof TapeError && error.fault === 'blank-check' && total === 0) throw blank(drive);
      throw error;
    }
    if (read.kind === 'end-of-data') {
      if (total === 0) throw blank(drive);
      return { bytes: Buffer.concat(records), closed: false };
    }
    if (read.kind === 'filemark') {
      if (total === 0) throw new VolumeLabelError('foreign', `file 0 of the tape in ${drive.path} is empty (a filemark at the beginning of tape): not a Cairn volume`);
      return { bytes: Buffer.concat(records), closed: true };
    }
    records.push(buffer.subarray(0, read.bytes));
    total += read.bytes;
    if (total > MAX_LABEL_BYTES) throw new VolumeLabelError('foreign', `file 0 of the tape in ${drive.path} is longer than ${MAX_LABEL_BYTES} bytes: not a Cairn label`);
  }
}

function blank(drive: TapeDrive): VolumeLabelError {
  return new VolumeLabelError('blank', `the tape in ${drive.path} is blank (nothing written at the beginning of tape)`);
}

/** The label in a label file's bytes: its first member must be `CAIRN.LABEL` starting with the magic line. */
async function parseLabelArchive(bytes: Buffer, where: string): Promise<VolumeLabel> {
  const foreign = (why: string, cause?: unknown): VolumeLabelError => new VolumeLabelError('foreign', `file 0 of the tape in ${where} is not a Cairn label: ${why}`, { cause });
  const member = await firstMember(bytes).catch((error: unknown) => {
    throw foreign('it is not a tar archive', error);
  });
  if (member === undefined) throw foreign('it is an empty tar archive');
  if (member.name !== LABEL_MEMBER) throw foreign(`it is a tar archive whose first member is ${JSON.stringify(member.name)}, not ${LABEL_MEMBER}`);
  const lines = member.content.toString('utf8').split('\n');
  if (lines[0] !== LABEL_MAGIC) throw foreign(`its ${LABEL_MEMBER} does not start with ${LABEL_MAGIC}`);
  const corrupt = (why: string): VolumeLabelError => new VolumeLabelError('corrupt', `the Cairn label in ${where} cannot be read: ${why}`);
  const fields = new Map<string, string>();
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const at = line.indexOf('=');
    if (at <= 0) throw corrupt(`line ${JSON.stringify(line)} is not key=value`);
    fields.set(line.slice(0, at), line.slice(at + 1));
  }
  const version = Number(fields.get('formatVersion'));
  if (!Number.isInteger(version) || version < 1) throw corrupt(`its formatVersion is ${JSON.stringify(fields.get('formatVersion') ?? null)}`);
  if (version > LABEL_FORMAT_VERSION) throw corrupt(`it is label format version ${version}, newer than this Cairn reads (${LABEL_FORMAT_VERSION}): upgrade Cairn`);
  const parsed = VolumeLabel.safeParse({
    formatVersion: version,
    mediaId: fields.get('mediaId'),
    pool: fields.get('pool'),
    blockSize: Number(fields.get('blockSize')),
    writtenAt: fields.get('writtenAt'),
    writtenBy: fields.get('writtenBy'),
  });
  if (!parsed.success) throw corrupt(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
  return parsed.data;
}

/** The first member of a small tar archive in memory (tar-stream parses it: headers, checksums, pax records). */
async function firstMember(bytes: Buffer): Promise<{ name: string; content: Buffer } | undefined> {
  const extract = createExtract();
  extract.end(bytes);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
    // Leaving the loop ends the extract: what follows the first member does not matter.
    return { name: entry.header.name, content: Buffer.concat(chunks) };
  }
  return undefined;
}

/** `bytes` followed by zeros up to a whole number of `blockSize` records (at least one). */
export function padToRecords(bytes: Buffer, blockSize: number): Buffer {
  const records = Math.max(1, Math.ceil(bytes.length / blockSize));
  const padded = Buffer.alloc(records * blockSize);
  bytes.copy(padded);
  return padded;
}
