import { type Command, InvalidArgumentError } from 'commander';
import { CairnError } from '#core/errors.ts';
import { Name } from '#core/model/names.ts';
import { StatusCode } from '#core/status-codes.ts';
import { parseOrThrow } from '#core/validation.ts';
import { type GlobalOptions, withBackend } from '../backend.ts';
import { printJson, table } from '../output.ts';
import { wholeNumber } from '../number-option.ts';
import { activationLines, activationReport, clientsByInstance } from '../agent-onboarding.ts';

/** SSM accepts an activation's expiry up to 30 days ahead. */
const MAX_EXPIRY_HOURS = 720;

function expiryHours(text: string): number {
  const hours = wholeNumber(text);
  if (hours < 1 || hours > MAX_EXPIRY_HOURS) throw new InvalidArgumentError(`must be from 1 to ${MAX_EXPIRY_HOURS} hours (SSM's limit is 30 days)`);
  return hours;
}

/** The agent commands talk to SSM in the deployment's account: they need --aws. */
function requireAws(globals: GlobalOptions, what: string): void {
  if (!globals.aws) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `cairn agent ${what} manages SSM instances of a deployed stack: run it with --aws (the standalone runtime runs its agent in process)`);
}

/** `cairn agent`: onboarding the hosts whose edge agents the cloud runtime drives through SSM. */
export function registerAgent(program: Command): void {
  const agent = program.command('agent').description('edge agent hosts of a deployed stack: SSM hybrid activations and managed instances (--aws)');
  agent
    .command('activate')
    .description('create an SSM hybrid activation for a client\'s host with the stack\'s agent role, and print the commands to run on the host')
    .requiredOption('--client <name>', 'the client the host is backed up as (tag cairn:client on the activation)')
    .option('--instance-name <name>', 'the name the instance gets in SSM (default: the client name)')
    .option('--expires <hours>', `hours until the activation expires (1 to ${MAX_EXPIRY_HOURS})`, expiryHours, 24)
    .option('--json', 'print JSON')
    .action(async (options: { client: string; instanceName?: string; expires: number; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      requireAws(globals, 'activate');
      const client = parseOrThrow(Name, options.client, 'client name');
      const { createAwsClients } = await import('#aws/clients.ts');
      const { resolveAgentRoleName } = await import('#aws/deployment-outputs.ts');
      const { createActivation } = await import('#aws/ssm-agents.ts');
      const role = await resolveAgentRoleName(globals);
      const clients = createAwsClients({ region: globals.region, endpoint: globals.endpoint, profile: globals.profile });
      try {
        const region = await clients.ssm.config.region();
        const expires = new Date(Date.now() + options.expires * 3_600_000);
        const activation = await createActivation(clients.ssm, { role, client, instanceName: options.instanceName, expires });
        const report = activationReport({ client, ...activation, region, expires });
        if (options.json ?? globals.json) printJson(report);
        else console.log(activationLines(report).join('\n'));
      } finally {
        clients.destroy();
      }
    });
  agent
    .command('list')
    .description('managed instances (hybrid mi- and EC2 i-) with ping status, SSM Agent version, platform and the clients mapped to each')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      requireAws(globals, 'list');
      const { createAwsClients } = await import('#aws/clients.ts');
      const { listManagedInstances } = await import('#aws/ssm-agents.ts');
      await withBackend(globals, async (backend) => {
        const mapped = clientsByInstance(await backend.config.listClients());
        const clients = createAwsClients({ region: globals.region, endpoint: globals.endpoint, profile: globals.profile });
        try {
          const instances = (await listManagedInstances(clients.ssm)).map((i) => ({ ...i, clients: mapped.get(i.instanceId) ?? [] }));
          if (options.json ?? globals.json) return printJson(instances);
          console.log(
            table(
              ['INSTANCE', 'NAME', 'PING', 'SSM AGENT', 'PLATFORM', 'CLIENTS', 'ACTIVATED FOR'],
              instances.map((i) => [i.instanceId, i.name, i.pingStatus, i.agentVersion, i.platform, i.clients.join(',') || '-', i.activatedFor]),
            ),
          );
        } finally {
          clients.destroy();
        }
      });
    });
}
