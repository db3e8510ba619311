import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { loadOrCreateToken } from '#cli/monitor/token.ts';
import { startMonitor, type Monitor } from '#cli/monitor/server.ts';
import { localBackend } from '#cli/backend.ts';
import { loadSettings } from '#core/settings.ts';
import { runCairn } from './cli-process.ts';

/**
 * The Policies and Schedule routes of the monitor over a real standalone
 * runtime: policies applied by the real `cairn policy apply`, their YAML as
 * `cairn policy show --yaml` prints it (and taken back unchanged), the due
 * preview at two instants with its reasons, the scheduler's suspend and
 * resume, and the refusals.
 */
const EVIL = '<img src=x onerror=alert(1)>';
const POLICIES = `
name: nightly
priority: 10
clients: [{ name: alpha }, { name: beta }]
selections: [/srv/data]
schedules:
  - name: daily
    type: full
    frequency: 1d
    windows: [{ days: [mon, tue, wed, thu, fri, sat, sun], start: "22:00", duration: 8h }]
storageUnit: local-disk
---
name: weekend
clients: [{ name: gamma }]
selections: ["/srv/${EVIL}"]
exclude: ["*.tmp"]
schedules:
  - name: weekly
    type: full
    frequency: 1w
    windows: [{ days: [sat], start: "06:00", duration: 4h30m }]
  - name: by-hand
    type: full
verify: { frequency: 1w, windows: [{ days: [sun], start: "01:00", duration: 2h }] }
catalogCheck: { frequency: 1d, windows: [{ days: [sun], start: "03:00", duration: 1h }], grace: 12h }
storageUnit: local-disk
`;
/** A Wednesday night, in the nightly window and outside the weekend one. */
const WEDNESDAY_NIGHT = '2026-12-02T23:00:00Z';
/** A Saturday morning, in the weekend window and after the nightly one closed. */
const SATURDAY_MORNING = '2026-12-05T07:00:00Z';

let work: string;
let home: string;
let runtime: LocalRuntime;
let monitor: Monitor;
let token: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cairn-monitor-policies-'));
  home = join(work, 'home');
  runtime = await openLocalRuntime({ home });
  writeFileSync(join(work, 'policies.yaml'), POLICIES);
  const applied = await runCairn(home, ['policy', 'apply', '-f', join(work, 'policies.yaml'), '--json']);
  expect(applied.code, applied.stderr).toBe(0);
  token = loadOrCreateToken(home);
  monitor = await startMonitor({ backend: localBackend(runtime), token, port: 0, actor: 'tester@host1, cairn monitor', assets: async () => new Map() });
}, 30_000);
afterAll(async () => {
  await monitor?.close();
  runtime?.close();
  rmSync(work, { recursive: true, force: true });
});

