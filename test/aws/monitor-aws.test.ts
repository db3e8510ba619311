import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AwsClients } from '#aws/clients.ts';
import { createTables } from '#aws/create-tables.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { openAwsBackend } from '#cli/aws-backend.ts';
import type { Backend } from '#cli/backend-interface.ts';
import { startMonitor, type Monitor } from '#cli/monitor/server.ts';
import { startMonitorFor } from '#cli/monitor/serve-monitor.ts';
import { loadOrCreateToken } from '#cli/monitor/token.ts';
import { emulatorClients, startAwsEmulator } from '#test/setup/aws-emulator.ts';
import { sampleJob } from '../contracts/fixtures.ts';
import { cairnBin, cliAwsEnv, runCairn } from '../cli/cli-process.ts';
import { ARTIFACTS, CHROMIUM, browserSkipReason, freePort } from '../cli/monitor-browser-harness.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;
// Both suites below use the one emulator: it is stopped after the last.
afterAll(() => ('stop' in emulator ? emulator.stop() : undefined));

/** Reads server-sent events from a response until a `jobs` event, and returns its ETag. */
function jobsEvents(response: Response): () => Promise<string> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  return async () => {
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
}

/**
 * `cairn --aws monitor`: the real command as a child process, reading the
 * stack's tables on the emulator (moto) with the operator's credentials, and
 * acting on them; jobs are written with the real DynamoDB JobStore, as the
 * stack's Lambdas write them. Only the jobs routes and a smoke GET of the page
 * (other areas' routes have their own tests).
 */
