import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { loadOrCreateToken } from '#cli/monitor/token.ts';
import { startMonitor, type Monitor } from '#cli/monitor/server.ts';
import { localBackend } from '#cli/backend.ts';
import { sampleJob } from '../contracts/fixtures.ts';
import { runCairn } from './cli-process.ts';

/**
 * The monitor's HTTP server over a real standalone runtime (SQLite): the
 * token on every request, the cookie login, ETags, filters, the cancel and
 * its CSRF check, and the refusal of a non-loopback bind without TLS.
 */
let work: string;
let runtime: LocalRuntime;
let monitor: Monitor;
let token: string;
const page = { type: 'text/html; charset=utf-8', body: Buffer.from('<!doctype html>') };

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cairn-monitor-'));
  runtime = await openLocalRuntime({ home: join(work, 'home') });
  await runtime.jobs.create(sampleJob(1, { state: 'DONE', statusCode: 0, client: 'alpha', policy: 'p1' }));
  await runtime.jobs.create(sampleJob(2, { state: 'DONE', statusCode: 13, client: 'beta', policy: 'p2' }));
  await runtime.jobs.create(sampleJob(3, { state: 'QUEUED', client: 'alpha', policy: 'p2', waitingReason: 'waiting for a drive' }));
  token = loadOrCreateToken(join(work, 'home'));
  monitor = await startMonitor({ backend: localBackend(runtime), token, port: 0, actor: 'tester@host1, cairn monitor', pollMs: 20, assets: async () => new Map([['/', page]]) });
});
afterAll(async () => {
  await monitor?.close();
  runtime?.close();
  rmSync(work, { recursive: true, force: true });
});

const bearer = (): Record<string, string> => ({ Authorization: `Bearer ${token}` });

describe('the token', () => {
  it('is 64 hex digits in an owner-only file, the same on the next run', () => {
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(join(work, 'home', 'monitor-token')).mode & 0o777).toBe(0o600);
    expect(loadOrCreateToken(join(work, 'home'))).toBe(token);
  });

  it('guards every route: 401 and no data without it or with a wrong one', async () => {
    for (const path of ['/', '/api/jobs', '/api/jobs/1', '/api/events', '/monitor.js']) {
      const none = await fetch(`${monitor.origin}${path}`);
      expect(none.status, path).toBe(401);
      expect(await none.text()).not.toMatch(/alpha|client1/);
      const wrong = await fetch(`${monitor.origin}${path}`, { headers: { Authorization: `Bearer ${'0'.repeat(64)}` } });
      expect(wrong.status, path).toBe(401);
    }
    expect((await fetch(`${monitor.origin}/?token=${'1'.repeat(64)}`, { redirect: 'manual' })).status).toBe(401);
  });

  it('in the URL sets an HttpOnly SameSite=Strict cookie and redirects to drop it; the cookie then opens the page', async () => {
    const login = await fetch(monitor.loginUrl, { redirect: 'manual' });
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe('/');
    const cookie = login.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(new RegExp(`^cairn_token_${new URL(monitor.origin).port}=${token}; HttpOnly; SameSite=Strict; Path=/$`));
    const opened = await fetch(`${monitor.origin}/`, { headers: { Cookie: cookie.split(';')[0]! } });
    expect(opened.status).toBe(200);
    expect(opened.headers.get('content-security-policy')).toMatch(/default-src 'self'; script-src 'self'/);
    expect(opened.headers.get('x-content-type-options')).toBe('nosniff');
    expect(opened.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses a Host header it does not serve (DNS rebinding) even with the token', async () => {
    const { request } = await import('node:http');
    const url = new URL(monitor.origin);
    const status = await new Promise<number>((resolve, reject) => {
      request({ host: url.hostname, port: url.port, path: '/api/jobs', headers: { ...bearer(), Host: `evil.example:${url.port}` } }, (r) => resolve(r.statusCode ?? 0))
        .on('error', reject)
        .end();
    });
    expect(status).toBe(421);
  });
});

describe('GET /api/jobs', () => {
  it('lists newest first with status texts, and answers 304 to its own ETag', async () => {
    const first = await fetch(`${monitor.origin}/api/jobs`, { headers: bearer() });
    const { jobs } = (await first.json()) as { jobs: { jobId: number; statusText?: string; waitingReason?: string }[] };
    expect(jobs.map((j) => j.jobId)).toEqual([3, 2, 1]);
    expect(jobs[1]!.statusText).toMatch(/\S/);
    expect(jobs[0]!.waitingReason).toBe('waiting for a drive');
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^".+"$/);
    const again = await fetch(`${monitor.origin}/api/jobs`, { headers: { ...bearer(), 'If-None-Match': etag } });
    expect(again.status).toBe(304);
    const filtered = await fetch(`${monitor.origin}/api/jobs?client=alpha`, { headers: { ...bearer(), 'If-None-Match': etag } });
    expect(filtered.status).toBe(200);
  });

  it('filters by state, status, client, policy and kind, and names a filter it rejects', async () => {
    const ids = async (query: string): Promise<number[]> => ((await (await fetch(`${monitor.origin}/api/jobs?${query}`, { headers: bearer() })).json()) as { jobs: { jobId: number }[] }).jobs.map((j) => j.jobId);
    expect(await ids('state=QUEUED')).toEqual([3]);
    expect(await ids('status=13')).toEqual([2]);
    expect(await ids('client=alpha')).toEqual([3, 1]);
    expect(await ids('policy=p2&client=alpha')).toEqual([3]);
    expect(await ids('kind=restore')).toEqual([]);
    const bad = await fetch(`${monitor.origin}/api/jobs?state=RUNNING&colour=red`, { headers: bearer() });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { details: string[] }).details).toEqual(['state: "RUNNING" is not one of QUEUED, ACTIVE, DONE', 'colour: not a filter (state, status, client, policy, kind)']);
  });

  it('shows one job with its status text, and 404 for a job that does not exist', async () => {
    const job = (await (await fetch(`${monitor.origin}/api/jobs/2`, { headers: bearer() })).json()) as { jobId: number; statusCode: number; statusText: string };
    expect(job).toMatchObject({ jobId: 2, statusCode: 13 });
    expect(job.statusText).toMatch(/\S/);
    expect((await fetch(`${monitor.origin}/api/jobs/99`, { headers: bearer() })).status).toBe(404);
  });
});

