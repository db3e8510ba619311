import { resolve } from 'node:path';
import type { Command } from 'commander';
import { usableImage, type ImageCopy } from '#core/model/image.ts';
import { CairnError, NotFoundError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { RestoreResult } from '#agent/restore/restore.ts';
import { readableCopy, readFromCopy, restoreFromCopies } from '#agent/restore/copy-fallback.ts';
import type { ExistingEntries } from '#agent/restore/restore-target.ts';
import { restorePointInTime } from '#agent/restore/point-in-time.ts';
import { imagesAt } from '#core/catalog/point-in-time.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { type GlobalOptions, withBackend } from '../backend.ts';
import { formatBytes, note, printJson } from '../output.ts';
import { parseIsoTime } from '../time-option.ts';
import { collectClientPaths } from '../path-option.ts';
import { UsageError } from '../usage-errors.ts';
import { exitCodeFor } from '../exit-code.ts';
import { restoreAcrossCopies } from '../tape-restore.ts';

interface RestoreCommandOptions {
  backupId?: string;
  client?: string;
  at?: Date;
  policy?: string;
  to: string;
  path?: string[];
  overwrite?: boolean;
  renameExisting?: boolean;
  continueOnError?: boolean;
  numericOwner?: boolean;
  json?: boolean;
}

/**
 * `cairn restore` (bprestore): a whole image or selected paths into a target
 * directory. An image on disk or S3 is restored in this process; an image
 * on tape by a restore job (visible in `cairn jobs`, cancelled by `cairn
 * jobs cancel`) that reserves a drive and mounts each volume in turn. A non-empty target is refused unless --overwrite or
 * --rename-existing says what to do with what is there. Exit 0 success,
 * 1 partial success (refused members, best-effort failures), 2 failure
 * (a corrupt image ends with status 2001 unless --continue-on-error).
 */
export function registerRestore(program: Command): void {
  program
    .command('restore')
    .description('restore an image, or selected paths of it, into a directory (like bprestore)')
    .option('--backup-id <id>', 'the image to restore (its own members)')
    .option('--client <name>', 'with --at: the client whose tree to rebuild')
    .option('--at <time>', 'with --client: rebuild the tree as it was at this time (ISO 8601), from the image chain', parseIsoTime)
    .option('--policy <name>', 'with --at: only images of this policy')
    .requiredOption('--to <dir>', 'target directory; nothing is written outside it')
    .option('--path <path...>', 'only these paths (as backed up, e.g. /home/user/file; \\\\ for a backslash, \\xHH for a byte of a name that is not UTF-8, as cairn ls prints them); each must be in the image', collectClientPaths)
    .option('--overwrite', 'the target may hold entries: replace existing files (directories are merged)')
    .option('--rename-existing', 'the target may hold entries: keep each one that would be replaced as NAME.cairn-old[.N]')
    .option('--continue-on-error', 'best effort: list corrupt fragments and files, restore the rest, exit 1')
    .option('--numeric-owner', 'as root: set owners by the uid/gid numbers in the image, not by its user and group names (GNU tar --numeric-owner)')
    .option('--json', 'print JSON')
    .action(async (options: RestoreCommandOptions, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const json = options.json ?? globals.json;
      if (Boolean(options.backupId) === Boolean(options.client)) throw new UsageError('give either --backup-id ID, or --client C [--at TIME]', command);
      if (options.overwrite && options.renameExisting) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, 'give --overwrite or --rename-existing, not both');
      const existing: ExistingEntries = options.overwrite ? 'overwrite' : options.renameExisting ? 'rename' : 'refuse';
      await withBackend(globals, async (backend) => {
        const openCopy = async (copy: ImageCopy) => {
          const unit = await backend.config.getStorageUnit(copy.storageUnit);
          if (!unit) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${copy.storageUnit} does not exist`);
          return openStorageUnit(unit);
        };
        const catalogued = async (backupId: string) => {
          const image = await backend.catalog.getImage(backupId);
          if (!image) throw new NotFoundError('image', backupId);
          // An image being expired (its data may be half deleted) is never read.
          if (image.state !== 'ACTIVE') throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `image ${backupId} is being expired (${image.state}): it cannot be restored`);
          // Every copy's data found missing or short by `cairn catalog check --repair`.
          if (!usableImage(image)) throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `image ${backupId} is marked broken by the catalog check (${image.broken?.reasons[0] ?? 'its data is missing'}): it cannot be restored`);
          return image;
        };
        const openImage = async (backupId: string) => {
          const image = await catalogued(backupId);
          // Restores read the primary copy, as bprestore does without -copy, or the next copy whose objects are all there (copy-fallback.ts), saying so.
          const notes: string[] = [];
          const { copy, store } = await readableCopy(image, openCopy, notes);
          if (!json) for (const n of notes) note(n);
          return { image: readFromCopy(image, copy), store };
        };
        const targetDir = resolve(options.to);
        if (options.backupId) {
          const image = await catalogued(options.backupId);
          const tapeUnits = new Set<string>();
          for (const copy of image.copies) if ((await backend.config.getStorageUnit(copy.storageUnit))?.kind === 'tape') tapeUnits.add(copy.storageUnit);
          if (tapeUnits.size > 0) {
            // The restore job's task does not carry it yet: refused rather than ignored.
            if (options.numericOwner) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, '--numeric-owner is not supported for images with a copy on tape yet');
            // A copy on tape is restored by a restore job (restore-job.asl.json: a drive, each volume mounted in turn); a copy
            // that fails hands over to the next copy, on tape or not (tape-restore.ts).
            const request = { backupId: options.backupId, targetDir, paths: options.path, existing, continueOnError: options.continueOnError };
            const statusCode = await restoreAcrossCopies(backend, image, tapeUnits, request, json, async (fromObjects, existingNow) => {
              if (!json) note(`restoring ${image.backupId} (${image.level}, ${image.fileCount} entries, ${formatBytes(image.bytes)}) to ${targetDir}`);
              const result = await restoreFromCopies({ targetDir, paths: options.path, existing: existingNow, continueOnError: options.continueOnError, image: fromObjects, openImage }, openCopy, json ? undefined : (line) => note(line));
              const statusCode = result.refused.length > 0 || result.failures.length > 0 ? StatusCode.PARTIAL_SUCCESS : StatusCode.SUCCESS;
              if (json) printJson({ backupId: image.backupId, targetDir, statusCode, ...result });
              else printSummary(result, statusCode);
              return statusCode;
            });
            process.exitCode = exitCodeFor(statusCode);
            return;
          }
        }
        const at = options.at ?? backend.clock.now();
        // A client at a time: the image that shows its tree, or with multiple data streams one per stream (imagesAt).
        const view = options.backupId ? undefined : await imagesAt(backend.catalog, { client: options.client!, policy: options.policy, at });
        // A point in time opens its image through openImage (a readable copy first); a whole image chooses its copy in restoreFromCopies.
        const image = options.backupId ? await catalogued(options.backupId) : (await openImage(view!.images[0]!.backupId)).image;
        const streamImages = view?.images.slice(1) ?? [];
        if (!json) {
          note(`restoring ${image.backupId} (${image.level}, ${image.fileCount} entries, ${formatBytes(image.bytes)}) to ${targetDir}`);
          for (const other of streamImages) note(`  with stream ${other.selections?.join(', ')}: ${other.backupId} (${other.level}, ${other.fileCount} entries, ${formatBytes(other.bytes)})`);
          for (const stream of view?.missing ?? []) note(`  stream ${stream} has no image at or before ${at.toISOString()}: nothing of it is restored`);
        }
        const how = { targetDir, paths: options.path, existing, continueOnError: options.continueOnError, ...(options.numericOwner ? { numericOwner: true } : {}) };
        // A whole image: from the copy openImage chose, and again from the next copy when that one turns out corrupt (said on stderr, listed in --json as `fallbacks`).
        const result = options.client
          ? await restorePointInTime({ ...how, image, openImage, policy: options.policy, streamImages })
          : await restoreFromCopies({ ...how, image, openImage }, openCopy, json ? undefined : (line) => note(line));
        // Refused members and best-effort failures: the rest is restored, exit 1 (partial success).
        const statusCode = result.refused.length > 0 || result.failures.length > 0 ? StatusCode.PARTIAL_SUCCESS : StatusCode.SUCCESS;
        if (json) printJson({ backupId: image.backupId, targetDir, statusCode, ...result, ...(view?.missing.length ? { missingStreams: view.missing } : {}) });
        else printSummary(result, statusCode);
        process.exitCode = statusCode;
      });
    });
}

function printSummary(result: RestoreResult & { images?: string[] }, statusCode: number): void {
  const from = result.images && result.images.length > 1 ? ` from ${result.images.length} images (${result.images.join(', ')})` : '';
  note(`restored ${result.files} entries, ${formatBytes(result.bytes)}${from}; ${result.verified} checksums verified`);
  for (const renamed of result.renamed) note(`  renamed: ${renamed}`);
  for (const refused of result.refused) note(`  refused: ${refused}`);
  for (const failure of result.failures) note(`  failed: ${failure}`);
  if (statusCode !== StatusCode.SUCCESS) note(`partial success (status 1): ${result.refused.length} refused, ${result.failures.length} failed`);
}