const get = async (path: string): Promise<{ status: number; body: Record<string, unknown> }> => {
  const response = await fetch(`${monitor.origin}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};
const post = async (path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> => {
  const response = await fetch(`${monitor.origin}${path}`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, ...headers } });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};
type Preview = { at: string; suspended: boolean; due: { policy: string; client: string; schedule: string; reason: string }[]; notDue: { policy: string; client: string; schedule: string; reason: string }[]; catalogCheck?: { notDue: { policy: string; reason: string }[] } };
const dueSet = (preview: Preview): string[] => preview.due.map((d) => `${d.policy}/${d.client}/${d.schedule}`).sort();
const whyNot = (preview: Preview, key: string): string | undefined => preview.notDue.find((n) => `${n.policy}/${n.client}/${n.schedule}` === key)?.reason;

describe('the policies', () => {
  it('are listed with type, clients, schedules, state and storage unit', async () => {
    const { status, body } = await get('/api/policies');
    expect(status).toBe(200);
    expect(body.schedulerSuspended).toBe(false);
    expect(body.policies).toEqual([
      { name: 'nightly', active: true, type: 'file', priority: 10, clients: ['alpha', 'beta'], schedules: [{ name: 'daily', level: 'full', when: 'every 1d' }], storageUnit: 'local-disk', timeZone: 'UTC' },
      {
        name: 'weekend',
        active: true,
        type: 'file',
        priority: 0,
        clients: ['gamma'],
        schedules: [
          { name: 'weekly', level: 'full', when: 'every 1w' },
          { name: 'by-hand', level: 'full', when: 'manual only' },
        ],
        storageUnit: 'local-disk',
        timeZone: 'UTC',
      },
    ]);
  });

  it('shows one policy as the YAML `cairn policy show --yaml` prints, which `cairn policy apply` takes back unchanged', async () => {
    const { status, body } = await get('/api/policies/weekend');
    expect(status).toBe(200);
    const shown = await runCairn(home, ['policy', 'show', 'weekend', '--yaml']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(body.yaml).toBe(shown.stdout);
    // Durations read as written, the markup-like selection kept as data.
    expect(body.yaml).toMatch(/frequency: 1w\n/);
    expect(body.yaml).toMatch(/duration: 4h30m\n/);
    expect(body.yaml).toMatch(/grace: 12h\n/);
    // Start times are quoted: a YAML 1.1 reader (PyYAML) reads 10:00 unquoted as the number 600.
    expect(body.yaml).toMatch(/start: "06:00"\n/);
    expect(body.yaml).toContain(EVIL);
    writeFileSync(join(work, 'weekend.yaml'), body.yaml as string);
    const again = await runCairn(home, ['policy', 'apply', '-f', join(work, 'weekend.yaml'), '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual([{ policy: 'weekend', action: 'unchanged' }]);
  }, 20_000);

  it('answers an unknown policy with 404 naming it, and a malformed name with 400', async () => {
    expect(await get('/api/policies/nope')).toEqual({ status: 404, body: expect.objectContaining({ message: 'policy nope not found' }) });
    expect(await get('/api/policies/%E0%A4%A')).toEqual({ status: 400, body: expect.objectContaining({ message: 'policy name: "%E0%A4%A" is not valid percent-encoding' }) });
  });
});

describe('the due preview', () => {
  it('at two instants gives different due sets, each with its reasons', async () => {
    const night = (await get(`/api/schedule/due?at=${WEDNESDAY_NIGHT}`)).body as unknown as Preview;
    expect(night.at).toBe('2026-12-02T23:00:00.000Z');
    expect(dueSet(night)).toEqual(['nightly/alpha/daily', 'nightly/beta/daily']);
    expect(night.due.every((d) => d.reason === 'no successful backup yet')).toBe(true);
    expect(whyNot(night, 'weekend/gamma/weekly')).toBe('no start window is open; the next opens 2026-12-05T06:00:00.000Z');
    expect(whyNot(night, 'weekend/gamma/by-hand')).toBe('manual-only schedule (no frequency or calendar)');
    expect(night.catalogCheck?.notDue).toEqual([{ policy: 'weekend', reason: expect.stringMatching(/window/) }]);

    const saturday = (await get(`/api/schedule/due?at=${encodeURIComponent('2026-12-05T08:00:00+01:00')}`)).body as unknown as Preview;
    expect(saturday.at).toBe(new Date(SATURDAY_MORNING).toISOString());
    expect(dueSet(saturday)).toEqual(['weekend/gamma/weekly']);
    expect(whyNot(saturday, 'nightly/alpha/daily')).toMatch(/^no start window is open; the next opens 2026-12-05T22:00:00.000Z$/);
  });

  it('is what `cairn schedule due --at` decides', async () => {
    const cli = await runCairn(home, ['schedule', 'due', '--at', WEDNESDAY_NIGHT, '--json']);
    expect(cli.code, cli.stderr).toBe(0);
    const { suspended: _suspended, verifies: _v, rehearsals: _r, ...page } = (await get(`/api/schedule/due?at=${WEDNESDAY_NIGHT}`)).body;
    expect(JSON.parse(cli.stdout)).toEqual(page);
  }, 20_000);

  it('narrows to a policy and a client as the CLI does', async () => {
    const preview = (await get(`/api/schedule/due?at=${WEDNESDAY_NIGHT}&policy=nightly&client=beta`)).body as unknown as Preview;
    expect(dueSet(preview)).toEqual(['nightly/beta/daily']);
    expect(preview.notDue).toEqual([]);
  });

  it('refuses a time that is not one, naming the parameter and the reason, and an unknown parameter', async () => {
    const vague = await get('/api/schedule/due?at=yesterday-ish');
    expect(vague.status).toBe(400);
    expect(vague.body.details).toEqual(['at: "yesterday-ish": not an ISO 8601 time (e.g. 2026-11-24T22:30:00Z)']);
    const impossible = await get('/api/schedule/due?at=2026-02-30T00:00:00Z');
    expect(impossible.status).toBe(400);
    expect(impossible.body.details).toEqual(['at: "2026-02-30T00:00:00Z": February 2026 has 28 days']);
    const unknown = await get('/api/schedule/due?when=now');
    expect(unknown.status).toBe(400);
    expect(unknown.body.details).toEqual(['when: not a parameter of the due preview (at, policy, client)']);
  });
});

describe('suspend and resume', () => {
  it('suspend the whole scheduler, as `cairn schedule suspend`: the preview says so; again is answered the same; resume brings the due jobs back', async () => {
    expect(await post('/api/schedule/suspend')).toEqual({ status: 200, body: { schedulerSuspended: true } });
    expect((await loadSettings(runtime.config)).schedulerSuspended).toBe(true);
    const suspended = (await get(`/api/schedule/due?at=${WEDNESDAY_NIGHT}`)).body as unknown as Preview;
    expect(suspended.suspended).toBe(true);
    expect(suspended.due).toEqual([]);
    expect(whyNot(suspended, 'nightly/alpha/daily')).toBe('scheduling is suspended (cairn schedule resume)');
    expect(whyNot(suspended, 'weekend/gamma/weekly')).toBe('scheduling is suspended (cairn schedule resume)');
    expect(((await get('/api/policies')).body as { schedulerSuspended: boolean }).schedulerSuspended).toBe(true);
    // The CLI sets the switch again without complaint; so does the page.
    expect(await post('/api/schedule/suspend')).toEqual({ status: 200, body: { schedulerSuspended: true } });

    expect(await post('/api/schedule/resume')).toEqual({ status: 200, body: { schedulerSuspended: false } });
    const resumed = (await get(`/api/schedule/due?at=${WEDNESDAY_NIGHT}`)).body as unknown as Preview;
    expect(resumed.suspended).toBe(false);
    expect(dueSet(resumed)).toEqual(['nightly/alpha/daily', 'nightly/beta/daily']);
    expect(await post('/api/schedule/resume')).toEqual({ status: 200, body: { schedulerSuspended: false } });
  }, 20_000);

  it('refuses a cross-site POST and leaves the scheduler as it was', async () => {
    const refused = await post('/api/schedule/suspend', { Origin: 'https://evil.example' });
    expect(refused.status).toBe(403);
    expect(((await get('/api/policies')).body as { schedulerSuspended: boolean }).schedulerSuspended).toBe(false);
  });
});
