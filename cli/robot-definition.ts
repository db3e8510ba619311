import { accessSync, constants, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Command } from 'commander';
import { CairnError } from '#core/errors.ts';
import { Name } from '#core/model/names.ts';
import type { NewDrive, NewRobot } from '#core/ports/media-manager.ts';
import { StatusCode } from '#core/status-codes.ts';
import { fsReason } from './errno-text.ts';
import { formatBytes } from './output.ts';
import { UsageError } from './usage-errors.ts';

/** A drive's record size when `--block-size` is not given: 256 KiB, NetBackup's default SIZE_DATA_BUFFERS for tape. */
export const DEFAULT_BLOCK_SIZE = 256 * 1024;
/** The st driver's block size is a 24-bit field (MTSETBLK): the largest multiple of 512 below 16 MiB. */
export const MAX_ST_BLOCK_SIZE = 2 ** 24 - 512;
/** The file tape's largest record (the Drive schema's limit). */
export const MAX_FILE_TAPE_BLOCK_SIZE = 16 * 1024 * 1024;

export interface RobotAddOptions {
  mtx?: string;
  changerScript?: string;
  changerDevice?: string;
  drive: string[];
  blockSize?: number;
  fileTapeCapacity?: number;
  client?: string;
}

/** `/dev/nstN` (any non-rewinding st device) is a Linux st drive; every other path a file tape. */
export function isStDrive(path: string): boolean {
  return /^\/dev\/nst\d+[lma]?$/.test(path);
}

/** Drive N of robot R is named `R-dN`: unique across robots, as drive names must be, and readable in `cairn drive list`. */
export function driveName(robot: string, index: number): string {
  return `${robot}-d${index}`;
}

/**
 * The robot and its drives `cairn robot add` records, from its options,
 * with every check that can be made before anything is written: one changer
 * (mtx or a changer script with its device), absolute and distinct drive
 * paths, a block size the drives can use, a capacity only for file tapes.
 * When the library is attached to this machine (the standalone runtime and
 * no `--client`), the changer script must exist and be executable, and its
 * changer device (or mtx's device) exist; a library on another host is checked there, when
 * its agent first drives it. Option combinations are usage errors; values
 * are status 20 naming the value and the rule.
 */
export function robotDefinition(name: string, o: RobotAddOptions, command: Command, where: { local: boolean }): { robot: NewRobot; drives: NewDrive[] } {
  const parsedName = Name.safeParse(name);
  if (!parsedName.success) throw invalid(`robot name ${JSON.stringify(name)}: ${parsedName.error.issues[0]!.message}`);
  if (o.mtx !== undefined && (o.changerScript !== undefined || o.changerDevice !== undefined)) throw new UsageError('give either --mtx DEVICE or --changer-script PATH --changer-device FILE, not both', command);
  if (o.mtx === undefined && o.changerScript === undefined) throw new UsageError('name the robot\'s changer: --mtx DEVICE, or --changer-script PATH --changer-device FILE', command);
  if (o.changerScript !== undefined && o.changerDevice === undefined) throw new UsageError('--changer-script needs --changer-device FILE (the script\'s CHANGER-DEVICE argument)', command);
  if (o.changerDevice !== undefined && o.changerScript === undefined) throw new UsageError('--changer-device goes with --changer-script PATH', command);
  if (o.drive.length === 0) throw new UsageError('give the robot\'s drives with --drive PATH, one per drive, in drive index order', command);

  const here = where.local && o.client === undefined;
  // On this machine a relative path is the operator's; for another host only an absolute path means anything.
  const path = (value: string, what: string): string => {
    if (here) return resolve(value);
    if (!isAbsolute(value)) throw invalid(`${what} ${value}: give an absolute path (the library is on another host)`);
    return value;
  };

  const changer: NewRobot['changer'] =
    o.mtx !== undefined ? { type: 'mtx', device: path(o.mtx, '--mtx') } : { type: 'changer-script', script: path(o.changerScript!, '--changer-script'), changerDevice: path(o.changerDevice!, '--changer-device') };
  const drivePaths = o.drive.map((d) => {
    if (!isAbsolute(d)) throw invalid(`--drive ${d}: give an absolute path (/dev/nstN for an st drive, the drive file for a file tape)`);
    return d;
  });
  const seen = new Set<string>();
  for (const d of drivePaths) {
    if (seen.has(d)) throw invalid(`--drive ${d} is given twice: each drive has its own path`);
    seen.add(d);
  }

  const blockSize = o.blockSize ?? DEFAULT_BLOCK_SIZE;
  const anySt = drivePaths.some(isStDrive);
  const max = anySt ? MAX_ST_BLOCK_SIZE : MAX_FILE_TAPE_BLOCK_SIZE;
  if (blockSize % 512 !== 0) throw invalid(`--block-size ${blockSize}: must be a multiple of 512 bytes (tar records)`);
  if (blockSize > max) throw invalid(`--block-size ${blockSize}: at most ${max} bytes (${anySt ? 'the st driver\'s 24-bit block size' : 'the file tape\'s largest record'})`);

  const fileTapes = drivePaths.filter((d) => !isStDrive(d));
  if (o.fileTapeCapacity !== undefined) {
    if (fileTapes.length === 0) throw invalid('--file-tape-capacity is for file tapes (virtual libraries): every --drive is an st drive (/dev/nstN), whose end of media the drive reports');
    if (o.fileTapeCapacity < 2 * blockSize) throw invalid(`--file-tape-capacity ${o.fileTapeCapacity}: a volume must hold at least two records of ${formatBytes(blockSize)} (the label and one data record)`);
  }
  const drives = drivePaths.map((d, index) => ({ name: driveName(name, index), robot: name, index, path: d, blockSize }));
  for (const d of drives) if (!Name.safeParse(d.name).success) throw invalid(`robot name ${name} is too long: its drive names (${d.name}) must be at most 64 characters`);
  // Last, so a wrong option is named whatever the state of this machine's devices.
  if (here && changer.type === 'changer-script') {
    checkExecutable(changer.script);
    checkExists(changer.changerDevice, '--changer-device');
  }
  if (here && changer.type === 'mtx') checkExists(changer.device, '--mtx');
  return {
    robot: { name, changer, ...(o.client === undefined ? {} : { client: o.client }), ...(o.fileTapeCapacity === undefined ? {} : { fileTapeCapacityBytes: o.fileTapeCapacity }) },
    drives,
  };
}

function invalid(message: string): CairnError {
  return new CairnError(StatusCode.INVALID_COMMAND_USAGE, message);
}

function checkExecutable(script: string): void {
  checkExists(script, '--changer-script');
  if (!statSync(script).isFile()) throw invalid(`--changer-script ${script}: not a regular file`);
  try {
    accessSync(script, constants.X_OK);
  } catch {
    throw invalid(`--changer-script ${script}: not executable (chmod +x it, or name the script the library's changer uses)`);
  }
}

function checkExists(file: string, what: string): void {
  try {
    statSync(file);
  } catch (error) {
    throw invalid(`${what} ${file}: ${fsReason(error)}`);
  }
}
