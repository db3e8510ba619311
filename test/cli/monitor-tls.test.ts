import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { hostname, networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { localBackend } from '#cli/backend.ts';
import { findOnPath } from '#test/setup/aws-emulator-path.ts';
import { startMonitor, type Monitor } from '#cli/monitor/server.ts';
import { sampleJob } from '../contracts/fixtures.ts';
import { cairnBin, runCairn } from './cli-process.ts';
import { freePort } from './monitor-browser-harness.ts';

const run = promisify(execFile);
const openssl = findOnPath('openssl');
const skip = openssl === undefined ? 'openssl is not on PATH (it makes the self-signed certificate)' : undefined;
const token = 'b'.repeat(64);

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One HTTPS request through node:https, connected to `address` (127.0.0.1 by
 * default) whatever the Host header names, trusting the self-signed
 * certificate (rejectUnauthorized: false: what is tested is the monitor, not
 * the test's certificate authority).
 */
async function https(port: number, path: string, options: { host?: string; method?: string; headers?: Record<string, string>; address?: string } = {}): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const req = httpsRequest(
      { host: options.address ?? '127.0.0.1', port, path, method: options.method ?? 'GET', rejectUnauthorized: false, servername: 'monitor.test', headers: { Host: options.host ?? `127.0.0.1:${port}`, ...options.headers } },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Logs in with the token in the URL, as the printed URL does: the cookie it sets. */
async function login(port: number, host: string, address?: string): Promise<string> {
  const answer = await https(port, `/?token=${token}`, { host, ...(address ? { address } : {}) });
  expect(answer.status).toBe(303);
  expect(answer.headers.location).toBe('/');
  const cookie = (answer.headers['set-cookie'] as string[])[0]!;
  expect(cookie).toBe(`cairn_token_${port}=${token}; HttpOnly; SameSite=Strict; Path=/; Secure`);
  return cookie.split(';')[0]!;
}

/**
 * The monitor over HTTPS (`--tls-cert`/`--tls-key`) with a self-signed
 * certificate made by openssl: on loopback, and on a bind beyond loopback
 * (0.0.0.0, and this machine's own address when it has one), where the Host
 * names it answers to are the machine's name, the certificate's names and
 * the machine's addresses (cli/monitor/served-hosts.ts), and nothing else.
 */
describe.skipIf(Boolean(skip))(`the monitor over TLS${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let work: string;
  let runtime: LocalRuntime;
  let tls: { cert: string; key: string };
  const monitors: Monitor[] = [];
  const serve = async (host: string): Promise<Monitor> => {
    const monitor = await startMonitor({ backend: localBackend(runtime), token, host, port: 0, tls, actor: 'monitor tester@host1', assets: async () => new Map([['/', { type: 'text/html; charset=utf-8', body: Buffer.from('<!doctype html>') }]]) });
    monitors.push(monitor);
    return monitor;
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cairn-monitor-tls-'));
    tls = { cert: join(work, 'cert.pem'), key: join(work, 'key.pem') };
    await run(openssl!, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', tls.key, '-out', tls.cert, '-days', '2', '-subj', '/CN=monitor.test', '-addext', 'subjectAltName=DNS:monitor.test,DNS:*.cairn.test,IP:192.0.2.7,IP:2001:db8::5']);
    runtime = await openLocalRuntime({ home: join(work, 'home') });
    for (const id of [1, 2, 3]) await runtime.jobs.create(sampleJob(id, { state: 'QUEUED', client: 'alpha' }));
  });
  afterAll(async () => {
    for (const monitor of monitors) await monitor.close();
    runtime?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('on loopback: an https origin, a Secure cookie, the API over TLS, and a cancel with its same-origin check', async () => {
    const monitor = await serve('127.0.0.1');
    expect(monitor.origin).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const port = Number(new URL(monitor.origin).port);
    const cookie = await login(port, `127.0.0.1:${port}`);
    const listed = await https(port, '/api/jobs', { headers: { Cookie: cookie } });
    expect(listed.status).toBe(200);
    expect((JSON.parse(listed.body) as { jobs: { jobId: number }[] }).jobs.map((j) => j.jobId)).toEqual([3, 2, 1]);
    expect((await https(port, '/api/jobs')).status).toBe(401);
    // The page's cancel: the cookie and an Origin equal to the https origin.
    const foreign = await https(port, '/api/jobs/1/cancel', { method: 'POST', headers: { Cookie: cookie, Origin: `http://127.0.0.1:${port}` } });
    expect(foreign.status).toBe(403);
    const cancelled = await https(port, '/api/jobs/1/cancel', { method: 'POST', headers: { Cookie: cookie, Origin: monitor.origin } });
    expect(cancelled.status).toBe(200);
    expect((await runtime.jobs.get(1))?.statusCode).toBe(150);
  });

  it('refuses plain HTTP on the TLS port: the connection is closed, no answer and no data', async () => {
    const monitor = await serve('127.0.0.1');
    const plain = monitor.origin.replace(/^https:/, 'http:');
    await expect(fetch(`${plain}/api/jobs`, { headers: { Authorization: `Bearer ${token}` } })).rejects.toThrow();
  });

  it('on 0.0.0.0: answers to the machine name, the certificate names and loopback, prints the certificate name, and refuses others (421)', async () => {
    const monitor = await serve('0.0.0.0');
    const port = Number(new URL(monitor.origin).port);
    // The first DNS name of the certificate: https://0.0.0.0:port reaches nothing.
    expect(monitor.origin).toBe(`https://monitor.test:${port}`);
    const status = async (host: string): Promise<number> => (await https(port, '/api/jobs', { host, headers: { Authorization: `Bearer ${token}` } })).status;
    for (const host of [`monitor.test:${port}`, `MONITOR.test:${port}`, `${hostname()}:${port}`, `${hostname().split('.')[0]}:${port}`, `a.cairn.test:${port}`, `192.0.2.7:${port}`, `[2001:db8::5]:${port}`, `127.0.0.1:${port}`, `localhost:${port}`]) {
      expect(await status(host), host).toBe(200);
    }
    for (const host of [`evil.example:${port}`, `a.b.cairn.test:${port}`, `cairn.test:${port}`, `monitor.test:${port + 1}`, `monitor.test`, `0.0.0.0:${port}`]) {
      expect(await status(host), host).toBe(421);
    }
    // Reached by its name: the login, and a cancel whose Origin is that name's https origin.
    const cookie = await login(port, `monitor.test:${port}`);
    const cancelled = await https(port, '/api/jobs/2/cancel', { method: 'POST', host: `monitor.test:${port}`, headers: { Cookie: cookie, Origin: `https://monitor.test:${port}` } });
    expect(cancelled.status).toBe(200);
    const crossName = await https(port, '/api/jobs/3/cancel', { method: 'POST', host: `monitor.test:${port}`, headers: { Cookie: cookie, Origin: `https://${hostname()}:${port}` } });
    expect(crossName.status).toBe(403);
  });

  const own = Object.values(networkInterfaces())
    .flat()
    .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;
  it.skipIf(own === undefined)(`on this machine's own address${own === undefined ? ' (skipped: no non-loopback IPv4 address)' : ''}: prints it, and answers to it and to the machine name`, async () => {
    const monitor = await serve(own!);
    const port = Number(new URL(monitor.origin).port);
    expect(monitor.origin).toBe(`https://${own}:${port}`);
    const cookie = await login(port, `${own}:${port}`, own);
    expect((await https(port, '/api/jobs', { address: own, host: `${hostname()}:${port}`, headers: { Cookie: cookie } })).status).toBe(200);
    expect((await https(port, '/api/jobs', { address: own, host: `localhost:${port}`, headers: { Cookie: cookie } })).status).toBe(421);
  });

  it('`cairn local serve --monitor-host 0.0.0.0` with a certificate serves HTTPS, prints the certificate name, and stops on SIGTERM', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [cairnBin, '--home', join(work, 'serve-home'), 'local', 'serve', '--tick-seconds', '3600', '--monitor-host', '0.0.0.0', '--monitor-port', String(port), '--tls-cert', tls.cert, '--tls-key', tls.key, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const printed = await new Promise<{ url: string; origin: string }>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const line = /\{"monitor":.*\}\n/.exec(out);
        if (line) resolve((JSON.parse(line[0]) as { monitor: { url: string; origin: string } }).monitor);
      });
      void exited.then((code) => reject(new Error(`cairn local serve exited ${code}: ${stderr}`)));
    });
    expect(printed.origin).toBe(`https://monitor.test:${port}`);
    const fileToken = new URL(printed.url).searchParams.get('token')!;
    const answer = await https(port, `/?token=${fileToken}`, { host: `monitor.test:${port}` });
    expect(answer.status).toBe(303);
    expect(String(answer.headers['set-cookie'])).toMatch(/; Secure$/);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 60_000);
});

describe('a bind beyond loopback without TLS', () => {
  it('stops `cairn local serve` and `cairn --aws monitor` with 20 naming --tls-cert and --tls-key, before anything runs', async () => {
    const work = mkdtempSync(join(tmpdir(), 'cairn-monitor-bind-'));
    try {
      const serve = await runCairn(join(work, 'home'), ['local', 'serve', '--monitor-host', '0.0.0.0']);
      expect(serve.code).toBe(2);
      expect(serve.stderr).toMatch(/status 20 .*--monitor-host 0\.0\.0\.0 is not a loopback address: serving the monitor beyond this machine needs --tls-cert and --tls-key/);
      // Refused before the stack is looked up: no endpoint or credentials are needed to hear it.
      const aws = await runCairn(join(work, 'home'), ['--aws', 'monitor', '--monitor-host', '0.0.0.0']);
      expect(aws.code).toBe(2);
      expect(aws.stderr).toMatch(/status 20 .*--monitor-host 0\.0\.0\.0 is not a loopback address: .*needs --tls-cert and --tls-key/);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
