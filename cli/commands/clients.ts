import type { Command } from 'commander';
import { clientInstanceConflicts } from '#core/clients/agent-instance.ts';
import { CairnError } from '#core/errors.ts';
import { Client } from '#core/model/client.ts';
import { StatusCode } from '#core/status-codes.ts';
import { parseOrThrow } from '#core/validation.ts';
import { type GlobalOptions, withBackend } from '../backend.ts';
import { printJson, table } from '../output.ts';

/**
 * `cairn client`: which managed instance each client's agent runs on. The
 * cloud runtime sends a client's backups there (a client with none is
 * refused, status 48); the standalone runtime keeps the mapping but runs its
 * agent in process. The mapping takes precedence over a policy client's
 * `agentInstanceId`, and the two must agree (core/clients/agent-instance.ts).
 */
export function registerClients(program: Command): void {
  const client = program.command('client').description('clients and the SSM managed instance their edge agent runs on');
  client
    .command('add')
    .description('map a client to the managed instance (mi-... on premise, i-... on EC2) of its agent; replaces an earlier mapping')
    .argument('<name>', 'client name, as in policies and `cairn backup --client`')
    .requiredOption('--instance <id>', 'SSM managed instance id (cairn --aws agent list)')
    .option('--json', 'print JSON')
    .action(async (name: string, options: { instance: string; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const mapping = parseOrThrow(Client, { name, instanceId: options.instance }, 'client');
      await withBackend(globals, async (backend) => {
        const conflicts = await clientInstanceConflicts(backend.config, mapping.name, mapping.instanceId);
        if (conflicts.length > 0) {
          throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `client ${mapping.name} not mapped to ${mapping.instanceId}: a policy says otherwise; change the policy's agentInstanceId (or remove it) first`, { details: conflicts });
        }
        await backend.config.putClient(mapping);
        if (options.json ?? globals.json) printJson(mapping);
        else console.log(`client ${mapping.name} → ${mapping.instanceId}`);
      });
    });
  client
    .command('list')
    .description('clients and their managed instances')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        const clients = await backend.config.listClients();
        if (options.json ?? globals.json) return printJson(clients);
        console.log(table(['CLIENT', 'INSTANCE'], clients.map((c) => [c.name, c.instanceId])));
      });
    });
  client
    .command('remove')
    .description('remove a client\'s mapping (its images and policies stay)')
    .argument('<name>', 'client name')
    .option('--json', 'print JSON')
    .action(async (name: string, options: { json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        const removed = await backend.config.deleteClient(name);
        if (!removed) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `client ${name} is not mapped (cairn client list)`);
        if (options.json ?? globals.json) printJson({ client: name, removed });
        else console.log(`client ${name} removed`);
      });
    });
}
