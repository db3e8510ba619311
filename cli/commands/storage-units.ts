import { resolve } from 'node:path';
import type { Command } from 'commander';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { parseOrThrow } from '#core/validation.ts';
import { type GlobalOptions, withBackend } from '../backend.ts';
import { formatBytes, printJson, table } from '../output.ts';
import { positiveNumber, wholeNumber } from '../number-option.ts';
import { UsageError } from '../usage-errors.ts';
import { listStorageUnitsInUse } from '../storage-listing.ts';
import { CairnError } from '#core/errors.ts';
import type { ConfigStore } from '#core/ports/config-store.ts';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import { SCRATCH_POOL } from '#core/model/tape-media.ts';
import { loadSettings } from '#core/settings.ts';
import { StatusCode } from '#core/status-codes.ts';

/** `zstd-1`, or `none` for a unit that stores plain tar fragments. */
function compressionLabel(compression: StorageUnit['compression']): string {
  return compression?.codec === 'zstd' ? `zstd-${compression.level}` : 'none';
}

/** Where a unit keeps its images, as the list shows it. */
function unitLocation(unit: StorageUnit): string {
  switch (unit.kind) {
    case 'disk':
      return unit.path;
    case 's3':
      return `s3://${unit.bucket}/${unit.prefix}`;
    case 'tape':
      return `robot ${unit.robot}, pool ${unit.pool} (indexes on ${unit.index.name})`;
  }
}

/** The kind-specific fields of `storage-unit add`; options of another kind are passed on, so the schema names them as unexpected. */
function locationOptions(o: { kind: string; path?: string; bucket?: string; prefix?: string; robot?: string; pool?: string; indexUnit?: string; unmountDelay?: number }, index: StorageUnit | undefined): Record<string, unknown> {
  const given = (entries: Record<string, unknown>) => Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== undefined));
  switch (o.kind) {
    case 'disk':
      return given({ path: o.path && resolve(o.path), bucket: o.bucket, prefix: o.prefix, robot: o.robot, pool: o.pool, mediaUnmountDelaySeconds: o.unmountDelay });
    case 'tape':
      return given({ robot: o.robot, pool: o.pool, index, mediaUnmountDelaySeconds: o.unmountDelay, path: o.path, bucket: o.bucket, prefix: o.prefix });
    default:
      return given({ bucket: o.bucket, prefix: o.prefix ?? '', path: o.path, robot: o.robot, pool: o.pool, mediaUnmountDelaySeconds: o.unmountDelay });
  }
}

/**
 * The disk or S3 unit a tape unit's indexes and manifests go to, copied into
 * the tape unit (`index`): a tape unit cannot hold them (its volumes are not
 * mounted to browse).
 */
async function indexUnit(config: ConfigStore, tapeUnit: string, name: string | undefined): Promise<StorageUnit> {
  if (name === undefined) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `tape unit ${tapeUnit}: name the disk or s3 unit for its indexes with --index-unit (there is no defaultStorageUnit setting)`);
  const index = await config.getStorageUnit(name);
  if (!index) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `tape unit ${tapeUnit}: its index unit ${name} does not exist (create a disk or s3 unit first, or name one with --index-unit)`);
  if (index.kind === 'tape') throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `tape unit ${tapeUnit}: its index unit ${name} is a tape unit; indexes are kept on a disk or s3 unit`);
  return index;
}

/**
 * A tape unit's robot and pool must exist in the media database (219
 * otherwise: the unit could never get a drive or a volume), its pool must
 * be one of its own (scratch feeds every pool), and it may use at most the
 * robot's drives: by default all of them. Without --robot or --pool the
 * schema names what is missing.
 */
async function tapeDrives(emm: MediaDatabase, unit: string, o: { robot?: string; pool?: string; drives?: number }): Promise<number | undefined> {
  if (o.pool === SCRATCH_POOL) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `tape unit ${unit}: pool ${SCRATCH_POOL} holds the unassigned volumes every pool draws from; give the unit a pool of its own (cairn pool add NAME)`);
  if (o.pool !== undefined && (await emm.getPool(o.pool)) === undefined) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `tape unit ${unit}: pool ${o.pool} does not exist (cairn pool add ${o.pool})`);
  if (o.robot === undefined) return o.drives;
  if ((await emm.getRobot(o.robot)) === undefined) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `tape unit ${unit}: robot ${o.robot} does not exist (cairn robot add, cairn robot list)`);
  const count = (await emm.listDrives(o.robot)).length;
  if (count === 0) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `tape unit ${unit}: robot ${o.robot} has no drives`);
  if (o.drives !== undefined && o.drives > count) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `tape unit ${unit}: --drives ${o.drives} is more than robot ${o.robot}'s ${count} drive${count === 1 ? '' : 's'}`);
  return o.drives ?? count;
}

