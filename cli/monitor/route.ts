import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Backend } from '../backend-interface.ts';

/**
 * What the monitor serves from: a Backend without its `close` (the command
 * that opened it closes it). The standalone runtime's (cli/backend.ts
 * localBackend) or a deployed stack's (cli/aws-backend.ts).
 */
export type MonitorBackend = Omit<Backend, 'close'>;

/** What a route's handler is given. */
export interface RouteContext {
  request: IncomingMessage;
  response: ServerResponse;
  url: URL;
  /** The pattern's capture groups (match[1] is the first). */
  match: RegExpExecArray;
  backend: MonitorBackend;
  /** Who an action from the page is recorded as, e.g. `monitor root@host1`. */
  actor: string;
}

/**
 * One API route. The handler's answer is sent as JSON with status 200;
 * a handler that wrote the response itself (a 304, a stream) returns
 * undefined. Refusals are thrown (http-reply.ts HttpError, or a CairnError).
 * POST routes pass the token, Host and same-origin checks before they run.
 */
export interface MonitorRoute {
  method: 'GET' | 'POST';
  /** Matched against the whole pathname; anchor it (`^...$`). */
  path: RegExp;
  handle(context: RouteContext): Promise<unknown>;
}
