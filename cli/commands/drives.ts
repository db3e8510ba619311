import type { Command } from 'commander';
import type { Drive } from '#core/model/tape-media.ts';
import { NotFoundError } from '#core/errors.ts';
import { type GlobalOptions, withBackend } from '../backend.ts';
import type { Backend } from '../backend-interface.ts';
import { formatBytes, printJson, table } from '../output.ts';
import { isStDrive } from '../robot-definition.ts';

/** `cairn drive` (vmoprcmd / tpconfig -d for drives: state, errors). */
export function registerDrives(program: Command): void {
  const drive = program.command('drive').description('tape drives: their state, errors and loaded volume (like vmoprcmd)');
  drive
    .command('list')
    .description('every drive of every robot')
    .option('--robot <name>', 'only the drives of this robot')
    .option('--json', 'print JSON')
    .action(async (o: { robot?: string; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        const drives = await backend.emm.listDrives(o.robot);
        if (o.json ?? globals.json) return printJson(drives);
        console.log(
          table(
            ['NAME', 'ROBOT', 'INDEX', 'TYPE', 'PATH', 'BLOCK SIZE', 'STATE', 'ERRORS', 'LOADED', 'REASON'],
            drives.map((d) => [d.name, d.robot, d.index, isStDrive(d.path) ? 'st' : 'file', d.path, formatBytes(d.blockSize), d.state, d.errorCount, d.loaded?.mediaId ?? '', d.downReason ?? '']),
          ),
        );
      });
    });
  drive
    .command('show')
    .description('one drive: its state, what is loaded, its error history (what `cairn drive reset` clears)')
    .argument('<name>', 'drive name (cairn drive list)')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        const d = await backend.emm.getDrive(name);
        if (d === undefined) throw new NotFoundError('drive', name);
        if (o.json ?? globals.json) return printJson(d);
        const lines: [string, unknown][] = [
          ['drive', d.name],
          ['robot / index', `${d.robot} / ${d.index}`],
          ['path', `${d.path} (${isStDrive(d.path) ? 'st' : 'file tape'}, ${formatBytes(d.blockSize)} blocks)`],
          ['state', d.downReason ? `${d.state} (${d.downReason})` : d.state],
          ['loaded', d.loaded ? `${d.loaded.mediaId} since ${d.loaded.since}` : 'nothing'],
          ['last used', d.lastUsedAt],
          ['error count', d.errorCount],
        ];
        for (const [k, v] of lines) if (v !== undefined && v !== '') console.log(`${k.padEnd(14)}  ${String(v)}`);
        console.log(d.errors.length === 0 ? 'errors          none' : `errors\n${table(['AT', 'KIND', 'VOLUME', 'JOB', 'MESSAGE'], d.errors.map((e) => [e.at, e.kind, e.mediaId, e.jobId, e.message]))}`);
      });
    });
  const change = (verb: string, description: string, apply: (backend: Backend, name: string, o: { reason?: string }) => Promise<Drive>, said: (d: Drive) => string) => {
    const sub = drive.command(verb).description(description).argument('<name>', 'drive name (cairn drive list)');
    if (verb === 'down') sub.option('--reason <text>', 'why, shown in cairn drive list and in the wait reason of jobs');
    sub.option('--json', 'print JSON').action(async (name: string, o: { reason?: string; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        const d = await apply(backend, name, o);
        if (o.json ?? globals.json) return printJson(d);
        console.log(said(d));
      });
    });
  };
  change('up', 'put a drive back in service', (b, name) => b.emm.setDriveState(name, 'UP'), (d) => `drive ${d.name} is UP`);
  change('down', 'take a drive out of service: no job is given it', (b, name, o) => b.emm.setDriveState(name, 'DOWN', o.reason ?? 'set DOWN by an operator'), (d) => `drive ${d.name} is DOWN (${d.downReason})`);
  change('reset', 'clear a drive\'s error count and history (it stays UP or DOWN)', (b, name) => b.emm.resetDriveErrors(name), (d) => `drive ${d.name}: errors cleared (${d.state})`);
}
