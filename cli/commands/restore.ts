import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CairnError, NotFoundError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { restoreImage } from '#agent/restore.ts';
import { openStorageUnit } from '#agent/open-storage-unit.ts';
import { type GlobalOptions, openBackend } from '../backend.ts';
import { formatBytes, note, printJson } from '../output.ts';

/** `cairn restore` (bprestore): a whole image or selected paths into a target directory. */
export function registerRestore(program: Command): void {
  program
    .command('restore')
    .description('restore an image, or selected paths of it, into a directory (like bprestore)')
    .requiredOption('--backup-id <id>', 'the image to restore')
    .requiredOption('--to <dir>', 'target directory; nothing is written outside it')
    .option('--path <path...>', 'only these paths (as backed up, e.g. /home/user/file)')
    .option('--json', 'print JSON')
    .action(async (options: { backupId: string; to: string; path?: string[]; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const json = options.json ?? globals.json;
      const backend = await openBackend(globals);
      try {
        const image = await backend.catalog.getImage(options.backupId);
        if (!image) throw new NotFoundError(`image ${options.backupId}`);
        const unit = await backend.config.getStorageUnit(image.storageUnit);
        if (!unit) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${image.storageUnit} of image ${image.backupId} does not exist`);
        const targetDir = resolve(options.to);
        if (!json) note(`restoring ${image.backupId} (${image.fileCount} files, ${formatBytes(image.bytes)}) to ${targetDir}`);
        const result = await restoreImage({ store: await openStorageUnit(unit), manifestKey: image.manifestKey, targetDir, paths: options.path });
        const statusCode = result.refused.length > 0 ? StatusCode.PARTIAL_SUCCESS : StatusCode.SUCCESS;
        if (json) printJson({ backupId: image.backupId, targetDir, statusCode, ...result });
        else {
          note(`restored ${result.files} entries, ${formatBytes(result.bytes)}; ${result.verified} checksums verified`);
          for (const refused of result.refused) note(`  refused: ${refused}`);
        }
        process.exitCode = statusCode;
      } finally {
        backend.close();
      }
    });
}
