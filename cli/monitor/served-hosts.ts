import { X509Certificate } from 'node:crypto';
import { hostname, networkInterfaces } from 'node:os';
import { isLoopback } from './http-guard.ts';

/** What the monitor answers to: the Host headers it accepts, and the origin it prints. */
export interface ServedHosts {
  /** Whether a request's Host header (`name:port`, as the browser sends it) names this monitor. */
  accepts(host: string | undefined): boolean;
  /** The host part of the printed origin (`[::1]` bracketed). */
  originHost: string;
}

/** A bind to every address of the machine: 0.0.0.0 or ::. */
export function isWildcard(bind: string): boolean {
  return bind === '0.0.0.0' || bind === '::' || bind === '[::]';
}

const bracketed = (host: string): string => (host.includes(':') ? `[${host}]` : host);

/**
 * The names a request may give in its Host header, and the one the URL names.
 *
 * - A loopback bind answers to its address, `localhost`, 127.0.0.1 and [::1]:
 *   a page of another site that rebinds its own name to 127.0.0.1 (DNS
 *   rebinding) names that site, and gets 421.
 * - A bind beyond loopback (which needs TLS: server.ts checkBind) answers to
 *   its address; to this machine's name (`os.hostname()`, and its first label
 *   when that is a dotted name); to every DNS name and IP address the
 *   certificate names (its subjectAltName: the names a browser accepts the
 *   certificate for, `*.example.com` covering one label); and, for 0.0.0.0 or
 *   ::, to every address of the machine's interfaces and the loopback names.
 *   Any other name is still refused: a rebound name is not in the
 *   certificate, and the browser refuses the certificate before that anyway.
 *
 * The printed origin of a wildcard bind names the certificate's first DNS
 * name, else the machine's name: `https://0.0.0.0:8466` reaches nothing.
 */
export function servedHosts(bind: string, port: number, certificate?: Buffer): ServedHosts {
  // A wildcard is not a name to reach the monitor by (browsers refuse 0.0.0.0): its machine's names and addresses are.
  const exact = new Set<string>(isWildcard(bind) ? [] : [bracketed(bind).toLowerCase()]);
  const patterns: string[] = [];
  let originHost = bracketed(bind);
  const loopbackNames = ['localhost', '127.0.0.1', '[::1]'];
  if (isLoopback(bind)) {
    for (const name of loopbackNames) exact.add(name);
  } else {
    const machine = hostname().toLowerCase();
    exact.add(machine);
    exact.add(machine.split('.')[0]!);
    const named = certificateNames(certificate);
    for (const name of named.dns) {
      if (name.startsWith('*.')) patterns.push(name.slice(1));
      else exact.add(name);
    }
    // Node prints an IPv6 address of the certificate expanded (0:0:0:0:0:0:0:1); the URL parser writes it as a Host header does ([::1]).
    for (const address of named.ip) exact.add(address.includes(':') ? new URL(`http://[${address}]/`).hostname : address);
    if (isWildcard(bind)) {
      for (const name of loopbackNames) exact.add(name);
      for (const addresses of Object.values(networkInterfaces())) for (const a of addresses ?? []) exact.add(bracketed(a.address.toLowerCase()));
      originHost = named.dns.find((name) => !name.startsWith('*.')) ?? machine;
    }
  }
  const defaultPort = certificate === undefined ? 80 : 443;
  return {
    originHost,
    accepts(host) {
      if (host === undefined) return false;
      // A browser leaves the port out of Host when it is the scheme's (`--monitor-port 80`, or 443 with TLS).
      const match = /^(.+?)(?::(\d{1,5}))?$/.exec(host.toLowerCase());
      if (!match || Number(match[2] ?? defaultPort) !== port) return false;
      const name = match[1]!;
      if (exact.has(name)) return true;
      // `*.example.com` covers `a.example.com`, not `a.b.example.com` nor `example.com` (RFC 6125 §6.4.3).
      return patterns.some((suffix) => name.endsWith(suffix) && name.length > suffix.length && !name.slice(0, -suffix.length).includes('.'));
    },
  };
}

/** The DNS names and IP addresses of a PEM certificate's subjectAltName; none when it has none or cannot be read. */
function certificateNames(pem: Buffer | undefined): { dns: string[]; ip: string[] } {
  const names = { dns: [] as string[], ip: [] as string[] };
  if (pem === undefined) return names;
  let subjectAltName: string | undefined;
  try {
    subjectAltName = new X509Certificate(pem).subjectAltName;
  } catch {
    // A certificate Node cannot parse here fails loudly when the server loads it; the names are only a convenience.
    return names;
  }
  for (const entry of (subjectAltName ?? '').split(', ')) {
    const [kind, ...rest] = entry.split(':');
    const value = rest.join(':').toLowerCase();
    if (kind === 'DNS' && value) names.dns.push(value);
    if (kind === 'IP Address' && value) names.ip.push(value);
  }
  return names;
}
