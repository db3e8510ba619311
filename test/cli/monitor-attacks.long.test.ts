import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { localBackend } from '#cli/backend.ts';
import { HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS, startMonitor, type Monitor } from '#cli/monitor/server.ts';
import { MAX_EVENT_STREAMS } from '#cli/monitor/job-events.ts';
import { sameSecret } from '#cli/monitor/http-guard.ts';
import { servedHosts } from '#cli/monitor/served-hosts.ts';
import { loadSettings } from '#core/settings.ts';
import { sampleJob } from '../contracts/fixtures.ts';
import { cairnBin, runCairn } from './cli-process.ts';
import { freePort } from './monitor-browser-harness.ts';

/**
 * The monitor attacked as a hostile user and an unlucky operator would:
 * the token (query string, other lengths, cookie without it, a wrong login),
 * cross-site and rebinding requests, bodies of the wrong type or size,
 * path tricks, slow clients, live feeds opened and dropped in bulk, double
 * clicks on Cancel, Restart and Restore, a killed service, and the headers
 * of every answer. Each test fails if its defence is taken away. Over a real
 * standalone runtime (SQLite, real backups and restores), and one real
 * `cairn local serve` killed with SIGKILL.
 */
let work: string;
let runtime: LocalRuntime;
let monitor: Monitor;
let backupId: string;
let backupJobId: number;
const token = 'c'.repeat(64);
const ACTOR = 'attacker@host1, cairn monitor';
const page = { type: 'text/html; charset=utf-8', body: Buffer.from('<!doctype html><title>monitor</title>') };
const script = { type: 'text/javascript; charset=utf-8', body: Buffer.from('export {};') };
const bearer = { Authorization: `Bearer ${token}` };
/** The token cookie `GET /?token=` sets on this monitor (named by its port). */
const cookieName = (): string => `cairn_token_${new URL(monitor.origin).port}`;
const get = (path: string, headers: Record<string, string> = bearer): Promise<Response> => fetch(`${monitor.origin}${path}`, { headers, redirect: 'manual' });
const post = (path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(`${monitor.origin}${path}`, { method: 'POST', headers: { ...bearer, Origin: monitor.origin, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers }, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });

async function until<T>(what: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await what();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Sends raw bytes to a monitor and resolves with what came back once the connection closes or `ms` pass (then it is closed). */
function raw(origin: string, text: string, ms = 3000): Promise<{ text: string; closedByServer: boolean; afterMs: number }> {
  const url = new URL(origin);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    let got = '';
    const socket = connect(Number(url.port), url.hostname, () => socket.write(text));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text: got, closedByServer: false, afterMs: Date.now() - started });
    }, ms);
    socket.on('data', (chunk) => (got += chunk.toString()));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: got, closedByServer: true, afterMs: Date.now() - started });
    });
  });
}

