import { hostname, userInfo } from 'node:os';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { note } from '../output.ts';
import { checkBind, startMonitor, type Monitor, type MonitorOptions } from './server.ts';
import { loadOrCreateToken } from './token.ts';

/** The flags of `cairn local serve` and `cairn --aws monitor` that place the monitor. */
export interface MonitorFlags {
  monitorPort: number;
  monitorHost: string;
  tlsCert?: string;
  tlsKey?: string;
  /** Seconds between two looks of the live feed at the job list (`cairn --aws monitor --poll-seconds`); default 1. */
  pollSeconds?: number;
}

/**
 * Starts the monitor for a command: the bind checked first (a non-loopback
 * address without TLS stops the command, naming the flags it needs), the
 * token from `home`, and the URL with the token printed once: on stderr, or
 * as `{"monitor":{"url","origin"}}` on stdout with --json. Returns undefined
 * when the port is 0, or when it cannot listen (said in a note: the backup
 * service goes on without its page), unless `required` (`cairn --aws
 * monitor`, whose whole job the page is: it cannot listen, it fails with 20).
 */
export async function startMonitorFor(backend: MonitorOptions['backend'], home: string, flags: MonitorFlags, json: boolean, { required = false } = {}): Promise<Monitor | undefined> {
  if (flags.monitorPort === 0) return undefined;
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, '--tls-cert and --tls-key go together: give both or neither');
  const tls = flags.tlsCert !== undefined && flags.tlsKey !== undefined ? { cert: flags.tlsCert, key: flags.tlsKey } : undefined;
  checkBind(flags.monitorHost, tls);
  const token = loadOrCreateToken(home);
  try {
    const monitor = await startMonitor({ backend, token, host: flags.monitorHost, port: flags.monitorPort, ...(tls ? { tls } : {}), actor: `monitor ${userInfo().username}@${hostname()}`, ...(flags.pollSeconds !== undefined ? { pollMs: flags.pollSeconds * 1000 } : {}) });
    if (json) process.stdout.write(`${JSON.stringify({ monitor: { url: monitor.loginUrl, origin: monitor.origin } })}\n`);
    note(`cairn: activity monitor on ${monitor.loginUrl} (the token is in ${home}/monitor-token)`);
    return monitor;
  } catch (error) {
    if (required || !(error instanceof CairnError) || !/cannot listen/.test(error.message)) throw error;
    note(`cairn: ${error.message}; the service runs without its monitor (--monitor-port 0 turns it off)`);
    return undefined;
  }
}
