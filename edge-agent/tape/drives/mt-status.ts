/**
 * What `mt status` and `mt tell` print, parsed. Hand-written: no library
 * reads mt's text. mt-st prints (mt.c, `status`):
 *
 *   SCSI 2 tape drive:
 *   File number=0, block number=0, partition=0.
 *   Tape block size 0 bytes. Density code 0x58 (LTO-5).
 *   Soft error count since last status=0
 *   General status bits on (41010000):
 *    BOT ONLINE IM_REP_EN
 *
 * GNU mt (cpio's) prints `file number = N` and `block number = N` on lines
 * of their own instead; both are read. -1 means the driver lost track (after
 * spacing backward, a seek, an error, no tape): the field is then undefined.
 * Real outputs are in test/fixtures/mt-status/.
 */
export interface MtStatus {
  /** "SCSI 2", "STK 9840", ... (the line before `tape drive:`); undefined in GNU mt's format. */
  driveType?: string;
  fileNumber?: number;
  /** Block within the current file. */
  blockNumber?: number;
  partition?: number;
  /** Bytes per record; 0 is variable-block mode. */
  blockSize?: number;
  densityCode?: number;
  densityName?: string;
  softErrors?: number;
  /** The `General status bits on (hex)` value. */
  statusBits?: number;
  /** The status bits by name, as mt-st prints them (BOT, EOF, EOT, EOD, WR_PROT, ONLINE, DR_OPEN, IM_REP_EN, CLN, SM). */
  flags: ReadonlySet<string>;
}

/** Linux <sys/mtio.h> GMT_* bits, for output that gives the hex value but no names line. */
const GMT_BITS: readonly [string, number][] = [
  ['EOF', 0x80000000],
  ['BOT', 0x40000000],
  ['EOT', 0x20000000],
  ['SM', 0x10000000],
  ['EOD', 0x08000000],
  ['WR_PROT', 0x04000000],
  ['ONLINE', 0x01000000],
  ['DR_OPEN', 0x00040000],
  ['IM_REP_EN', 0x00010000],
  ['CLN', 0x00008000],
];
const KNOWN_FLAGS = new Set(GMT_BITS.map(([name]) => name));

export function parseMtStatus(text: string): MtStatus {
  const lines = text.split(/\r?\n/).map((line) => line.trim());
  const status: { -readonly [K in keyof MtStatus]: MtStatus[K] } = { flags: new Set() };
  const known = (value: string | undefined): number | undefined => {
    if (value === undefined) return undefined;
    const number = Number(value);
    return Number.isSafeInteger(number) && number >= 0 ? number : undefined;
  };
  let bitsLine = -1;
  lines.forEach((line, index) => {
    const drive = /^(.*\S)\s+tape drive:$/.exec(line);
    if (drive) status.driveType = drive[1];
    const position = /^File number=(-?\d+), block number=(-?\d+)(?:, partition=(-?\d+))?/.exec(line);
    if (position) {
      status.fileNumber = known(position[1]);
      status.blockNumber = known(position[2]);
      status.partition = known(position[3]);
    }
    const gnuFile = /^file number = (-?\d+)$/.exec(line);
    if (gnuFile) status.fileNumber = known(gnuFile[1]);
    const gnuBlock = /^block number = (-?\d+)$/.exec(line);
    if (gnuBlock) status.blockNumber = known(gnuBlock[1]);
    const size = /^Tape block size (\d+) bytes\.(?: Density code 0x([0-9a-fA-F]+) \((.*)\)\.)?/.exec(line);
    if (size) {
      status.blockSize = Number(size[1]);
      if (size[2] !== undefined) status.densityCode = Number.parseInt(size[2], 16);
      if (size[3] !== undefined) status.densityName = size[3];
    }
    const soft = /^Soft error count since last status=(\d+)/.exec(line);
    if (soft) status.softErrors = Number(soft[1]);
    const bits = /^General status bits on \(([0-9a-fA-F]+)\):$/.exec(line);
    if (bits) {
      status.statusBits = Number.parseInt(bits[1]!, 16);
      bitsLine = index;
    }
  });
  const flags = new Set<string>();
  const names = bitsLine >= 0 ? (lines[bitsLine + 1] ?? '').split(/\s+/).filter((word) => KNOWN_FLAGS.has(word)) : [];
  if (names.length > 0) names.forEach((name) => flags.add(name));
  else if (status.statusBits !== undefined) for (const [name, bit] of GMT_BITS) if ((status.statusBits & bit) >>> 0 === bit) flags.add(name);
  status.flags = flags;
  return status;
}

/** `mt tell` (mt-st): `At block 1234.`, the logical block address (SCSI READ POSITION). */
export function parseMtTell(text: string): number | undefined {
  const match = /At block (\d+)\./.exec(text);
  return match ? Number(match[1]) : undefined;
}
