import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/**
 * The cookie the page's requests carry the token in (HttpOnly: no script of
 * the page can read it), named by the monitor's port: a browser keeps cookies
 * by host, not by port, so two monitors on one machine (`cairn local serve`
 * and `cairn --aws monitor` with another home) under one name would each log
 * the other out at every login.
 */
export function tokenCookie(port: number): string {
  return `cairn_token_${port}`;
}

/**
 * Sent with every response. The page is one module script and one style
 * sheet from this origin: no inline script or style, no other origin, no
 * framing, so a file name that smuggles markup past the escaping still runs
 * nothing. No Access-Control-* header is ever sent: other origins get no CORS.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** Whether a bind address only this machine reaches: 127.0.0.0/8, ::1 or `localhost`. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/** Compares without leaking where two strings differ through the time taken. */
export function sameSecret(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The bearer token of the Authorization header, if it has one. */
export function bearerOf(request: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
  return match?.[1];
}

/** The token cookie's value, if the request carries it. */
export function cookieTokenOf(request: IncomingMessage, cookie: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === cookie) return value.join('=');
  }
  return undefined;
}

/** Whether the request carries the token, in the Authorization header or the cookie. */
export function isAuthorized(request: IncomingMessage, token: string, cookie: string): boolean {
  return sameSecret(bearerOf(request), token) || sameSecret(cookieTokenOf(request, cookie), token);
}

/**
 * Why a mutating request is refused as possibly cross-site, or undefined when
 * it is not: its Origin must be the origin it was sent to. A request without
 * an Origin (a script, curl) must carry the bearer header, which no other
 * site's page can make a browser add; the cookie alone is not enough then.
 */
export function crossSiteReason(request: IncomingMessage, servedOrigin: string): string | undefined {
  const origin = request.headers.origin;
  if (origin === undefined) return bearerOf(request) === undefined ? 'a request without an Origin header must carry the token as Authorization: Bearer' : undefined;
  return origin === servedOrigin ? undefined : `Origin ${origin} is not ${servedOrigin}`;
}
