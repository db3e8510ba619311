import type { Command } from 'commander';
import { type GlobalOptions, withBackend } from '../backend.ts';
import { formatBytes, printJson, table } from '../output.ts';
import { primaryCopy } from '#core/model/image.ts';
import { imageJson } from '../image-json.ts';
import { registerImageExpiry } from './image-expiry.ts';
import { expirationPlan } from '#core/catalog/expire-images.ts';

/**
 * `cairn images` (bpimagelist): catalogued images, newest first, each with
 * its state and, for an image past its date that stays, why (`KEPT`:
 * which image still needs it and until when). Its subcommands `expire` and
 * `set-expiry` are in image-expiry.ts.
 */
export function registerImages(program: Command): void {
  const images = program
    .command('images')
    .description('list backup images in the catalog (like bpimagelist); `images expire`, `images set-expiry` (bpexpdate)')
    .option('--client <name>', 'only this client')
    .option('--policy <name>', 'only this policy')
    .option('--json', 'print JSON')
    .action(async (options: { client?: string; policy?: string; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        const [images, plan] = await Promise.all([backend.catalog.listImages({ client: options.client, policy: options.policy }), expirationPlan(backend, backend.clock.now())]);
        const kept = new Map(plan.kept.map((k) => [k.backupId, k]));
        if (options.json ?? globals.json) {
          // `keptPastExpiry`: only on an image past its date that stays (its reason, the image or job needing it, until when).
          return printJson(images.map((i) => ({ ...imageJson(i), ...(kept.has(i.backupId) ? { keptPastExpiry: keptJson(kept.get(i.backupId)!) } : {}) })));
        }
        console.log(
          table(
            ['BACKUPID', 'CLIENT', 'POLICY', 'SCHEDULE', 'LEVEL', 'STATUS', 'FILES', 'SIZE', 'FRAGS', 'CREATED', 'EXPIRES', 'STATE'],
            images.map((i) => [i.backupId, i.client, i.policy, i.schedule, i.level, i.statusCode, i.fileCount, formatBytes(i.bytes), primaryCopy(i).fragments.length, i.createdAt, i.expiresAt, i.broken ? `${i.state} (broken copy ${i.broken.copies.join(', ')})` : i.state]),
          ),
        );
        // Copies beyond the primary on lines of their own, so the table stays as scripts read it.
        for (const i of images) if (i.copies.length > 1) console.log(`${i.backupId}: ${i.copies.map((c, n) => `copy ${c.copyNumber} on ${c.storageUnit}${n === 0 ? ' (primary)' : ''} until ${c.expiresAt ?? i.expiresAt}`).join(', ')}`);
        // The reasons on lines of their own: a table column would be as wide as the longest reason.
        for (const i of images) {
          const k = kept.get(i.backupId);
          if (k) console.log(`${i.backupId}: past its expiration ${i.expiresAt}, ${k.reason}`);
        }
      });
    });
  registerImageExpiry(images);
}

function keptJson(k: { neededBy: string; keptUntil?: string; reason: string }): Record<string, unknown> {
  return { neededBy: k.neededBy, ...(k.keptUntil === undefined ? {} : { keptUntil: k.keptUntil }), reason: k.reason };
}
