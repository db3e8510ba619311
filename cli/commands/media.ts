import type { Command } from 'commander';
import { NotFoundError } from '#core/errors.ts';
import { MediaState, type Media } from '#core/model/tape-media.ts';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import { type GlobalOptions, withBackend } from '../backend.ts';
import { formatBytes, printJson, table } from '../output.ts';
import { UsageError } from '../usage-errors.ts';

/** Where a volume is: its robot and slot, the drive it is in, or outside (and where it was last seen). */
function whereIs(m: Media): string {
  if (m.robot === undefined) return m.lastRobot === undefined ? 'outside' : `outside (last in ${m.lastRobot})`;
  return `${m.robot}${m.slot === undefined ? '' : ` slot ${m.slot}`}${m.drive === undefined ? '' : ` in ${m.drive}`}`;
}

function stateLabel(m: Media): string {
  return m.heldFrom === undefined ? m.state : `${m.state} (from ${m.heldFrom})`;
}

/** `cairn media` (vmquery / bpmedia / vmchange): the volumes of the media database. */
export function registerMedia(program: Command): void {
  const media = program.command('media').description('tape volumes (like vmquery, bpmedia, vmchange)');
  media
    .command('list')
    .description('volumes, in media id order')
    .option('--pool <name>', 'only this pool\'s')
    .option('--robot <name>', 'only those in this robot')
    .option('--state <state>', `only in this state (${MediaState.options.join(', ')})`)
    .option('--json', 'print JSON')
    .action(async (o: { pool?: string; robot?: string; state?: string; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const state = o.state === undefined ? undefined : MediaState.safeParse(o.state.toUpperCase());
      if (state !== undefined && !state.success) throw new UsageError(`--state ${o.state}: one of ${MediaState.options.join(', ')}`, command);
      await withBackend(globals, async (backend) => {
        const list = await backend.emm.listMedia({ ...(o.pool === undefined ? {} : { pool: o.pool }), ...(o.robot === undefined ? {} : { robot: o.robot }), ...(state === undefined ? {} : { state: state.data }) });
        if (o.json ?? globals.json) return printJson(list);
        console.log(
          table(
            ['MEDIA', 'POOL', 'STATE', 'WHERE', 'WRITTEN', 'FILES', 'IMAGES', 'MOUNTS', 'ERRORS', 'EXPIRES'],
            list.map((m) => [m.mediaId, m.pool, stateLabel(m), whereIs(m), formatBytes(m.bytesWritten), m.tapeFiles, m.images.length, m.mountCount, m.errors.length, m.expiresAt ?? '']),
          ),
        );
      });
    });
  media
    .command('show')
    .description('one volume: where it is, what is on it, its error history')
    .argument('<mediaId>', 'media id (barcode)')
    .option('--json', 'print JSON')
    .action(async (mediaId: string, o: { json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        const m = await backend.emm.getMedia(mediaId);
        if (m === undefined) throw new NotFoundError('media', mediaId);
        if (o.json ?? globals.json) return printJson(m);
        const lines: [string, unknown][] = [
          ['media', m.mediaId],
          ['pool', m.pool],
          ['state', stateLabel(m)],
          ['where', whereIs(m)],
          ['capacity', m.capacityBytes === undefined ? undefined : formatBytes(m.capacityBytes)],
          ['written', `${formatBytes(m.bytesWritten)} in ${m.tapeFiles} tape file${m.tapeFiles === 1 ? '' : 's'}`],
          ['retention', m.retentionDays === undefined ? undefined : `${m.retentionDays} days`],
          ['expires', m.expiresAt],
          ['mounts', m.mountCount],
          ['last mounted', m.lastMountedAt],
          ['last written', m.lastWrittenAt],
          ['added', m.addedAt],
          ['images', m.images.length === 0 ? 'none' : m.images.join(', ')],
        ];
        for (const [k, v] of lines) if (v !== undefined && v !== '') console.log(`${k.padEnd(14)}  ${String(v)}`);
        console.log(m.errors.length === 0 ? 'errors          none' : `errors\n${table(['AT', 'KIND', 'DRIVE', 'JOB', 'MESSAGE'], m.errors.map((e) => [e.at, e.kind, e.drive, e.jobId, e.message]))}`);
      });
    });
  media
    .command('label')
    .description('assign a never-written volume to a pool')
    .argument('<mediaId>', 'media id (barcode)')
    .requiredOption('--pool <name>', 'the pool (cairn pool list)')
    .option('--json', 'print JSON')
    .action(async (mediaId: string, o: { pool: string; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        const m = await backend.emm.label(mediaId, o.pool);
        if (o.json ?? globals.json) return printJson(m);
        console.log(`media ${m.mediaId} is in pool ${m.pool}`);
      });
    });
  const hold = (verb: 'freeze' | 'unfreeze' | 'suspend' | 'unsuspend', description: string) =>
    media
      .command(verb)
      .description(description)
      .argument('<mediaId>', 'media id (barcode)')
      .option('--json', 'print JSON')
      .action(async (mediaId: string, o: { json?: boolean }, command: Command) => {
        const globals = command.optsWithGlobals<GlobalOptions>();
        await withBackend(globals, async (backend) => {
          const emm: MediaDatabase = backend.emm;
          const m = await emm[verb](mediaId);
          if (o.json ?? globals.json) return printJson(m);
          console.log(`media ${m.mediaId} is ${stateLabel(m)}`);
        });
      });
  hold('freeze', 'never write to the volume again until unfrozen (it stays readable)');
  hold('unfreeze', 'return a frozen volume to the state it was frozen from');
  hold('suspend', 'stop writing to the volume until unsuspended (it stays readable)');
  hold('unsuspend', 'return a suspended volume to the state it was suspended from');
}
