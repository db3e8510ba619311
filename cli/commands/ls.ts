import type { Command } from 'commander';
import { primaryCopy } from '#core/model/image.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { imagesAt } from '#core/catalog/point-in-time.ts';
import { byCodePoint } from '#core/code-point-order.ts';
import { listImagePath } from '#agent/restore/point-in-time.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { type GlobalOptions, withBackend } from '../backend.ts';
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
        const at = options.at ?? backend.clock.now();
        // With multiple data streams, one image per stream shows the tree (imagesAt): their entries together, the newest image's first.
        const { images } = await imagesAt(backend.catalog, { client: options.client, policy: options.policy, at });
        const image = images[0]!;
        const byPath = new Map<string, IndexEntry>();
        for (const shown of images) {
          const { storageUnit } = primaryCopy(shown);
          const unit = await backend.config.getStorageUnit(storageUnit);
          if (!unit) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${storageUnit} does not exist`);
          for (const entry of await listImagePath(await openStorageUnit(unit), shown, parseClientPath(path))) {
            // An entry of another stream's image is in that image (IN IMAGE), as an unchanged file is in its earlier one.
            if (!byPath.has(entry.path)) byPath.set(entry.path, shown === image ? entry : { ...entry, fromBackupId: entry.fromBackupId ?? shown.backupId });
          }
        }
        const entries = images.length === 1 ? [...byPath.values()] : [...byPath.values()].sort((a, b) => byCodePoint(a.path, b.path));
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
