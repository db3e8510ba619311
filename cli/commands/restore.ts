import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CairnError, NotFoundError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { restoreImage } from '#agent/restore.ts';
import { restorePointInTime } from '#agent/point-in-time.ts';
import { imageAt } from '#core/catalog/point-in-time.ts';
import { openStorageUnit } from '#agent/open-storage-unit.ts';
import { type GlobalOptions, withBackend } from '../backend.ts';
import { formatBytes, note, printJson } from '../output.ts';
import { parseIsoTime } from '../time-option.ts';

/** `cairn restore` (bprestore): a whole image or selected paths into a target directory. */
export function registerRestore(program: Command): void {
  program
    .command('restore')
    .description('restore an image, or selected paths of it, into a directory (like bprestore)')
    .option('--backup-id <id>', 'the image to restore (its own members)')
    .option('--client <name>', 'with --at: the client whose tree to rebuild')
    .option('--at <time>', 'with --client: rebuild the tree as it was at this time (ISO 8601), from the image chain', parseIsoTime)
    .option('--policy <name>', 'with --at: only images of this policy')
    .requiredOption('--to <dir>', 'target directory; nothing is written outside it')
    .option('--path <path...>', 'only these paths (as backed up, e.g. /home/user/file)')
    .option('--json', 'print JSON')
    .action(async (options: { backupId?: string; client?: string; at?: Date; policy?: string; to: string; path?: string[]; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const json = options.json ?? globals.json;
      if (Boolean(options.backupId) === Boolean(options.client)) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, 'give either --backup-id ID, or --client C [--at TIME]');
      await withBackend(globals, async (backend) => {
        const openImage = async (backupId: string) => {
          const image = await backend.catalog.getImage(backupId);
          if (!image) throw new NotFoundError(`image ${backupId}`);
          const unit = await backend.config.getStorageUnit(image.storageUnit);
          if (!unit) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${image.storageUnit} of image ${image.backupId} does not exist`);
          return { image, store: await openStorageUnit(unit) };
        };
        const targetDir = resolve(options.to);
        const at = options.at ?? backend.clock.now();
        const { image, store } = await openImage(options.backupId ?? (await imageAt(backend.catalog, { client: options.client!, policy: options.policy, at })).backupId);
        if (!json) note(`restoring ${image.backupId} (${image.level}, ${image.fileCount} entries, ${formatBytes(image.bytes)}) to ${targetDir}`);
        const result = options.client
          ? await restorePointInTime({ image, openImage, targetDir, paths: options.path })
          : await restoreImage({ store, manifestKey: image.manifestKey, targetDir, paths: options.path });
        const statusCode = result.refused.length > 0 ? StatusCode.PARTIAL_SUCCESS : StatusCode.SUCCESS;
        if (json) printJson({ backupId: image.backupId, targetDir, statusCode, ...result });
        else {
          note(`restored ${result.files} entries, ${formatBytes(result.bytes)}; ${result.verified} checksums verified`);
          for (const refused of result.refused) note(`  refused: ${refused}`);
        }
        process.exitCode = statusCode;
      });
    });
}