const statusOf = (answer: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cairn-monitor-attacks-'));
  runtime = await openLocalRuntime({ home: join(work, 'home') });
  mkdirSync(join(work, 'data', 'etc'), { recursive: true });
  writeFileSync(join(work, 'data', 'etc', 'a.conf'), 'alpha\n');
  writeFileSync(join(work, 'data', 'b.bin'), randomBytes(256 * 1024));
  const backend = localBackend(runtime);
  const run = await backend.runBackup({ client: 'web-host', selections: [join(work, 'data')] }, {});
  expect(run.statusCode).toBe(0);
  backupJobId = run.jobId!;
  backupId = (await runtime.catalog.listImages({}))[0]!.backupId;
  monitor = await startMonitor({ backend, token, port: 0, actor: ACTOR, pollMs: 20, timeouts: { headersMs: 300, requestMs: 600 }, assets: async () => new Map([['/', page], ['/monitor.js', script]]) });
}, 60_000);
afterAll(async () => {
  await monitor?.close();
  runtime?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('the token', () => {
  it('is not taken from a query string anywhere but the login at /, nor in another length, nor as an empty cookie', async () => {
    for (const path of [`/api/jobs?token=${token}`, `/api/jobs/1?token=${token}`, `/monitor.js?token=${token}`, `/api/events?token=${token}`]) expect((await get(path, {})).status, path).toBe(401);
    for (const given of ['', 'c', 'c'.repeat(63), 'c'.repeat(65), `${token}x`, token.toUpperCase(), `${token},${token}`]) {
      expect((await get('/api/jobs', { Authorization: `Bearer ${given}` })).status, given).toBe(401);
      expect((await get('/api/jobs', { Cookie: `${cookieName()}=${given}` })).status, given).toBe(401);
    }
    expect((await get('/api/jobs', { Cookie: `other=${token}` })).status).toBe(401);
    expect((await get('/api/jobs', { Authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` })).status).toBe(401);
    // Two strings of other lengths are refused, not thrown on (timingSafeEqual throws on a length mismatch).
    expect(sameSecret('short', token)).toBe(false);
    expect(sameSecret(`${token}${token}`, token)).toBe(false);
  });

  it('is taken with whitespace around it (a header value\'s spaces are not part of it), and not with whitespace inside', async () => {
    const spaced = await raw(monitor.origin, `GET /api/jobs HTTP/1.1\r\nHost: ${new URL(monitor.origin).host}\r\nAuthorization: Bearer   ${token}   \r\nConnection: close\r\n\r\n`);
    expect(statusOf(spaced.text)).toBe(200);
    expect((await get('/api/jobs', { Authorization: `Bearer ${token.slice(0, 10)} ${token.slice(10)}` })).status).toBe(401);
  });

  it('in the cookie of one monitor does not open another on this machine, and two logins keep both (the cookie is named by the port)', async () => {
    const other = await startMonitor({ backend: localBackend(runtime), token: 'd'.repeat(64), port: 0, actor: ACTOR, assets: async () => new Map([['/', page]]) });
    try {
      const first = (await get(`/?token=${token}`, {})).headers.get('set-cookie')!.split(';')[0]!;
      const second = (await fetch(`${other.loginUrl}`, { redirect: 'manual' })).headers.get('set-cookie')!.split(';')[0]!;
      expect(first.split('=')[0]).toBe(cookieName());
      expect(second.split('=')[0]).toBe(`cairn_token_${new URL(other.origin).port}`);
      // What a browser sends each of them: every cookie of the host, whatever the port.
      const both = `${first}; ${second}`;
      expect((await get('/api/jobs', { Cookie: both })).status).toBe(200);
      expect((await fetch(`${other.origin}/api/jobs`, { headers: { Cookie: both } })).status).toBe(200);
      expect((await fetch(`${other.origin}/api/jobs`, { headers: { Cookie: first } })).status).toBe(401);
      // The old name opens nothing.
      expect((await get('/api/jobs', { Cookie: `cairn_token=${token}` })).status).toBe(401);
    } finally {
      await other.close();
    }
  });

  it('in a wrong login URL sets no cookie; the right one\'s redirect leaks no referrer', async () => {
    for (const wrong of ['0'.repeat(64), 'x', '']) {
      const login = await get(`/?token=${wrong}`, {});
      expect(login.status).toBe(401);
      expect(login.headers.get('set-cookie')).toBeNull();
    }
    const right = await get(`/?token=${token}`, {});
    expect(right.status).toBe(303);
    expect(right.headers.get('referrer-policy')).toBe('no-referrer');
    expect(right.headers.get('location')).toBe('/');
  });
});

describe('cross-site requests and rebinding', () => {
  it('refuses a POST with Origin null, a foreign Origin, or only the cookie, and runs nothing', async () => {
    const cookie = { Authorization: '', Cookie: `${cookieName()}=${token}` };
    const job = await runtime.jobs.nextJobId();
    await runtime.jobs.create(sampleJob(job, { state: 'QUEUED' }));
    for (const headers of [{ Origin: 'null' }, { Origin: 'http://evil.example' }, { Origin: monitor.origin.replace('127.0.0.1', 'localhost') }, { ...cookie, Origin: 'null' }]) {
      expect((await post(`/api/jobs/${job}/cancel`, undefined, headers)).status, JSON.stringify(headers)).toBe(403);
    }
    const { request } = await import('node:http');
    const url = new URL(monitor.origin);
    const cookieOnly = await new Promise<number>((resolve, reject) => {
      request({ method: 'POST', host: url.hostname, port: url.port, path: `/api/jobs/${job}/cancel`, headers: { Cookie: `${cookieName()}=${token}` } }, (r) => resolve(r.statusCode ?? 0))
        .on('error', reject)
        .end();
    });
    expect(cookieOnly).toBe(403);
    expect((await runtime.jobs.get(job))?.state).toBe('QUEUED');
  });

  it('answers the Host names it serves in any case and refuses the rest (trailing dot, another port, another IPv6 spelling, none)', async () => {
    const port = new URL(monitor.origin).port;
    const ask = async (host: string | undefined): Promise<number> => statusOf((await raw(monitor.origin, `GET /api/jobs HTTP/1.1\r\n${host === undefined ? '' : `Host: ${host}\r\n`}Authorization: Bearer ${token}\r\nConnection: close\r\n\r\n`)).text);
    for (const host of [`127.0.0.1:${port}`, `LOCALHOST:${port}`, `localhost:${port}`, `[::1]:${port}`]) expect(await ask(host), host).toBe(200);
    for (const host of [`localhost.:${port}`, '127.0.0.1', `127.0.0.1:${Number(port) + 1}`, `[0:0:0:0:0:0:0:1]:${port}`, `127.0.0.2:${port}`, `evil.example:${port}`, `127.0.0.1:${port}@evil.example`]) {
      expect(await ask(host), host).toBe(421);
    }
    // `--monitor-port 80` (443 with TLS): a browser leaves the scheme's port out of Host.
    expect(servedHosts('127.0.0.1', 80).accepts('127.0.0.1')).toBe(true);
    expect(servedHosts('127.0.0.1', 80).accepts('localhost:80')).toBe(true);
    expect(servedHosts('127.0.0.1', 8466).accepts('127.0.0.1')).toBe(false);
    // No Host at all: node's parser refuses an HTTP/1.1 request without one before the monitor sees it.
    expect(await ask(undefined)).toBe(400);
  });

  it('takes a POST whose Host is in upper case with the Origin a browser sends (in lower case)', async () => {
    const job = await runtime.jobs.nextJobId();
    await runtime.jobs.create(sampleJob(job, { state: 'QUEUED' }));
    const url = new URL(monitor.origin);
    const answer = await raw(monitor.origin, `POST /api/jobs/${job}/cancel HTTP/1.1\r\nHost: LOCALHOST:${url.port}\r\nOrigin: http://localhost:${url.port}\r\nAuthorization: Bearer ${token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    expect(statusOf(answer.text), answer.text).toBe(200);
  });

  it('refuses a text/plain or form body with 415 before any route runs, even a route that reads none', async () => {
    const job = await runtime.jobs.nextJobId();
    await runtime.jobs.create(sampleJob(job, { state: 'QUEUED' }));
    for (const [type, body] of [
      ['text/plain', '{}'],
      ['application/x-www-form-urlencoded', 'a=1'],
      ['multipart/form-data; boundary=x', '--x--'],
      ['application/json-seq', '{}'],
      ['text/json', '{}'],
    ] as const) {
      const cancel = await post(`/api/jobs/${job}/cancel`, body, { 'Content-Type': type });
      expect(cancel.status, type).toBe(415);
      expect(((await cancel.json()) as { message: string }).message).toBe(`the request body must be application/json, not ${type}`);
      expect((await post('/api/schedule/suspend', body, { 'Content-Type': type })).status, type).toBe(415);
      expect((await post(`/api/images/${backupId}/restore`, body, { 'Content-Type': type })).status, type).toBe(415);
    }
    // A body with no type at all is not JSON either.
    const untyped = await raw(monitor.origin, `POST /api/schedule/suspend HTTP/1.1\r\nHost: ${new URL(monitor.origin).host}\r\nAuthorization: Bearer ${token}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
    expect(statusOf(untyped.text)).toBe(415);
    expect((await runtime.jobs.get(job))?.state).toBe('QUEUED');
    expect((await loadSettings(runtime.config)).schedulerSuspended).toBe(false);
  });

  it('names a __proto__ or constructor key as an unknown field and pollutes nothing', async () => {
    const restore = await post(`/api/images/${backupId}/restore`, `{"paths":["/x"],"targetDir":"${join(work, 'proto')}","__proto__":{"polluted":true}}`);
    expect(restore.status).toBe(400);
    expect(((await restore.json()) as { message: string }).message).toBe('__proto__: not a field of a restore (paths, targetDir, existing)');
    const down = await post('/api/storage/drives/none/down', '{"constructor":{"prototype":{"polluted":true}}}');
    expect([400, 404]).toContain(down.status);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
    expect(existsSync(join(work, 'proto'))).toBe(false);
  });
});

describe('input', () => {
  it('finds nothing outside what a route names: traversal, encoded and double-encoded, NUL, RTL, overlong UTF-8, very long', async () => {
    const tricks = ['..%2f..%2fetc%2fpasswd', '%2e%2e%2f%2e%2e%2fetc', '..%252f..%252fetc', '%2e%2e', 'a%00b', '%E2%80%AEfdp.exe', 'x'.repeat(250)];
    for (const trick of tricks) {
      for (const path of [`/api/images/${trick}/entries`, `/api/policies/${trick}`, `/api/storage/drives/${trick}`, `/api/storage/media/${trick}`, `/api/clients/${trick}/entries`, `/${trick}`]) {
        const answer = await get(path);
        // `/%2e%2e` is `/..`, which the URL parser resolves to `/`: the page itself, nothing beside it.
        if (path === '/%2e%2e' && answer.status === 200) {
          expect(await answer.text()).toBe(page.body.toString());
          continue;
        }
        expect([400, 404], `${path}: ${answer.status}`).toContain(answer.status);
        expect(answer.headers.get('content-type'), path).toMatch(/^application\/json/);
        expect(await answer.text(), path).not.toMatch(/root:|alpha/);
      }
    }
    for (const path of ['/api/images/%c0%ae%c0%ae/entries', '/api/policies/%c0%ae%c0%ae%c0%af', '/api/storage/drives/%E0%A4%A']) expect((await get(path)).status, path).toBe(400);
    // A name beyond a route's limit is no route: 404, not a lookup.
    expect((await get(`/api/images/${'x'.repeat(300)}/entries`)).status).toBe(404);
    // Only a path is a request target: not a proxy's absolute form (whatever host it names), not `*`; `//host/...` is a path.
    const target = async (text: string): Promise<{ status: number; body: string }> => {
      const answer = (await raw(monitor.origin, `GET ${text} HTTP/1.1\r\nHost: ${new URL(monitor.origin).host}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`)).text;
      return { status: statusOf(answer), body: answer.slice(answer.indexOf('\r\n\r\n') + 4) };
    };
    for (const text of ['http://[::1', 'http://evil.example/api/jobs', `${monitor.origin}/api/jobs`, '*']) expect((await target(text)).status, text).toBe(400);
    expect(await target('//evil.example/api/jobs')).toMatchObject({ status: 404, body: expect.stringMatching(/not found/) });
    // The URL parser resolves dot segments before routing: they reach no file.
    const dotted = await raw(monitor.origin, `GET /api/../../../etc/passwd HTTP/1.1\r\nHost: ${new URL(monitor.origin).host}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
    expect(statusOf(dotted.text)).toBe(404);
    expect(dotted.text).not.toMatch(/root:/);
  });

  it('names a value nested 500,000 deep as what it is: a 400, not a stack overflow\'s 500', async () => {
    const deep = `${'['.repeat(500_000)}${']'.repeat(500_000)}`;
    for (const [body, message] of [
      [`{"paths":[${deep}],"targetDir":"/tmp/x"}`, 'paths[0]: an array is not a string'],
      [`{"paths":["/x"],"targetDir":${deep}}`, 'targetDir: an array is not a string'],
      [`{"paths":["/x"],"targetDir":"/tmp/x","existing":${deep}}`, 'existing: an array is not one of refuse, overwrite, rename'],
    ] as const) {
      const answer = await post(`/api/images/${backupId}/restore`, body);
      expect(answer.status, message).toBe(400);
      expect(((await answer.json()) as { message: string }).message).toBe(message);
    }
  });

  it('refuses traversal in a restore\'s paths and target', async () => {
    for (const body of [
      { paths: ['/etc/../../etc/passwd'], targetDir: join(work, 'r-trav') },
      { paths: ['/etc'], targetDir: `${join(work, 'r-trav')}/../../etc` },
      { paths: ['/etc'], targetDir: `${join(work, 'r-trav')}\u0000` },
      { paths: ['etc'], targetDir: join(work, 'r-trav') },
      { paths: ['/etc'], targetDir: 'r-trav' },
    ]) {
      const answer = await post(`/api/images/${backupId}/restore`, body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
    }
    expect(existsSync(join(work, 'r-trav'))).toBe(false);
  });

  it('takes a job id of 1 to 12 digits only', async () => {
    for (const id of ['1234567890123', '-1', '1.5', '1e3', '0x10', '%31']) {
      expect((await get(`/api/jobs/${id}`)).status, id).toBe(404);
      expect((await post(`/api/jobs/${id}/cancel`)).status, id).toBe(404);
    }
    expect(((await (await get('/api/jobs/999999999999')).json()) as { message: string }).message).toBe('job 999999999999 not found');
  });

  it('refuses a body over 1 MiB with 413: by its Content-Length before reading it, or as it streams', async () => {
    const big = JSON.stringify({ paths: ['/x'], targetDir: '/tmp/x', pad: 'x'.repeat(2 * 1024 * 1024) });
    const declared = await post(`/api/jobs/${backupJobId}/cancel`, big);
    expect(declared.status).toBe(413);
    expect(declared.headers.get('x-content-type-options')).toBe('nosniff');
    const streamed = await fetch(`${monitor.origin}/api/images/${backupId}/restore`, {
      method: 'POST',
      headers: { ...bearer, Origin: monitor.origin, 'Content-Type': 'application/json' },
      body: new Blob([big]).stream(),
      duplex: 'half',
    } as RequestInit).catch((error: Error) => error);
    // Answered 413 while the body still comes; the client may see the answer or the connection closed under it.
    if (streamed instanceof Response) expect(streamed.status).toBe(413);
    console.log(`2 MiB streamed body: ${streamed instanceof Response ? streamed.status : `connection closed (${streamed.message})`}`);
  });

  it('drops a client that sends its headers, or its body, too slowly (slowloris) with 408', async () => {
    expect(HEADERS_TIMEOUT_MS).toBeLessThanOrEqual(10_000);
    expect(REQUEST_TIMEOUT_MS).toBeLessThanOrEqual(30_000);
    const host = new URL(monitor.origin).host;
    const [headers, body] = await Promise.all([
      raw(monitor.origin, `GET /api/jobs HTTP/1.1\r\nHost: ${host}\r\nX-Slow: a`, 5000),
      raw(monitor.origin, `POST /api/images/${backupId}/restore HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\nOrigin: ${monitor.origin}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"paths":`, 5000),
    ]);
    for (const slow of [headers, body]) {
      expect(slow.closedByServer).toBe(true);
      expect(slow.text).toMatch(/^HTTP\/1\.1 408/);
      expect(slow.afterMs).toBeLessThan(4000);
    }
  }, 10_000);
});

describe('the live feed', () => {
  it('caps the streams open at once, and lets go of each socket and of the poll when the clients leave (200 cycles)', async () => {
    const feeds = await startMonitor({ backend: localBackend(runtime), token, port: 0, actor: ACTOR, pollMs: 20, assets: async () => new Map() });
    try {
      const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
      const fds = (): number => readdirSync('/proc/self/fd').length;
      const open = async (): Promise<AbortController> => {
        const controller = new AbortController();
        const answer = await fetch(`${feeds.origin}/api/events`, { headers: bearer, signal: controller.signal });
        expect(answer.status).toBe(200);
        await answer.body!.getReader().read();
        return controller;
      };
      const before = { timers: timers(), fds: fds() };
      for (let i = 0; i < 200; i++) (await open()).abort();
      const after = await until(async () => (timers() <= before.timers && fds() <= before.fds + 2 ? { timers: timers(), fds: fds() } : undefined), 5000);
      expect(after.timers).toBeLessThanOrEqual(before.timers);
      console.log(`200 live feeds opened and dropped: ${before.fds} → ${after.fds} descriptors, ${before.timers} → ${after.timers} timers`);
      const held = await Promise.all(Array.from({ length: MAX_EVENT_STREAMS }, open));
      const refused = await fetch(`${feeds.origin}/api/events`, { headers: bearer });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
      expect(((await refused.json()) as { message: string }).message).toMatch(new RegExp(`^${MAX_EVENT_STREAMS} live feeds are open already`));
      for (const controller of held) controller.abort();
      // Gone, every one: a new page is served again, and the poll stops once it leaves.
      await until(async () => ((await fetch(`${feeds.origin}/api/events`, { headers: bearer, signal: AbortSignal.timeout(2000) }).then(async (r) => (await r.body?.cancel(), r.status))) === 200 ? true : undefined), 5000);
      await until(async () => (timers() <= before.timers ? true : undefined), 5000);
    } finally {
      await feeds.close();
    }
  }, 30_000);
});

describe('double clicks', () => {
  it('Cancel twice at once: the job ends once, with one 150', async () => {
    const job = await runtime.jobs.nextJobId();
    await runtime.jobs.create(sampleJob(job, { state: 'QUEUED' }));
    const answers = await Promise.all([post(`/api/jobs/${job}/cancel`), post(`/api/jobs/${job}/cancel`)]);
    const statuses = answers.map((a) => a.status).sort();
    console.log(`Cancel twice at once: ${statuses.join(' and ')}`);
    expect(statuses[0]).toBe(200);
    expect([200, 409]).toContain(statuses[1]);
    const ended = await runtime.jobs.get(job);
    expect(ended).toMatchObject({ state: 'DONE', statusCode: 150 });
    expect((ended?.details ?? []).filter((d) => /cancel/i.test(d.message)).length).toBeLessThanOrEqual(1);
  });

  it('Restart twice at once: one new job; the second is 409 naming the job it was restarted as', async () => {
    const before = (await runtime.jobs.list({ limit: 1000 })).length;
    const answers = await Promise.all([post(`/api/jobs/${backupJobId}/restart`), post(`/api/jobs/${backupJobId}/restart`)]);
    const ok = answers.filter((a) => a.status === 200);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    const { jobId } = (await ok[0]!.json()) as { jobId: number };
    const refused = (await answers.find((a) => a.status === 409)!.json()) as { message: string };
    expect(refused.message).toMatch(new RegExp(`^job ${backupJobId} (is being restarted|was restarted already, as job ${jobId}: restart that one)$`));
    await until(async () => ((await runtime.jobs.get(jobId))?.state === 'DONE' ? true : undefined));
    expect((await runtime.jobs.list({ limit: 1000 })).length).toBe(before + 1);
    // Later too: the original names its restart, and the page hides the button with that reason.
    expect(await runtime.jobs.get(backupJobId)).toMatchObject({ restartedAs: jobId });
    const later = await post(`/api/jobs/${backupJobId}/restart`);
    expect(later.status).toBe(409);
    expect(await (await get(`/api/jobs/${backupJobId}`)).json()).toMatchObject({ restartRefusal: `job ${backupJobId} was restarted already, as job ${jobId}: restart that one` });
  }, 30_000);

  it('Restore twice at once into one empty directory: one restore job, the other 409; nothing interleaved', async () => {
    const target = join(work, 'r-twice');
    const body = { paths: [join(work, 'data')], targetDir: target };
    const answers = await Promise.all([post(`/api/images/${backupId}/restore`, body), post(`/api/images/${backupId}/restore`, { ...body, existing: 'rename' })]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    const { jobId } = (await answers.find((a) => a.status === 200)!.json()) as { jobId: number };
    expect(((await answers.find((a) => a.status === 409)!.json()) as { message: string }).message).toMatch(/^targetDir: .*(is being started|is where restore job \d+ \((QUEUED|ACTIVE)\) writes)/);
    const ended = await until(async () => {
      const job = await runtime.jobs.get(jobId);
      return job?.state === 'DONE' ? job : undefined;
    });
    expect(ended.statusCode).toBe(0);
    expect(readFileSync(join(target, work, 'data', 'etc', 'a.conf'), 'utf8')).toBe('alpha\n');
    expect(readdirSync(join(target, work, 'data', 'etc'))).toEqual(['a.conf']);
  }, 30_000);

  it('Restore into a directory inside one a restore job is writing: 409 naming that job', async () => {
    const target = join(work, 'r-nested');
    const job = await runtime.jobs.nextJobId();
    const at = new Date().toISOString();
    await runtime.jobs.create({ jobId: job, type: 'restore', state: 'ACTIVE', client: 'web-host', source: { backupId }, target: { client: 'web-host', directory: target, existing: 'refuse' }, paths: [], continueOnError: false, attempt: 1, attempts: [], progress: { files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 }, queuedAt: at, updatedAt: at } as never);
    const answer = await post(`/api/images/${backupId}/restore`, { paths: ['/'], targetDir: join(target, 'inner') });
    expect(answer.status).toBe(409);
    expect(((await answer.json()) as { message: string }).message).toBe(`targetDir: ${join(target, 'inner')} is where restore job ${job} (ACTIVE) writes (${target}): wait for it to end, or pick another directory`);
  });
});

describe('what every answer carries', () => {
  it('the security headers, on the page, its script, JSON, 304 and every refusal (401, 403, 404, 405, 413, 415, 421)', async () => {
    const etag = (await get('/api/jobs')).headers.get('etag')!;
    const answers: [string, Response][] = [
      ['page', await get('/')],
      ['script', await get('/monitor.js')],
      ['json', await get('/api/jobs')],
      ['304', await get('/api/jobs', { ...bearer, 'If-None-Match': etag })],
      ['401', await get('/api/jobs', {})],
      ['login 303', await get(`/?token=${token}`, {})],
      ['403', await post('/api/schedule/suspend', undefined, { Origin: 'null' })],
      ['404', await get('/api/nothing')],
      ['404 asset', await get('/nothing.js')],
      ['405', await fetch(`${monitor.origin}/api/jobs`, { method: 'DELETE', headers: bearer })],
      ['413', await post('/api/schedule/suspend', 'x'.repeat(2 * 1024 * 1024))],
      ['415', await post('/api/schedule/suspend', 'x', { 'Content-Type': 'text/plain' })],
    ];
    for (const [what, answer] of answers) {
      expect(answer.headers.get('content-security-policy'), what).toMatch(/^default-src 'self'; script-src 'self'; .*frame-ancestors 'none'$/);
      expect(answer.headers.get('x-content-type-options'), what).toBe('nosniff');
      expect(answer.headers.get('x-frame-options'), what).toBe('DENY');
      expect(answer.headers.get('referrer-policy'), what).toBe('no-referrer');
      expect(answer.headers.get('access-control-allow-origin'), what).toBeNull();
    }
    const misdirected = await raw(monitor.origin, `GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
    expect(statusOf(misdirected.text)).toBe(421);
    expect(misdirected.text).toMatch(/\r\ncontent-security-policy: default-src 'self'/i);
    expect(misdirected.text).toMatch(/\r\nreferrer-policy: no-referrer/i);
  });

  it('HTML only at /: every API answer, even one quoting </script> back, is application/json', async () => {
    const paths = ['/api/jobs', `/api/jobs/${backupJobId}`, '/api/status-codes', '/api/images', `/api/images/${backupId}/entries`, '/api/clients/web-host/entries', '/api/clients/web-host/search?name=a', '/api/policies', '/api/schedule/due', '/api/storage', '/api/storage/media', '/api/policies/%3C%2Fscript%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E', '/api/jobs?client=%3C%2Fscript%3E', '/api/nothing'];
    for (const path of paths) {
      const answer = await get(path);
      expect(answer.headers.get('content-type'), path).toBe('application/json; charset=utf-8');
    }
    expect((await get('/')).headers.get('content-type')).toBe('text/html; charset=utf-8');
  });
});

describe('a killed service', () => {
  it('kill -9 of `cairn local serve` during a restore from the page: the next `cairn jobs` ends the job with a failure, not ACTIVE for ever', async () => {
    const home = join(work, 'serve-home');
    const data = join(work, 'serve-data');
    mkdirSync(data);
    for (let i = 0; i < 6; i++) writeFileSync(join(data, `f${i}.bin`), randomBytes(4 * 1024 * 1024));
    const backup = await runCairn(home, ['backup', '--client', 'web-host', '--path', data, '--json']);
    expect(backup.code, backup.stderr).toBe(0);
    const { backupId: id } = JSON.parse(backup.stdout) as { backupId: string };
    const port = await freePort();
    const serve = spawn(process.execPath, [cairnBin, '--home', home, 'local', 'serve', '--monitor-port', String(port), '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise((resolve) => serve.once('exit', resolve));
    try {
      const loginUrl = await new Promise<string>((resolve, reject) => {
        let out = '';
        serve.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const line = /\{"monitor":.*\}\n/.exec(out);
          if (line) resolve((JSON.parse(line[0]) as { monitor: { url: string } }).monitor.url);
        });
        serve.once('exit', (code) => reject(new Error(`cairn local serve exited ${code}`)));
      });
      const origin = new URL(loginUrl).origin;
      const serveToken = new URL(loginUrl).searchParams.get('token')!;
      const target = join(work, 'serve-target');
      const started = await fetch(`${origin}/api/images/${id}/restore`, { method: 'POST', headers: { Authorization: `Bearer ${serveToken}`, Origin: origin, 'Content-Type': 'application/json' }, body: JSON.stringify({ paths: [data], targetDir: target }) });
      expect(started.status).toBe(200);
      const { jobId } = (await started.json()) as { jobId: number };
      // Killed once it has written something, if it gets that far before it ends.
      await until(async () => {
        const job = (await (await fetch(`${origin}/api/jobs/${jobId}`, { headers: { Authorization: `Bearer ${serveToken}` } })).json()) as { state: string; progress: { files: number } };
        return job.state === 'DONE' || job.progress.files > 0 ? true : undefined;
      }, 10_000);
      serve.kill('SIGKILL');
      await exited;
      const jobs = await runCairn(home, ['jobs', 'show', String(jobId), '--json']);
      expect(jobs.code, jobs.stderr).toBe(0);
      const job = JSON.parse(jobs.stdout) as { state: string; statusCode: number; error?: string; progress: { files: number } };
      // Either it finished before the kill (0), or the janitor ended it with the dead process's status; never left QUEUED or ACTIVE.
      expect(job.state).toBe('DONE');
      if (job.statusCode !== 0) expect(job.error).toMatch(/\S/);
      // What the kill leaves is what a killed `cairn restore` leaves: whole files under their names, and at most the one being written as a private `.cairn-partial-<job>-…` beside them (cairn restore continues or removes it; a re-run with --overwrite replaces it).
      const left = existsSync(target) ? (readdirSync(target, { recursive: true }) as string[]).filter((p) => /\.bin$|\.cairn-partial-/.test(p)) : [];
      expect(left.filter((p) => p.includes('.cairn-partial-')).length).toBeLessThanOrEqual(1);
      console.log(`killed restore job ${jobId}: status ${job.statusCode} (${job.error ?? 'no error'}), ${job.progress.files} files recorded; in the target: ${left.map((p) => p.slice(p.lastIndexOf('/') + 1)).join(', ') || 'nothing'}`);
    } finally {
      if (serve.exitCode === null && serve.signalCode === null) {
        serve.kill('SIGKILL');
        await exited;
      }
    }
  }, 60_000);
});
