import type { Command } from 'commander';
import { NotFoundError } from '#core/errors.ts';
import { type GlobalOptions, withBackend } from '../backend.ts';
import { printJson, table } from '../output.ts';
import { listPoolRows } from '../storage-listing.ts';

/** `cairn pool` (vmpool): volume pools; `scratch` is built in. */
export function registerPools(program: Command): void {
  const pool = program.command('pool').description('volume pools (like vmpool); scratch is built in');
  pool
    .command('add')
    .description('create a volume pool')
    .argument('<name>', 'pool name')
    .option('--description <text>', 'what the pool is for')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { description?: string; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        const added = await backend.emm.addPool({ name, ...(o.description === undefined ? {} : { description: o.description }) });
        if (o.json ?? globals.json) return printJson(added);
        console.log(`pool ${added.name} added`);
      });
    });
  pool
    .command('list')
    .description('volume pools and how many volumes each holds')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        const pools = await listPoolRows(backend.emm);
        if (o.json ?? globals.json) return printJson(pools);
        console.log(table(['NAME', 'VOLUMES', 'DESCRIPTION'], pools.map((p) => [p.name, p.volumes, p.description])));
      });
    });
  pool
    .command('delete')
    .description('delete an empty volume pool')
    .argument('<name>', 'pool name')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        // deletePool names a missing pool too, but only after looking at its volumes: say it plainly first.
        if (name !== 'scratch' && (await backend.emm.getPool(name)) === undefined) throw new NotFoundError('pool', name);
        await backend.emm.deletePool(name);
        if (o.json ?? globals.json) return printJson({ pool: name, deleted: true });
        console.log(`pool ${name} deleted`);
      });
    });
}
