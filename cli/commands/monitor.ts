import { InvalidArgumentError, type Command } from 'commander';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { type GlobalOptions, withBackend } from '../backend.ts';
import { note } from '../output.ts';
import { positiveNumber } from '../number-option.ts';
import { startMonitorFor, type MonitorFlags } from '../monitor/serve-monitor.ts';
import { DEFAULT_MONITOR_PORT, checkBind } from '../monitor/server.ts';

/** Why `cairn monitor` without --aws serves nothing: the standalone service serves its own page. */
export const LOCAL_MONITOR_MESSAGE =
  'the standalone runtime serves its activity monitor itself: run `cairn local serve` (--monitor-port, default 8466; it prints the URL with the token, kept in $CAIRN_HOME/monitor-token); `cairn --aws monitor` serves the page for a deployed stack';

const HELP = `
With --aws only: the page reads the deployed stack's tables (found as every
--aws command finds them: --stack's outputs, or the CAIRN_*_TABLE variables;
--region, --profile, --endpoint) with this machine's AWS credentials, and
acts (a cancel) with them. Nothing is created in the account and nothing
listens beyond this machine unless --monitor-host and TLS say so.

The token every request needs is kept in <home>/monitor-token, where <home> is
--home, else $CAIRN_HOME, else ./.cairn (the standalone state directory rule):
made on the first run (owner-only), reused after. Open the printed URL once.

While a page is open the server looks at the Jobs table every --poll-seconds:
one strongly consistent Query of the newest 200 job items (no Scan), about one
read request unit per 4 KB read; docs/architecture.md "Activity monitor" gives
the cost. Without a page open it reads nothing.

Standalone, \`cairn local serve\` serves the same page (this command refuses
without --aws, status 20). Runs until SIGINT or SIGTERM.`;

/** `cairn --aws monitor`: the activity monitor on the operator's machine, over a deployed stack. */
export function registerMonitor(program: Command): void {
  program
    .command('monitor')
    .description('serve the activity monitor page for a deployed stack (--aws) on this machine, with its AWS credentials')
    .option('--monitor-port <n>', 'port of the page', listenPort, DEFAULT_MONITOR_PORT)
    .option('--monitor-host <address>', 'address the page binds to; anything but loopback needs --tls-cert and --tls-key', '127.0.0.1')
    .option('--tls-cert <file>', 'PEM certificate: the page is served over HTTPS')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--poll-seconds <n>', 'seconds between two looks at the Jobs table while a page is open', positiveNumber, 1)
    .option('--json', 'print the monitor URL as one JSON line on stdout: {"monitor":{"url","origin"}}')
    .addHelpText('after', HELP)
    .action(async (options: MonitorFlags & { json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      if (!globals.aws) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, LOCAL_MONITOR_MESSAGE);
      // Refused before the stack is looked up: a bind that needs TLS is a usage error whatever the credentials.
      checkBind(options.monitorHost, options.tlsCert !== undefined ? { cert: options.tlsCert, key: options.tlsKey ?? '' } : undefined);
      const { resolveCairnHome } = await import('#local/runtime.ts');
      const home = resolveCairnHome(globals.home);
      await withBackend(globals, async (backend) => {
        // One Query of one item: credentials or a table that cannot be read fail now, with the table and the reason, not on the page.
        await backend.jobs.list({ limit: 1 });
        const monitor = await startMonitorFor(backend, home, options, Boolean(options.json ?? globals.json), { required: true });
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        note('cairn: stopping the activity monitor');
        await monitor?.close();
      });
    });
}

/** A TCP port to listen on, 1 to 65535 (the monitor is this command's whole job: there is no 0 to turn it off). */
function listenPort(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) throw new InvalidArgumentError(`${value} is not a port (1 to 65535)`);
  return Number(value);
}
