import type { IncomingMessage, ServerResponse } from 'node:http';
import { CairnError, NotFoundError, ValidationError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';

/** A refusal with its HTTP status; the message is the body's `message`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}

/** Every failure as JSON: refusals with their status, Cairn's errors with their status code and text, anything else a 500 that says so. */
export function sendError(response: ServerResponse, error: unknown): void {
  if (response.headersSent) return void response.destroy();
  if (error instanceof HttpError) return sendJson(response, error.status, { error: 'refused', message: error.message });
  if (error instanceof CairnError) {
    const status = error instanceof ValidationError ? 400 : error instanceof NotFoundError ? 404 : error.statusCode === StatusCode.INVALID_COMMAND_USAGE ? 409 : 500;
    return sendJson(response, status, error.toJSON());
  }
  sendJson(response, 500, { error: 'internal', message: error instanceof Error ? error.message : String(error) });
}

/** The most a POST body may hold: the page sends small JSON (a restore's file list is the largest). */
export const MAX_BODY_BYTES = 1024 * 1024;

/** application/json, with parameters or none (not `application/json-seq`, nor `text/json`). */
const JSON_TYPE = /^application\/json\s*(;|$)/i;

/**
 * What every POST must be before its route runs: a body, if it has one,
 * declared application/json (415 otherwise: an HTML form or a `text/plain`
 * fetch is what a cross-site request can send without a preflight) and no
 * longer than MAX_BODY_BYTES by its Content-Length (413 before reading it).
 * A route that takes no body is then never run on one it would ignore.
 */
export function checkPostBody(request: IncomingMessage): void {
  const length = request.headers['content-length'];
  if (length !== undefined && Number(length) > MAX_BODY_BYTES) throw new HttpError(413, `the request body is over ${MAX_BODY_BYTES} bytes (Content-Length ${length})`);
  const type = request.headers['content-type'];
  const hasBody = (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
  if ((hasBody || type !== undefined) && !JSON_TYPE.test(type ?? '')) throw new HttpError(415, `the request body must be application/json, not ${type || '(no Content-Type)'}`);
}

/**
 * A POST's JSON body: an empty body is `{}`; more than MAX_BODY_BYTES is a
 * 413, a body that is not JSON a 400 naming the parse error, and a content
 * type other than JSON a 415 (a form post from another site cannot send
 * application/json without a CORS preflight, which the monitor never grants).
 */
export async function readJsonBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `the request body is over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return {};
  const type = request.headers['content-type'] ?? '';
  if (!JSON_TYPE.test(type)) throw new HttpError(415, `the request body must be application/json, not ${type || '(no Content-Type)'}`);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch (error) {
    throw new HttpError(400, `the request body is not JSON: ${(error as Error).message}`);
  }
}
