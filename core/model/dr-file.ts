import { z } from 'zod';
import { IsoTime } from './names.ts';
import { StorageUnit } from './storage-unit.ts';

const SHA256 = z.string().regex(/^[0-9a-f]{64}$/);

export const DR_FILE_FORMAT = 'cairn-disaster-recovery';
/** 1: one catalog image on a disk or S3 unit (standalone: the SQLite database; cloud: the tables' items). */
export const DR_FILE_VERSION = 1;

/**
 * The disaster-recovery file (NetBackup's DR file, NetWorker's bootstrap
 * record): all a new machine needs to find and trust the catalog backup,
 * with no catalog of its own. It carries the storage unit's whole
 * definition (path or bucket and prefix) because the catalog that defines
 * the unit is the thing lost. The operator keeps it off the machine.
 */
export const DisasterRecoveryFile = z
  .object({
    format: z.literal(DR_FILE_FORMAT),
    formatVersion: z.literal(DR_FILE_VERSION),
    /** Which catalog this is: the standalone SQLite database, or the cloud runtime's DynamoDB tables. */
    runtime: z.enum(['standalone', 'cloud']),
    /** The catalog image: an ordinary image of client CATALOG_CLIENT, policy CATALOG_POLICY. */
    backupId: z.string().min(1),
    createdAt: IsoTime,
    storageUnit: StorageUnit,
    /** The image's manifest in that unit, with the sha256 and size of its bytes as written. */
    manifestKey: z.string().min(1),
    manifestSha256: SHA256,
    manifestBytes: z.number().int().min(0),
    /** The catalog copy inside the image (a member of its one fragment): its name there, sha256 and size. */
    catalogMember: z.string().min(1),
    catalogSha256: SHA256,
    catalogBytes: z.number().int().min(0),
  })
  .strict();
export type DisasterRecoveryFile = z.output<typeof DisasterRecoveryFile>;

/** The client and policy a catalog backup image is catalogued under (NetBackup shows its catalog backups as policy type NBU-Catalog). */
export const CATALOG_CLIENT = 'cairn-catalog';
export const CATALOG_POLICY = 'catalog';
export const CATALOG_SCHEDULE = 'catalog';
