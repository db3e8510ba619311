import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { SECURITY_HEADERS, crossSiteReason, isAuthorized, isLoopback, sameSecret, tokenCookie } from './http-guard.ts';
import { servedHosts } from './served-hosts.ts';
import { checkPostBody, HttpError, sendError, sendJson } from './http-reply.ts';
import { JobEvents } from './job-events.ts';
import { JOB_ROUTES } from './job-routes.ts';
import { IMAGE_ROUTES } from './image-routes.ts';
import { POLICY_ROUTES } from './policy-routes.ts';
import { STORAGE_ROUTES } from './storage-routes.ts';
import { loadPageAssets, type PageAssets } from './page-assets.ts';
import { withSettledCost } from './settled-cost.ts';
import type { MonitorBackend, MonitorRoute } from './route.ts';

/**
 * Every API route, by area (each area's module says what it serves). The
 * first whose method and pattern match a request answers it.
 */
const ROUTES: MonitorRoute[] = [...JOB_ROUTES, ...IMAGE_ROUTES, ...POLICY_ROUTES, ...STORAGE_ROUTES];

/** The port `cairn local serve` serves the monitor on unless told otherwise (`--monitor-port`; 0 turns it off). */
export const DEFAULT_MONITOR_PORT = 8466;

export interface MonitorOptions {
  /** The stores the page reads and its actions act on: the standalone runtime's, or a deployed stack's. */
  backend: MonitorBackend;
  /** The token every request must carry (token.ts: $CAIRN_HOME/monitor-token). */
  token: string;
  /** Bind address; default 127.0.0.1. Anything but loopback needs `tls`. */
  host?: string;
  /** Port; 0 picks a free one (tests). */
  port: number;
  /** PEM files; with them the monitor serves HTTPS (and may bind beyond loopback). */
  tls?: { cert: string; key: string };
  /** Who a cancel from the page is recorded as, e.g. `root@host1, cairn monitor`. */
  actor: string;
  /** How often the live feed looks at the job list; default 1000 ms. */
  pollMs?: number;
  /** The page's files; default the build's or a bundle made on the first request (page-assets.ts). */
  assets?: () => Promise<PageAssets>;
  /** How long a client may take to send its headers, and its whole request; default HEADERS_TIMEOUT_MS and REQUEST_TIMEOUT_MS (tests shorten them). */
  timeouts?: { headersMs: number; requestMs: number };
}

/**
 * A client that sends its headers or its body a byte at a time (slowloris)
 * is answered 408 and dropped after these, not after node's 60 s and 300 s:
 * the page's requests are small and on loopback or a LAN. Node looks for
 * overdue requests every CHECK_INTERVAL_MS (its default, 30 s, would let one
 * linger that much longer). A live feed's stream is a response, not a
 * request: these do not end it.
 */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;
const CHECK_INTERVAL_MS = 1000;

export interface Monitor {
  /** Where the page is, without the token: `http://127.0.0.1:8466`. */
  origin: string;
  /** The page with the token, to open once: it sets the cookie and drops the token from the address. */
  loginUrl: string;
  close(): Promise<void>;
}

/**
 * Refuses a bind address beyond loopback without TLS: the token (and the
 * cookie) would cross the network in clear. Checked before anything listens.
 */
