import type { Command } from 'commander';
import { applyPolicies } from '#core/policies/apply-policies.ts';
import { formatDuration } from '#core/model/durations.ts';
import type { Policy } from '#core/model/policy.ts';
import { NotFoundError } from '#core/errors.ts';
import { type GlobalOptions, withBackend } from '../backend.ts';
import { printJson, table } from '../output.ts';
import { inPolicyFile, readPolicyFile } from '../policy-file.ts';
import { policyYaml } from '../policy-yaml.ts';

export { readPolicyFile };

function describeSchedule(s: Policy['schedules'][number]): string {
  const when = s.frequency !== undefined ? `every ${formatDuration(s.frequency)}` : s.calendar ? 'calendar' : 'manual only';
  const windows = s.windows.map((w) => `${w.days.join(',')} ${w.start}+${formatDuration(w.duration)}`).join('; ');
  return `${s.name} (${s.type}, ${when}${windows ? `, windows ${windows}` : ''}, retention ${s.retention.days}d)`;
}

/** `cairn policy` (bppllist / bpplinfo): policies as files an administrator keeps in git. */
export function registerPolicy(program: Command): void {
  const policy = program.command('policy').description('backup policies (like bppllist / bpplinfo)');
  policy
    .command('apply')
    .description('create or update the policies in a YAML/JSON file; a file with any problem changes nothing')
    .requiredOption('-f, --file <path>', 'policy file')
    .option('--dry-run', 'validate and report what would change')
    .option('--json', 'print JSON')
    .action(async (options: { file: string; dryRun?: boolean; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const documents = readPolicyFile(options.file);
      await withBackend(globals, async (backend) => {
        const results = await applyPolicies(backend.config, documents, { dryRun: options.dryRun, cloud: backend.kind === 'aws' }).catch((error: unknown) => {
          throw inPolicyFile(options.file, error);
        });
        if (options.json ?? globals.json) return printJson(results);
        for (const r of results) console.log(`policy ${r.policy} ${options.dryRun ? `would be ${r.action}` : r.action}`);
      });
    });
  policy
    .command('list')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        const policies = await backend.config.listPolicies();
        if (options.json ?? globals.json) return printJson(policies);
        console.log(table(['NAME', 'ACTIVE', 'PRIORITY', 'CLIENTS', 'SCHEDULES', 'STORAGE UNIT', 'TIME ZONE'], policies.map((p) => [p.name, p.active ? 'yes' : 'no', p.priority, p.clients.length, p.schedules.map((s) => s.name).join(','), p.storageUnit, p.timeZone])));
      });
    });
  policy
    .command('show <name>')
    .option('--yaml', 'print the policy as YAML that `cairn policy apply -f` takes back')
    .option('--json', 'print JSON')
    .action(async (name: string, options: { yaml?: boolean; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        const p = await backend.config.getPolicy(name);
        if (!p) throw new NotFoundError('policy', name);
        if (options.json ?? globals.json) return printJson(p);
        if (options.yaml) return void process.stdout.write(policyYaml(p));
        console.log(`policy ${p.name}: ${p.active ? 'active' : 'INACTIVE'}, priority ${p.priority}, time zone ${p.timeZone}, storage unit ${p.storageUnit}`);
        console.log(`  clients:    ${p.clients.map((c) => `${c.name} (priority ${c.priority})`).join(', ')}`);
        console.log(`  selections: ${p.selections.join(', ')}${p.exclude.length ? `; exclude ${p.exclude.join(', ')}` : ''}`);
        for (const s of p.schedules) console.log(`  schedule:   ${describeSchedule(s)}`);
      });
    });
  policy
    .command('delete <name>')
    .option('--json', 'print JSON')
    .action(async (name: string, options: { json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        if (!(await backend.config.deletePolicy(name))) throw new NotFoundError('policy', name);
        if (options.json ?? globals.json) printJson({ policy: name, action: 'deleted' });
        else console.log(`policy ${name} deleted`);
      });
    });
}
