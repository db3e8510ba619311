import { resolve } from 'node:path';
import type { Command } from 'commander';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { parseOrThrow } from '#core/validation.ts';
import { type GlobalOptions, withBackend } from '../backend.ts';
import { formatBytes, printJson, table } from '../output.ts';
import { positiveNumber } from '../number-option.ts';

/** `zstd-1`, or `none` for a unit that stores plain tar fragments. */
function compressionLabel(compression: StorageUnit['compression']): string {
  return compression?.codec === 'zstd' ? `zstd-${compression.level}` : 'none';
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
        const units = await backend.config.listStorageUnits();
        const reservations = await backend.media.listReservations();
        if (options.json ?? globals.json) return printJson(units.map((u) => ({ ...u, inUse: reservations.filter((r) => r.kind === 'storage-unit-slot' && r.storageUnit === u.name).length })));
        console.log(
          table(
            ['NAME', 'KIND', 'LOCATION', 'MAX JOBS', 'IN USE', 'FRAGMENT SIZE', 'COMPRESSION'],
            units.map((u) => [u.name, u.kind, u.kind === 'disk' ? u.path : `s3://${u.bucket}/${u.prefix}`, u.maxConcurrentJobs, reservations.filter((r) => r.kind === 'storage-unit-slot' && r.storageUnit === u.name).length, formatBytes(u.fragmentSizeBytes), compressionLabel(u.compression)]),
          ),
        );
      });
    });
  stu
    .command('add')
    .description('create or replace a storage unit')
    .requiredOption('--name <name>', 'storage unit name')
    .requiredOption('--kind <kind>', 'disk or s3')
    .option('--path <dir>', 'directory (disk)')
    .option('--bucket <bucket>', 'bucket (s3)')
    .option('--prefix <prefix>', 'key prefix (s3)')
    .option('--max-jobs <n>', 'concurrent jobs', positiveNumber)
    .option('--fragment-mib <n>', 'fragment size in MiB', positiveNumber)
    .option('--compression <codec>', 'none (default) or zstd: fragments stored as seekable zstd')
    .option('--compression-level <n>', 'zstd level, 1 (default) to 19', positiveNumber)
    .option('--part-mib <n>', 'first multipart part size in MiB, 5 to 5120 (s3; default 64; parts grow past 99.6 GiB)', positiveNumber)
    .option('--upload-concurrency <n>', 'parts of one object uploaded at once (s3; default 2): memory is part size × (n + 1)', positiveNumber)
    .option('--json', 'print JSON')
    .action(async (o: { name: string; kind: string; path?: string; bucket?: string; prefix?: string; maxJobs?: number; fragmentMib?: number; compression?: string; compressionLevel?: number; partMib?: number; uploadConcurrency?: number; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const unit = parseOrThrow(
        StorageUnit,
        {
          name: o.name,
          kind: o.kind,
          ...(o.kind === 'disk' ? { path: o.path && resolve(o.path) } : { bucket: o.bucket, prefix: o.prefix }),
          // Only when given: a disk unit refuses them (the schema names the key).
          ...(o.partMib === undefined ? {} : { partSizeBytes: o.partMib * 1024 * 1024 }),
          ...(o.uploadConcurrency === undefined ? {} : { uploadConcurrency: o.uploadConcurrency }),
          maxConcurrentJobs: o.maxJobs,
          fragmentSizeBytes: o.fragmentMib === undefined ? undefined : o.fragmentMib * 1024 * 1024,
          // The schema says what is wrong with a codec or level (a level without zstd included).
          compression: o.compression === undefined && o.compressionLevel === undefined ? undefined : { codec: o.compression ?? 'none', ...(o.compressionLevel === undefined ? {} : { level: o.compressionLevel }) },
        },
        'storage unit',
      );
      await withBackend(globals, async (backend) => {
        await backend.config.putStorageUnit(unit);
        if (o.json ?? globals.json) printJson(unit);
        else console.log(`storage unit ${unit.name} saved`);
      });
    });
}