/** `cairn storage-unit` (bpstulist / bpstuadd). */
export function registerStorageUnits(program: Command): void {
  const stu = program.command('storage-unit').alias('stu').description('storage units (like bpstulist / bpstuadd)');
  stu
    .command('list')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        const units = await listStorageUnitsInUse(backend.config, backend.media);
        if (options.json ?? globals.json) return printJson(units);
        console.log(
          table(
            ['NAME', 'KIND', 'LOCATION', 'MAX JOBS', 'IN USE', 'FRAGMENT SIZE', 'COMPRESSION'],
            units.map((u) => [u.name, u.kind, unitLocation(u), u.maxConcurrentJobs, u.inUse, formatBytes(u.fragmentSizeBytes), compressionLabel(u.compression)]),
          ),
        );
      });
    });
  stu
    .command('add')
    .description('create or replace a storage unit')
    .requiredOption('--name <name>', 'storage unit name')
    .requiredOption('--kind <kind>', 'disk, s3 or tape')
    .option('--path <dir>', 'directory (disk)')
    .option('--bucket <bucket>', 'bucket (s3)')
    .option('--prefix <prefix>', 'key prefix (s3)')
    .option('--max-jobs <n>', 'concurrent jobs', positiveNumber)
    .option('--fragment-mib <n>', 'fragment size in MiB', positiveNumber)
    .option('--piece-mib <n>', 'files above this many MiB are stored as pieces, so a fragment may end inside a file (default 64; on tape, below the space past early warning)', positiveNumber)
    .option('--compression <codec>', 'none (default) or zstd: fragments stored as seekable zstd')
    .option('--compression-level <n>', 'zstd level, 1 (default) to 19', positiveNumber)
    .option('--part-mib <n>', 'first multipart part size in MiB, 5 to 5120 (s3; default 64; parts grow past 99.6 GiB)', positiveNumber)
    .option('--upload-concurrency <n>', 'parts of one object uploaded at once (s3; default 2): memory is part size × (n + 1)', positiveNumber)
    .option('--storage-class <class>', 'S3 storage class of every object written (s3): STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING or GLACIER_IR')
    .option('--robot <name>', 'the tape library whose drives the unit uses (tape)')
    .option('--pool <name>', 'the volume pool its images are written to (tape)')
    .option('--drives <n>', 'drives the unit may use at once (tape; its concurrent jobs: one drive each; default all of the robot\'s drives)', positiveNumber)
    .option('--index-unit <name>', 'disk or s3 unit that keeps the file indexes and manifests of its images (tape; default: the defaultStorageUnit setting)')
    .option('--unmount-delay <seconds>', 'seconds a drive stays loaded for the next job of the same pool (tape; default 180)', wholeNumber)
    .option('--json', 'print JSON')
    .action(async (o: { name: string; kind: string; path?: string; bucket?: string; prefix?: string; robot?: string; pool?: string; drives?: number; indexUnit?: string; unmountDelay?: number; maxJobs?: number; fragmentMib?: number; pieceMib?: number; compression?: string; compressionLevel?: number; partMib?: number; uploadConcurrency?: number; storageClass?: string; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      if (o.kind === 'tape' && o.maxJobs !== undefined) throw new UsageError('a tape unit runs one job per drive: give --drives, not --max-jobs', command);
      await withBackend(globals, async (backend) => {
        const index = o.kind === 'tape' ? await indexUnit(backend.config, o.name, o.indexUnit ?? (await loadSettings(backend.config)).defaultStorageUnit) : undefined;
        const drives = o.kind === 'tape' ? await tapeDrives(backend.emm, o.name, o) : o.drives;
        const unit = parseOrThrow(
          StorageUnit,
          {
            name: o.name,
            kind: o.kind,
            ...locationOptions(o, index),
            // Only when given: a disk unit refuses them (the schema names the key).
            ...(o.partMib === undefined ? {} : { partSizeBytes: o.partMib * 1024 * 1024 }),
            ...(o.uploadConcurrency === undefined ? {} : { uploadConcurrency: o.uploadConcurrency }),
            ...(o.storageClass === undefined ? {} : { storageClass: o.storageClass }),
            maxConcurrentJobs: o.kind === 'tape' ? drives : o.maxJobs,
            fragmentSizeBytes: o.fragmentMib === undefined ? undefined : o.fragmentMib * 1024 * 1024,
            ...(o.pieceMib === undefined ? {} : { pieceBytes: o.pieceMib * 1024 * 1024 }),
            // The schema says what is wrong with a codec or level (a level without zstd included).
            compression: o.compression === undefined && o.compressionLevel === undefined ? undefined : { codec: o.compression ?? 'none', ...(o.compressionLevel === undefined ? {} : { level: o.compressionLevel }) },
          },
          'storage unit',
        );
        await backend.config.putStorageUnit(unit);
        if (o.json ?? globals.json) printJson(unit);
        else console.log(`storage unit ${unit.name} saved`);
      });
    });
}
