import type { Command } from 'commander';
import { loadSettings, saveSetting, settingKeys } from '#core/settings.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { type GlobalOptions, withBackend } from '../backend.ts';
import { printJson, table } from '../output.ts';
import { parseIsoTime } from '../time-option.ts';
import { duePreview } from '../schedule-preview.ts';

/** `cairn schedule` (nbpemreq): what is due and why, and suspending the scheduler. */
export function registerSchedule(program: Command): void {
  const schedule = program.command('schedule').description('the scheduler: due preview, suspend, resume (like nbpemreq)');
  schedule
    .command('due')
    .description('what is due now or at --at, with the reason for every schedule (like nbpemreq -due -date)')
    .option('--at <time>', 'preview at this instant (ISO 8601)', parseIsoTime)
    .option('--client <name>', 'only this client')
    .option('--policy <name>', 'only this policy')
    .option('--all', 'also list what is not due and why')
    .option('--json', 'print JSON')
    .action(async (options: { at?: Date; client?: string; policy?: string; all?: boolean; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        const now = options.at ?? backend.clock.now();
        // The same decision the scheduler tick makes (schedule-preview.ts), shared with the monitor's Schedule page.
        const preview = await duePreview(backend, now, { policy: options.policy, client: options.client });
        const { due, notDue, verifies: verifyDue, rehearsals: rehearsalDue, catalogCheck } = preview;
        const checks = catalogCheck ?? { notDue: [] };
        if (options.json ?? globals.json) return printJson({ at: preview.at, due, notDue, ...(verifyDue.length > 0 ? { verifies: verifyDue } : {}), ...(rehearsalDue.length > 0 ? { rehearsals: rehearsalDue } : {}), ...(catalogCheck ? { catalogCheck } : {}) });
        console.log(`due at ${now.toISOString()}${preview.suspended ? ' (scheduling is SUSPENDED)' : ''}:`);
        console.log(due.length ? table(['POLICY', 'CLIENT', 'SCHEDULE', 'LEVEL', 'DUE', 'WINDOW', 'WHY'], due.map((d) => [d.policy, d.client, d.schedule, d.level, d.dueSince, `${d.windowStart} – ${d.windowEnd}`, d.reason])) : '  nothing');
        if (verifyDue.length > 0) console.log(`\nverifies due:\n${table(['POLICY', 'CLIENT', 'IMAGE', 'DUE', 'WHY'], verifyDue.map((d) => [d.policy, d.client, d.backupId, d.dueSince, d.reason]))}`);
        if (rehearsalDue.length > 0) console.log(`\nrehearsals due:\n${table(['POLICY', 'CLIENT', 'IMAGE', 'DUE', 'WHY'], rehearsalDue.map((d) => [d.policy, d.client, d.backupId, d.dueSince, d.reason]))}`);
        if (checks.due) console.log(`\ncatalog check due (policy ${checks.due.policy}${checks.due.repair ? ', with repair' : ''}): ${checks.due.reason}`);
        if (options.all) for (const n of checks.notDue) console.log(`\ncatalog check of policy ${n.policy} not due: ${n.reason}`);
        if (options.all) {
          console.log('\nnot due:');
          console.log(notDue.length ? table(['POLICY', 'CLIENT', 'SCHEDULE', 'WHY NOT'], notDue.map((n) => [n.policy, n.client, n.schedule, n.reason])) : '  nothing');
        }
      });
    });
  for (const [name, value] of [['suspend', true], ['resume', false]] as const) {
    schedule
      .command(name)
      .description(value ? 'stop starting scheduled jobs (running jobs go on)' : 'start scheduled jobs again')
      .option('--json', 'print JSON')
      .action(async (options: { json?: boolean }, command: Command) => {
        const globals = command.optsWithGlobals<GlobalOptions>();
        await withBackend(globals, async (backend) => {
          await saveSetting(backend.config, 'schedulerSuspended', value);
          if (options.json ?? globals.json) printJson({ schedulerSuspended: value });
          else console.log(value ? 'scheduling suspended' : 'scheduling resumed');
        });
      });
  }
}

/** `cairn config` (bpconfig): global settings. Values are JSON (numbers, booleans, objects) or plain strings. */
export function registerConfig(program: Command): void {
  const config = program.command('config').description(`global settings (like bpconfig): ${settingKeys.join(', ')}`);
  config
    .command('get [key]')
    .option('--json', 'print JSON')
    .action(async (key: string | undefined, options: { json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        const settings = await loadSettings(backend.config);
        if (key !== undefined && !(settingKeys as string[]).includes(key)) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `unknown setting ${key} (known: ${settingKeys.join(', ')})`);
        const value = key === undefined ? settings : settings[key as keyof typeof settings];
        if (options.json ?? globals.json) printJson(value);
        else if (key === undefined) for (const [k, v] of Object.entries(settings)) console.log(`${k.padEnd(22)} ${JSON.stringify(v)}`);
        else console.log(JSON.stringify(value));
      });
    });
  config
    .command('set <key> <value>')
    .option('--json', 'print JSON')
    .action(async (key: string, raw: string, options: { json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      let value: unknown;
      try {
        value = JSON.parse(raw);
      } catch {
        value = raw;
      }
      await withBackend(globals, async (backend) => {
        await saveSetting(backend.config, key, value);
        if (options.json ?? globals.json) printJson({ [key]: value });
        else console.log(`${key} = ${JSON.stringify(value)}`);
      });
    });
}
