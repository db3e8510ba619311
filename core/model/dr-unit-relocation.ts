import { CairnError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';
import { parseOrThrow } from '../validation.ts';
import type { DisasterRecoveryFile } from './dr-file.ts';
import { StorageUnit } from './storage-unit.ts';

/**
 * Where the DR file's storage unit is now, when it is not where the DR file
 * says: a disk unit's directory mounted elsewhere on the new machine
 * (`--unit-path`), or an S3 unit's objects in another bucket or under
 * another prefix (`--unit-bucket`, `--unit-prefix`), e.g. after a
 * cross-region replica took over. NetBackup's DR recovery asks the same
 * question of a disk pool's mount point.
 */
export interface DrUnitRelocation {
  path?: string;
  bucket?: string;
  prefix?: string;
}

/** The relocation's outcome, for the recovery's report: the unit's name and where it was and is. */
export interface RelocatedUnit {
  name: string;
  from: string;
  to: string;
}

/**
 * The DR file with its storage unit moved as `relocation` says, checked
 * like any unit definition; the DR file itself when nothing is given. Pure.
 * Refused with 20, naming what was rejected: a path for an S3 unit or a
 * bucket for a disk unit, a relative path, and anything the unit schema
 * refuses (a bucket name too short). The checksums still come from the DR
 * file: a moved unit is trusted no more than one that stayed.
 */
export function relocateDrUnit(dr: DisasterRecoveryFile, relocation: DrUnitRelocation): { dr: DisasterRecoveryFile; relocated?: RelocatedUnit } {
  const { path, bucket, prefix } = relocation;
  if (path === undefined && bucket === undefined && prefix === undefined) return { dr };
  const unit = dr.storageUnit;
  const refuse = (message: string): never => {
    throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, message);
  };
  if (path !== undefined) {
    if (unit.kind !== 'disk') refuse(`--unit-path moves a disk unit's directory, but the DR file's unit ${unit.name} is a ${unit.kind} unit${unit.kind === 's3' ? ' (give --unit-bucket or --unit-prefix)' : ''}`);
    if (bucket !== undefined || prefix !== undefined) refuse('give --unit-path for a disk unit, or --unit-bucket/--unit-prefix for an S3 unit, not both');
    if (!path.startsWith('/')) refuse(`--unit-path must be an absolute directory, not '${path}'`);
  } else if (unit.kind !== 's3') {
    refuse(`--unit-bucket and --unit-prefix move an S3 unit's objects, but the DR file's unit ${unit.name} is a ${unit.kind} unit${unit.kind === 'disk' ? ' (give --unit-path)' : ''}`);
  }
  const moved = parseOrThrow(StorageUnit, { ...unit, ...(path !== undefined ? { path } : {}), ...(bucket !== undefined ? { bucket } : {}), ...(prefix !== undefined ? { prefix } : {}) }, `storage unit ${unit.name} as relocated`);
  return { dr: { ...dr, storageUnit: moved }, relocated: { name: unit.name, from: whereIs(unit), to: whereIs(moved) } };
}

function whereIs(unit: StorageUnit): string {
  if (unit.kind === 'disk') return unit.path;
  if (unit.kind === 's3') return `s3://${unit.bucket}/${unit.prefix}`;
  return unit.name;
}