describe('GET /api/events', () => {
  it('sends a jobs event with the list ETag, and another when the list changes', async () => {
    const controller = new AbortController();
    const response = await fetch(`${monitor.origin}/api/events`, { headers: bearer(), signal: controller.signal });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const nextEtag = async (): Promise<string> => {
      for (;;) {
        const match = /event: jobs\ndata: \{"etag":"(\\"[^\\]+\\")"\}\n\n/.exec(text);
        if (match) {
          text = text.slice(match.index + match[0].length);
          return match[1]!;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('the event stream ended');
        text += decoder.decode(value);
      }
    };
    const first = await nextEtag();
    await runtime.jobs.create(sampleJob(4, { state: 'QUEUED' }));
    const second = await nextEtag();
    expect(second).not.toBe(first);
    controller.abort();
  });
});

describe('POST /api/jobs/:id/cancel', () => {
  it('refuses a foreign Origin, and a cookie-only request without an Origin', async () => {
    const foreign = await fetch(`${monitor.origin}/api/jobs/3/cancel`, { method: 'POST', headers: { ...bearer(), Origin: 'http://evil.example' } });
    expect(foreign.status).toBe(403);
    expect(((await foreign.json()) as { message: string }).message).toMatch(/Origin http:\/\/evil\.example is not http:\/\/127\.0\.0\.1:\d+/);
    const { request } = await import('node:http');
    const url = new URL(monitor.origin);
    const cookieOnly = await new Promise<number>((resolve, reject) => {
      request({ method: 'POST', host: url.hostname, port: url.port, path: '/api/jobs/3/cancel', headers: { Cookie: `cairn_token_${url.port}=${token}` } }, (r) => resolve(r.statusCode ?? 0))
        .on('error', reject)
        .end();
    });
    expect(cookieOnly).toBe(403);
    expect((await runtime.jobs.get(3))?.state).toBe('QUEUED');
  });

  it('ends a QUEUED job with 150 naming who cancelled, and refuses a job that has ended', async () => {
    const cancelled = await fetch(`${monitor.origin}/api/jobs/3/cancel`, { method: 'POST', headers: { ...bearer(), Origin: monitor.origin } });
    expect(cancelled.status).toBe(200);
    expect(await cancelled.json()).toMatchObject({ jobId: 3, statusCode: 150 });
    const job = await runtime.jobs.get(3);
    expect(job).toMatchObject({ state: 'DONE', statusCode: 150 });
    expect(job?.error).toBe('cancelled by an administrator (tester@host1, cairn monitor)');
    const again = await fetch(`${monitor.origin}/api/jobs/3/cancel`, { method: 'POST', headers: bearer() });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { message: string }).message).toBe('job 3 has already ended with status 150');
  });
});

describe('the bind address', () => {
  it('refuses a non-loopback host without TLS, and says what is needed', async () => {
    await expect(startMonitor({ backend: localBackend(runtime), token, host: '0.0.0.0', port: 0, actor: 'x' })).rejects.toThrow(/--monitor-host 0\.0\.0\.0 is not a loopback address: .*needs --tls-cert and --tls-key/);
  });

  it('stops `cairn local serve` before it runs anything, and names a port that is not one', async () => {
    const home = join(work, 'serve-home');
    const wide = await runCairn(home, ['local', 'serve', '--monitor-host', '0.0.0.0']);
    expect(wide.code).toBe(2);
    expect(wide.stderr).toMatch(/status 20 .*--monitor-host 0\.0\.0\.0 is not a loopback address: serving the monitor beyond this machine needs --tls-cert and --tls-key/);
    expect(wide.stderr).not.toMatch(/standalone service on/);
    const port = await runCairn(home, ['local', 'serve', '--monitor-port', '70000']);
    expect(port.code).not.toBe(0);
    expect(port.stderr).toMatch(/70000 is not a port \(0 to 65535; 0 turns the monitor off\)/);
  });
});

describe('the page', () => {
  it('is bundled in process from the sources when no build is running: one module script, no inline code', async () => {
    const { loadPageAssets } = await import('#cli/monitor/page-assets.ts');
    const assets = await loadPageAssets(undefined, false);
    const html = assets.get('/')!.body.toString();
    expect(html).toMatch(/<script type="module" src="\/monitor\.js"><\/script>/);
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html).not.toMatch(/<style|style=/);
    expect(assets.get('/monitor.js')!.body.length).toBeGreaterThan(5000);
    // Preact's own code handles dangerouslySetInnerHTML; the page's sources never use it, nor innerHTML.
    for (const file of ['main.ts', 'api.ts', 'format.ts']) expect(readFileSync(new URL(`../../cli/monitor/page/${file}`, import.meta.url), 'utf8'), file).not.toMatch(/innerHTML|dangerouslySetInnerHTML|eval\(/);
    expect(assets.get('/monitor.css')!.type).toBe('text/css; charset=utf-8');
  });
});