describe.skipIf(Boolean(skip))(`cairn --aws monitor against the stack's tables${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let clients: AwsClients;
  let jobs: DynamoJobStore;
  let env: NodeJS.ProcessEnv;
  let work: string;
  let home: string;
  let monitor: ChildProcess;
  let stderr = '';
  let loginUrl: string;
  let origin: string;
  let token: string;
  const bearer = (): Record<string, string> => ({ Authorization: `Bearer ${token}` });
  const endpoint = (): string => (emulator as { endpoint: string }).endpoint;

  beforeAll(async () => {
    if ('skip' in emulator) return;
    clients = emulatorClients(emulator.endpoint);
    const tables = await createTables(clients.dynamodb, `monitor${Date.now()}`);
    jobs = new DynamoJobStore({ client: clients.documents, tableName: tables.jobs });
    await jobs.create(sampleJob(1, { state: 'DONE', statusCode: 0, client: 'alpha', policy: 'p1' }));
    await jobs.create(sampleJob(2, { state: 'DONE', statusCode: 13, client: 'beta', policy: 'p2' }));
    await jobs.create(sampleJob(3, { state: 'QUEUED', client: 'alpha', policy: 'p2', waitingReason: 'waiting for a drive' }));
    env = cliAwsEnv(tables);
    // The operator's machine has no standalone state: the token goes under --home.
    work = mkdtempSync(join(tmpdir(), 'cairn-monitor-aws-'));
    home = join(work, 'operator');
    const port = await freePort();
    monitor = spawn(process.execPath, [cairnBin, '--aws', '--endpoint', emulator.endpoint, '--home', home, 'monitor', '--monitor-port', String(port), '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    monitor.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    loginUrl = await new Promise<string>((resolve, reject) => {
      let out = '';
      monitor.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const line = /\{"monitor":.*\}\n/.exec(out);
        if (line) resolve((JSON.parse(line[0]) as { monitor: { url: string } }).monitor.url);
      });
      monitor.once('exit', (code) => reject(new Error(`cairn --aws monitor exited ${code} before printing its URL: ${stderr}`)));
    });
    // The note on stderr follows the JSON line on stdout.
    for (let i = 0; i < 100 && !/activity monitor on/.test(stderr); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    origin = new URL(loginUrl).origin;
    token = new URL(loginUrl).searchParams.get('token')!;
  }, 60_000);

  afterAll(async () => {
    if (monitor?.exitCode === null) {
      const exited = new Promise((resolve) => monitor.once('exit', resolve));
      monitor.kill('SIGKILL');
      await exited;
    }
    clients?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('serves on loopback with the token kept owner-only under --home', () => {
    expect(origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(readFileSync(join(home, 'monitor-token'), 'utf8').trim()).toBe(token);
    expect(statSync(join(home, 'monitor-token')).mode & 0o777).toBe(0o600);
    expect(stderr).toContain(`the token is in ${home}/monitor-token`);
  });

  it('refuses every request without the token: 401 and no job data', async () => {
    for (const path of ['/', '/monitor.js', '/api/jobs', '/api/jobs/1', '/api/events']) {
      const refused = await fetch(`${origin}${path}`);
      expect(refused.status, path).toBe(401);
      expect(await refused.text(), path).not.toMatch(/alpha|beta|daily-home/);
    }
  });

  it('lists the Jobs table newest first with status texts and waiting reasons, filtered, with an ETag and 304', async () => {
    const listed = await fetch(`${origin}/api/jobs`, { headers: bearer() });
    expect(listed.status).toBe(200);
    const body = (await listed.json()) as { jobs: { jobId: number; statusText?: string; waitingReason?: string }[] };
    expect(body.jobs.map((j) => j.jobId)).toEqual([3, 2, 1]);
    expect(body.jobs[0]!.waitingReason).toBe('waiting for a drive');
    expect(body.jobs[1]!.statusText).toMatch(/\S/);
    const etag = listed.headers.get('etag')!;
    expect((await fetch(`${origin}/api/jobs`, { headers: { ...bearer(), 'If-None-Match': etag } })).status).toBe(304);

    const ids = async (query: string): Promise<number[]> => ((await (await fetch(`${origin}/api/jobs?${query}`, { headers: bearer() })).json()) as { jobs: { jobId: number }[] }).jobs.map((j) => j.jobId);
    expect(await ids('state=DONE')).toEqual([2, 1]);
    expect(await ids('state=QUEUED')).toEqual([3]);
    expect(await ids('status=13')).toEqual([2]);
    expect(await ids('client=alpha')).toEqual([3, 1]);
    expect(await ids('policy=p2&client=alpha')).toEqual([3]);
    const bad = await fetch(`${origin}/api/jobs?state=RUNNING`, { headers: bearer() });
    expect(bad.status).toBe(400);
  });

  it('shows one job from the table, and 404 for an id it does not hold', async () => {
    const shown = await fetch(`${origin}/api/jobs/2`, { headers: bearer() });
    expect(await shown.json()).toMatchObject({ jobId: 2, statusCode: 13, client: 'beta', statusText: expect.stringMatching(/\S/) });
    expect((await fetch(`${origin}/api/jobs/99`, { headers: bearer() })).status).toBe(404);
  });

  it('sends a jobs event when a job is put in the table by another writer', async () => {
    const controller = new AbortController();
    const stream = await fetch(`${origin}/api/events`, { headers: bearer(), signal: controller.signal });
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const next = jobsEvents(stream);
    const first = await next();
    await jobs.create(sampleJob(4, { state: 'ACTIVE', client: 'gamma', policy: 'p1' }));
    const second = await next();
    expect(second).not.toBe(first);
    controller.abort();
    const listed = (await (await fetch(`${origin}/api/jobs`, { headers: bearer() })).json()) as { jobs: { jobId: number }[] };
    expect(listed.jobs[0]!.jobId).toBe(4);
  }, 30_000);

  it('cancels a QUEUED job in DynamoDB with 150, recorded as the monitor user, and refuses it once ended', async () => {
    const cancelled = await fetch(`${origin}/api/jobs/3/cancel`, { method: 'POST', headers: { ...bearer(), Origin: origin } });
    expect(cancelled.status).toBe(200);
    expect(await cancelled.json()).toMatchObject({ jobId: 3, statusCode: 150 });
    // Read back through the adapter, as `cairn --aws jobs show 3` would.
    const job = await jobs.get(3);
    expect(job).toMatchObject({ state: 'DONE', statusCode: 150 });
    expect(job?.error).toBe(`cancelled by an administrator (monitor ${userInfo().username}@${hostname()})`);
    const again = await fetch(`${origin}/api/jobs/3/cancel`, { method: 'POST', headers: bearer() });
    expect(again.status).toBe(409);
  });

  it('serves the page and its script (a smoke test: the page itself is tested in a browser)', async () => {
    const page = await fetch(`${origin}/`, { headers: bearer() });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toMatch(/<script type="module" src="\/monitor\.js">/);
    const script = await fetch(`${origin}/monitor.js`, { headers: bearer() });
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
  }, 60_000);

  it.skipIf(Boolean(browserSkipReason))(`shows the table's jobs in headless Chromium${browserSkipReason ? ` (skipped: ${browserSkipReason})` : ''}`, async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 600 } });
      const scriptErrors: string[] = [];
      page.on('pageerror', (error) => scriptErrors.push(error.message));
      await page.goto(loginUrl);
      expect(page.url()).not.toMatch(/token=/);
      await page.locator('tr[data-job="4"]').waitFor({ timeout: 15_000 });
      // Jobs 1 to 4 of the table, newest first; job 3 ended by the cancel above.
      expect(await page.locator('tr[data-job]').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-job')))).toEqual(['4', '3', '2', '1']);
      await page.locator('tr[data-job="3"] td.state', { hasText: 'DONE' }).waitFor();
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'aws-jobs.png') });
      expect(scriptErrors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('stops cleanly on SIGTERM: exit 0, and the port closed', async () => {
    const exited = new Promise<number | null>((resolve) => monitor.once('exit', (code) => resolve(code)));
    monitor.kill('SIGTERM');
    expect(await exited, stderr).toBe(0);
    expect(stderr).toMatch(/stopping the activity monitor/);
    await expect(fetch(`${origin}/api/jobs`, { headers: bearer() })).rejects.toThrow();
  }, 30_000);

  it("fails naming the table and DynamoDB's refusal when the Jobs table cannot be read, before it serves anything", async () => {
    const port = await freePort();
    const failed = await runCairn(home, ['--aws', '--endpoint', endpoint(), 'monitor', '--monitor-port', String(port)], { env: { ...env, CAIRN_JOBS_TABLE: 'no-such-table' } });
    expect(failed.code).toBe(2);
    expect(failed.stderr).toMatch(/status 2000 .*DynamoDB Query on table no-such-table failed: ResourceNotFoundException/);
    expect(failed.stderr).not.toMatch(/activity monitor on/);
  });

  it('fails with 20 when its port is taken: the page is the whole command, not a note', async () => {
    const { createServer } = await import('node:net');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as { port: number }).port;
      const failed = await runCairn(home, ['--aws', '--endpoint', endpoint(), 'monitor', '--monitor-port', String(port)], { env });
      expect(failed.code).toBe(2);
      expect(failed.stderr).toMatch(new RegExp(`status 20 .*monitor: cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use \\(--monitor-port picks another\\)`));
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});

