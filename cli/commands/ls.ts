import type { Command } from 'commander';
import { type GlobalOptions, withBackend } from '../backend.ts';
import { listClientPath } from '../image-browse.ts';
import { formatBytes, printJson, table } from '../output.ts';
import { parseIsoTime } from '../time-option.ts';
import { parseClientPath } from '../path-option.ts';
import { escapedName } from '#core/model/file-name.ts';
import type { IndexEntry } from '#core/model/task.ts';

/** `cairn ls` (bplist): what a client had at a path at a point in time. */
export function registerLs(program: Command): void {
  program
    .command('ls <path>')
    .description('list a directory of a client as it was backed up at a time (like bplist)')
    .requiredOption('--client <name>', 'client')
    .option('--at <time>', 'point in time (ISO 8601); default now', parseIsoTime)
    .option('--policy <name>', 'only images of this policy')
    .option('--json', 'print JSON')
    .action(async (path: string, options: { client: string; at?: Date; policy?: string; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        const { image, entries } = await listClientPath(backend, { client: options.client, policy: options.policy, at: options.at ?? backend.clock.now(), path: parseClientPath(path) });
        if (options.json ?? globals.json) return printJson({ backupId: image.backupId, entries });
        console.log(`${image.backupId} (${image.level}, ${image.createdAt}):`);
        console.log(
          table(
            ['MODE', 'SIZE', 'MODIFIED', 'PATH', 'IN IMAGE'],
            entries.map((e) => [`${TYPE_LETTER[e.type]}${(e.mode & 0o7777).toString(8).padStart(4, '0')}`, formatBytes(e.size), new Date(e.mtimeMs).toISOString(), e.linkTarget ? `${escapedName(e.path)} -> ${escapedName(e.linkTarget)}` : escapedName(e.path), e.fromBackupId ?? image.backupId]),
          ),
        );
      });
    });
}

/** The MODE column's first letter; FIFOs and devices as ls(1) shows them. */
const TYPE_LETTER: Record<IndexEntry['type'], string> = { file: 'f', directory: 'd', symlink: 's', hardlink: 'h', fifo: 'p', 'character-device': 'c', 'block-device': 'b' };
