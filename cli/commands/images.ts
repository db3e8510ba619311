import type { Command } from 'commander';
import { type GlobalOptions, withBackend } from '../backend.ts';
import { formatBytes, printJson, table } from '../output.ts';
import { primaryCopy } from '#core/model/image.ts';
import { imageJson } from '../image-json.ts';

/** `cairn images` (bpimagelist): catalogued images, newest first. */
export function registerImages(program: Command): void {
  program
    .command('images')
    .description('list backup images in the catalog (like bpimagelist)')
    .option('--client <name>', 'only this client')
    .option('--policy <name>', 'only this policy')
    .option('--json', 'print JSON')
    .action(async (options: { client?: string; policy?: string; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        const images = await backend.catalog.listImages({ client: options.client, policy: options.policy });
        if (options.json ?? globals.json) return printJson(images.map(imageJson));
        console.log(
          table(
            ['BACKUPID', 'CLIENT', 'POLICY', 'SCHEDULE', 'LEVEL', 'STATUS', 'FILES', 'SIZE', 'FRAGS', 'CREATED', 'EXPIRES'],
            images.map((i) => [i.backupId, i.client, i.policy, i.schedule, i.level, i.statusCode, i.fileCount, formatBytes(i.bytes), primaryCopy(i).fragments.length, i.createdAt, i.expiresAt]),
          ),
        );
      });
    });
}