/**
 * In process, the monitor over the real AWS backend (openAwsBackend), for
 * what needs a fast poll: an agent's progress report (recordProgress, an
 * UpdateItem of the job's progress attributes only, not its JSON) reaches the
 * live feed, as a running backup's bytes must.
 */
describe.skipIf(Boolean(skip))(`the monitor's live feed over DynamoDB${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let clients: AwsClients;
  let jobs: DynamoJobStore;
  let backend: Backend;
  let monitor: Monitor;
  const token = 'a'.repeat(64);
  const saved = new Map<string, string | undefined>();

  beforeAll(async () => {
    if ('skip' in emulator) return;
    clients = emulatorClients(emulator.endpoint);
    const tables = await createTables(clients.dynamodb, `monitorlive${Date.now()}`);
    jobs = new DynamoJobStore({ client: clients.documents, tableName: tables.jobs });
    await jobs.create(sampleJob(1, { state: 'ACTIVE', client: 'alpha' }));
    // openAwsBackend finds the tables and credentials as the command does: in the environment (restored after).
    for (const [name, value] of Object.entries(cliAwsEnv(tables))) {
      if (!name.startsWith('CAIRN_') && !name.startsWith('AWS_')) continue;
      saved.set(name, process.env[name]);
      process.env[name] = value;
    }
    backend = await openAwsBackend({ aws: true, endpoint: emulator.endpoint, region: 'us-east-1' });
    monitor = await startMonitor({ backend, token, port: 0, actor: 'monitor tester@host', pollMs: 50, assets: async () => new Map() });
  });
  afterAll(async () => {
    await monitor?.close();
    backend?.close();
    clients?.destroy();
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it("sends a jobs event when an agent records a running job's progress", async () => {
    const controller = new AbortController();
    const stream = await fetch(`${monitor.origin}/api/events`, { headers: { Authorization: `Bearer ${token}` }, signal: controller.signal });
    const next = jobsEvents(stream);
    const first = await next();
    const outcome = await jobs.recordProgress(1, { files: 12, bytes: 4096, throughputBps: 2048 }, new Date());
    expect(outcome).toBeDefined();
    expect(await next()).not.toBe(first);
    controller.abort();
    const job = (await (await fetch(`${monitor.origin}/api/jobs/1`, { headers: { Authorization: `Bearer ${token}` } })).json()) as { progress: { files: number; bytes: number } };
    expect(job.progress).toMatchObject({ files: 12, bytes: 4096 });
  });

  it('looks at the table only every --poll-seconds: no second Query within two seconds at 60', async () => {
    const home = mkdtempSync(join(tmpdir(), 'cairn-monitor-poll-'));
    const slow = await startMonitorFor(backend, home, { monitorPort: await freePort(), monitorHost: '127.0.0.1', pollSeconds: 60 }, false, { required: true });
    try {
      const controller = new AbortController();
      const stream = await fetch(`${slow!.origin}/api/events`, { headers: { Authorization: `Bearer ${loadOrCreateToken(home)}` }, signal: controller.signal });
      const reader = stream.body!.getReader();
      let text = '';
      const until = Date.now() + 2000;
      // Every poll writes either a jobs event or an idle comment: one poll (on connecting) is one line of either.
      while (Date.now() < until) {
        const chunk = await Promise.race([reader.read(), new Promise<undefined>((resolve) => setTimeout(resolve, until - Date.now()))]);
        if (chunk?.value) text += new TextDecoder().decode(chunk.value);
      }
      controller.abort();
      expect(text.match(/event: jobs/g)).toHaveLength(1);
      expect(text).not.toMatch(/: idle/);
    } finally {
      await slow?.close();
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('cairn monitor without --aws', () => {
  it('says that the standalone service serves the page (status 20), and serves nothing', async () => {
    const work = mkdtempSync(join(tmpdir(), 'cairn-monitor-local-'));
    try {
      const result = await runCairn(join(work, 'home'), ['monitor']);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/status 20 .*the standalone runtime serves its activity monitor itself: run `cairn local serve`/);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