export function checkBind(host: string, tls: MonitorOptions['tls']): void {
  if (!isLoopback(host) && tls === undefined) {
    throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `--monitor-host ${host} is not a loopback address: serving the monitor beyond this machine needs --tls-cert and --tls-key (the token would otherwise cross the network in clear)`);
  }
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `${what} ${file}: cannot be read: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * The activity monitor's HTTP server: node:http and a dozen routes, no web
 * framework (README.md says why). Every request must carry the token, as a
 * bearer header or the cookie `GET /?token=` sets; the answer without it is
 * 401 with no data.
 */
export async function startMonitor(options: MonitorOptions): Promise<Monitor> {
  const host = options.host ?? '127.0.0.1';
  checkBind(host, options.tls);
  const scheme = options.tls ? 'https' : 'http';
  let assets: Promise<PageAssets> | undefined;
  // Loaded (or bundled) on the first request that needs them; a failed bundle is tried again on the next.
  const pageAssets = (): Promise<PageAssets> =>
    (assets ??= (options.assets ?? (() => loadPageAssets()))().catch((error: unknown) => {
      assets = undefined;
      throw error;
    }));
  const events = new JobEvents(options.backend.jobs, options.pollMs ?? 1000);
  // A settled job's cost is read once, however often its page is looked at (settled-cost.ts).
  const backend = withSettledCost(options.backend);
  const handler = (request: IncomingMessage, response: ServerResponse): void => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.setHeader(name, value);
    handle(request, response).catch((error: unknown) => sendError(response, error));
  };
  const cert = options.tls ? readPem(options.tls.cert, '--tls-cert') : undefined;
  const timeouts = { headersTimeout: options.timeouts?.headersMs ?? HEADERS_TIMEOUT_MS, requestTimeout: options.timeouts?.requestMs ?? REQUEST_TIMEOUT_MS, connectionsCheckingInterval: CHECK_INTERVAL_MS };
  const server: Server = options.tls ? createHttpsServer({ cert, key: readPem(options.tls.key, '--tls-key'), ...timeouts }, handler) : createHttpServer(timeouts, handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new CairnError(StatusCode.INVALID_COMMAND_USAGE, `monitor: cannot listen on ${host}:${options.port}: ${error.code === 'EADDRINUSE' ? 'the port is in use (--monitor-port picks another)' : error.message}`, { cause: error })),
    );
    server.listen(options.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  // The Host headers a request may name (served-hosts.ts says which and why); anything else is a rebinding attempt.
  const hosts = servedHosts(host, port, cert);
  const origin = `${scheme}://${hosts.originHost}:${port}`;
  const cookie = tokenCookie(port);

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (!hosts.accepts(request.headers.host)) throw new HttpError(421, `Host ${request.headers.host ?? '(none)'} is not what this monitor serves`);
    const url = requestUrl(request.url ?? '/', origin);
    const method = request.method ?? 'GET';
    if (method === 'GET' && url.pathname === '/' && url.searchParams.has('token')) return login(url, response);
    if (!isAuthorized(request, options.token, cookie)) throw new HttpError(401, 'the monitor token is missing or wrong: open the URL the command printed (`cairn local serve`, `cairn --aws monitor`), or send Authorization: Bearer <token> ($CAIRN_HOME/monitor-token)');
    if (method === 'POST') {
      // The Host passed hosts.accepts, in any case; a browser's Origin is in lower case.
      const refused = crossSiteReason(request, `${scheme}://${request.headers.host!.toLowerCase()}`);
      if (refused) throw new HttpError(403, `refused as a possible cross-site request: ${refused}`);
      // Before any route runs, including those that read no body (cancel, restart, suspend): a form's or text/plain body is never acted on.
      checkPostBody(request);
    } else if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `${method} is not served`);
    for (const route of ROUTES) {
      const match = route.path.exec(url.pathname);
      if (!match || route.method !== (method === 'HEAD' ? 'GET' : method)) continue;
      const body = await route.handle({ request, response, url, match, backend, actor: options.actor });
      if (body !== undefined) sendJson(response, 200, body);
      return;
    }
    if (method === 'POST') throw new HttpError(404, `no such action: POST ${url.pathname}`);
    if (url.pathname.startsWith('/api/') && url.pathname !== '/api/events') throw new HttpError(404, `no such API: GET ${url.pathname}`);
    if (url.pathname === '/api/events') return events.subscribe(response);
    const asset = (await pageAssets()).get(url.pathname);
    if (!asset) throw new HttpError(404, `${url.pathname}: not found`);
    response.writeHead(200, { 'Content-Type': asset.type, 'Content-Length': asset.body.length, 'Cache-Control': 'no-cache' });
    response.end(method === 'HEAD' ? undefined : asset.body);
  }

  /**
   * The request's path and query, read against the served origin. Only a path
   * is served: an absolute-form target (`GET http://other/...`, a proxy's
   * request, which no browser sends a server) or `*` is a 400, and so is one
   * the URL parser refuses (before, a 500). `//name/x` stays a path, not a
   * host named in the target.
   */
  function requestUrl(target: string, base: string): URL {
    if (!target.startsWith('/')) throw new HttpError(400, `the request target ${JSON.stringify(target.slice(0, 200))} is not a path`);
    try {
      return new URL(`${base}${target}`);
    } catch {
      throw new HttpError(400, `the request target ${JSON.stringify(target.slice(0, 200))} is not a valid path`);
    }
  }

  /** `GET /?token=`: the cookie, then a redirect that drops the token from the address bar and the history. */
  function login(url: URL, response: ServerResponse): void {
    if (!sameSecret(url.searchParams.get('token') ?? undefined, options.token)) throw new HttpError(401, 'the token in the URL is wrong');
    response.setHeader('Set-Cookie', `${cookie}=${options.token}; HttpOnly; SameSite=Strict; Path=/${options.tls ? '; Secure' : ''}`);
    response.writeHead(303, { Location: '/' }).end();
  }

  return {
    origin,
    loginUrl: `${origin}/?token=${options.token}`,
    close: async () => {
      events.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
