import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageUnit } from '#core/model/storage-unit.ts';
import type { Drive, Media } from '#core/model/tape-media.ts';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { takeInventory } from '#agent/tape/robot-inventory.ts';
import { startMonitor, type Monitor } from '#cli/monitor/server.ts';
import { localBackend } from '#cli/backend.ts';
import { DISK_CHANGER, diskChangerLibrary, diskChangerSkipReason, type DiskChangerLibrary } from '#test/edge-agent/tape/disk-changer-library.ts';
import { sampleJob } from '../contracts/fixtures.ts';
import { runCairn } from './cli-process.ts';

const skip = diskChangerSkipReason();
const AT = new Date('2026-12-03T04:00:00.000Z');
const ACTOR = 'monitor ops@host1';

/**
 * The Storage page's API over a real standalone runtime (SQLite) and a real
 * virtual library (Debian's disk-changer: 6 slots, 2 drives, 4 barcodes)
 * set up through the calls `cairn robot add`, `robot inventory`, `pool add`,
 * `media label` and `storage-unit add` make: the units with their slots in
 * use, the robot, the drives and volumes with the job that holds them, the
 * media filter, and the actions (drive down/up/reset, media freeze/unfreeze)
 * checked with `cairn drive list --json` and `cairn media list --json`.
 */
describe.skipIf(Boolean(skip))(`the Storage page's API${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let library: DiskChangerLibrary;
  let home: string;
  let runtime: LocalRuntime;
  let monitor: Monitor;
  const token = 'a'.repeat(64);
  const get = (path: string): Promise<Response> => fetch(`${monitor.origin}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  const post = (path: string, body?: unknown): Promise<Response> =>
    fetch(`${monitor.origin}${path}`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, Origin: monitor.origin, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const cliJson = async <T>(...args: string[]): Promise<T> => {
    const result = await runCairn(home, [...args, '--json']);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as T;
  };

  beforeAll(async () => {
    library = diskChangerLibrary({ slots: 6, drives: 2, barcodes: { 1: 'VOL001', 2: 'VOL002', 3: 'VOL003', 5: 'VOL005' } });
    home = join(library.base, 'home');
    runtime = await openLocalRuntime({ home });
    const { emm } = runtime;
    await emm.addRobot({ name: 'vtl', changer: { type: 'changer-script', script: DISK_CHANGER, changerDevice: library.changerDevice }, fileTapeCapacityBytes: 32 * 1024 * 1024 }, AT);
    for (const [index, path] of library.drives.entries()) await emm.addDrive({ name: `vtl-d${index}`, robot: 'vtl', index, path, blockSize: 64 * 1024 });
    await takeInventory(emm, 'vtl', AT);
    await emm.addPool({ name: 'weekly', description: 'weekly fulls' });
    await emm.label('VOL001', 'weekly');
    await emm.label('VOL002', 'weekly');
    await runtime.config.putStorageUnit(StorageUnit.parse({ name: 'tape1', kind: 'tape', robot: 'vtl', pool: 'weekly', maxConcurrentJobs: 2, index: { name: 'local-disk', kind: 'disk', path: join(home, 'storage', 'local-disk') } }));
    // Job 7 writes to tape1 now: it holds a slot, drive vtl-d0 and volume VOL001 (ACTIVE and owned by this live process, so the janitor of a `cairn` command spares it).
    await runtime.jobs.create(sampleJob(7, { state: 'ACTIVE', storageUnit: 'tape1', owner: runtime.owner }));
    const granted = await runtime.media.reserve({ jobId: 7, at: AT, resources: [{ kind: 'storage-unit-slot', storageUnit: 'tape1', maxConcurrentJobs: 2 }, { kind: 'drive', storageUnit: 'tape1', drive: 'vtl-d0' }, { kind: 'volume', pool: 'weekly', mediaId: 'VOL001' }] });
    expect(granted.granted).toBe(true);
    monitor = await startMonitor({ backend: localBackend(runtime), token, port: 0, actor: ACTOR, pollMs: 50, assets: async () => new Map() });
  }, 30_000);

  afterAll(async () => {
    await monitor?.close();
    runtime?.close();
    await library?.cleanup();
  });

  it('lists the units with their slots in use, the robot, its drives with their holder, and the pools', async () => {
    const response = await get('/api/storage');
    expect(response.status).toBe(200);
    const body = (await response.json()) as { units: { name: string; kind: string; inUse: number }[]; robots: { name: string; drives: string[]; volumes: number }[]; drives: (Drive & { heldBy?: number })[]; pools: { name: string; volumes: number }[] };
    expect(body.units.map((u) => [u.name, u.kind, u.inUse])).toEqual([
      ['local-disk', 'disk', 0],
      ['tape1', 'tape', 1],
    ]);
    expect(body.robots).toMatchObject([{ name: 'vtl', drives: ['vtl-d0', 'vtl-d1'], volumes: 4, changer: { type: 'changer-script' } }]);
    expect(body.drives.map((d) => [d.name, d.state, d.heldBy])).toEqual([
      ['vtl-d0', 'UP', 7],
      ['vtl-d1', 'UP', undefined],
    ]);
    expect(body.pools.map((p) => [p.name, p.volumes])).toEqual([
      ['scratch', 2],
      ['weekly', 2],
    ]);
  });

  it('lists volumes with their holder, filtered by pool and state (any case), and names a filter it rejects', async () => {
    const ids = async (query: string): Promise<[string, string, string, number | undefined][]> =>
      ((await (await get(`/api/storage/media${query}`)).json()) as { media: (Media & { heldBy?: number })[] }).media.map((m) => [m.mediaId, m.pool, m.state, m.heldBy]);
    expect(await ids('')).toEqual([
      ['VOL001', 'weekly', 'UNASSIGNED', 7],
      ['VOL002', 'weekly', 'UNASSIGNED', undefined],
      ['VOL003', 'scratch', 'UNASSIGNED', undefined],
      ['VOL005', 'scratch', 'UNASSIGNED', undefined],
    ]);
    expect((await ids('?pool=scratch')).map((m) => m[0])).toEqual(['VOL003', 'VOL005']);
    expect((await ids('?state=frozen&pool=weekly')).map((m) => m[0])).toEqual([]);
    const bad = await get('/api/storage/media?state=LOST&colour=red');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { details: string[] }).details).toEqual(['state: "LOST" is not one of UNASSIGNED, ACTIVE, FULL, FROZEN, SUSPENDED', 'colour: not a filter (pool, robot, state)']);
  });

  it('takes a drive down with the reason and who gave it, and up again, as `cairn drive list` then shows', async () => {
    const down = await post('/api/storage/drives/vtl-d1/down', { reason: 'cleaning' });
    expect(down.status).toBe(200);
    expect(await down.json()).toMatchObject({ name: 'vtl-d1', state: 'DOWN', downReason: `cleaning (${ACTOR})` });
    const listed = await cliJson<Drive[]>('drive', 'list');
    expect(listed.find((d) => d.name === 'vtl-d1')).toMatchObject({ state: 'DOWN', downReason: `cleaning (${ACTOR})` });

    // Without a reason the record still says who; a drive a job holds goes down as `cairn drive down` takes it (no job is given it next).
    expect(await (await post('/api/storage/drives/vtl-d0/down')).json()).toMatchObject({ name: 'vtl-d0', state: 'DOWN', downReason: `set DOWN by ${ACTOR}` });
    const up = (await (await post('/api/storage/drives/vtl-d1/up')).json()) as Drive;
    expect(up.state).toBe('UP');
    expect(up.downReason).toBeUndefined();
    expect(await (await post('/api/storage/drives/vtl-d0/up', {})).json()).toMatchObject({ state: 'UP' });
    expect((await runtime.emm.listDrives()).map((d) => [d.name, d.state, d.downReason])).toEqual([
      ['vtl-d0', 'UP', undefined],
      ['vtl-d1', 'UP', undefined],
    ]);
  });

  it('clears a drive\'s errors with reset, and shows one drive with its holder', async () => {
    await runtime.emm.recordDriveError('vtl-d0', { at: AT.toISOString(), kind: 'write', mediaId: 'VOL001', jobId: 7, message: 'write error at record 3' });
    expect(await (await get('/api/storage/drives/vtl-d0')).json()).toMatchObject({ name: 'vtl-d0', errorCount: 1, heldBy: 7, errors: [{ message: 'write error at record 3' }] });
    expect(await (await post('/api/storage/drives/vtl-d0/reset')).json()).toMatchObject({ name: 'vtl-d0', errorCount: 0, errors: [] });
  });

  it('freezes a volume and unfreezes it back to the state it was frozen from, as `cairn media list` then shows', async () => {
    const frozen = await post('/api/storage/media/VOL002/freeze');
    expect(frozen.status).toBe(200);
    expect(await frozen.json()).toMatchObject({ mediaId: 'VOL002', state: 'FROZEN', heldFrom: 'UNASSIGNED' });
    const listed = await cliJson<Media[]>('media', 'list', '--state', 'frozen');
    expect(listed.map((m) => [m.mediaId, m.state, m.heldFrom])).toEqual([['VOL002', 'FROZEN', 'UNASSIGNED']]);
    expect((await (await get('/api/storage/media?state=FROZEN')).json()) as unknown).toMatchObject({ media: [{ mediaId: 'VOL002' }] });
    const unfrozen = (await (await post('/api/storage/media/VOL002/unfreeze')).json()) as Media;
    expect(unfrozen.state).toBe('UNASSIGNED');
    expect(unfrozen.heldFrom).toBeUndefined();
    // As `cairn media unfreeze`: a volume that is not FROZEN is left as it is, not refused.
    expect(await (await post('/api/storage/media/VOL002/unfreeze')).json()).toMatchObject({ mediaId: 'VOL002', state: 'UNASSIGNED' });
    expect((await runtime.emm.getMedia('VOL002'))?.state).toBe('UNASSIGNED');
  });

  it('refuses a drive or volume that does not exist with 404 naming it, and a bad body with 400 naming the field, changing nothing', async () => {
    const refusal = async (response: Response): Promise<[number, string, number | undefined]> => {
      const body = (await response.json()) as { message: string; statusCode?: number };
      return [response.status, body.message, body.statusCode];
    };
    expect(await refusal(await post('/api/storage/drives/nope/down'))).toEqual([404, 'drive nope not found', 219]);
    expect(await refusal(await post('/api/storage/drives/nope/up'))).toEqual([404, 'drive nope not found', 219]);
    expect(await refusal(await get('/api/storage/drives/nope'))).toEqual([404, 'drive nope not found', 219]);
    expect(await refusal(await post('/api/storage/media/NOPE1/freeze'))).toEqual([404, 'media NOPE1 not found', 96]);
    expect(await refusal(await post('/api/storage/media/NOPE1/unfreeze'))).toEqual([404, 'media NOPE1 not found', 96]);
    expect(await refusal(await get('/api/storage/media/NOPE1'))).toEqual([404, 'media NOPE1 not found', 96]);
    expect(await refusal(await post('/api/storage/drives/vtl-d1/down', { reason: 5 }))).toEqual([400, 'reason: must be a string', undefined]);
    expect(await refusal(await post('/api/storage/drives/vtl-d1/down', { reason: 'x', state: 'UP' }))).toEqual([400, 'state: not a field of a drive down (reason)', undefined]);
    expect(await refusal(await post('/api/storage/drives/vtl-d1/down', { reason: 'x'.repeat(201) }))).toEqual([400, 'reason: 201 characters, at most 200', undefined]);
    expect(await refusal(await post('/api/storage/media/VOL003/freeze', { force: true }))).toEqual([400, 'force: freeze takes no fields', undefined]);
    expect(await refusal(await post('/api/storage/drives/%E0%A4%A/down'))).toEqual([400, 'drive "%E0%A4%A" is not a valid URL path segment', undefined]);
    expect(await refusal(await post('/api/storage/drives/vtl-d1/explode'))).toEqual([404, 'no such action: POST /api/storage/drives/vtl-d1/explode', undefined]);
    expect((await runtime.emm.getDrive('vtl-d1'))?.state).toBe('UP');
    expect((await runtime.emm.getMedia('VOL003'))?.state).toBe('UNASSIGNED');
  });

  it('refuses an action from another origin and without the token, changing nothing', async () => {
    const foreign = await fetch(`${monitor.origin}/api/storage/drives/vtl-d1/down`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, Origin: 'http://evil.example' } });
    expect(foreign.status).toBe(403);
    const anonymous = await fetch(`${monitor.origin}/api/storage/media/VOL003/freeze`, { method: 'POST', headers: { Origin: monitor.origin } });
    expect(anonymous.status).toBe(401);
    expect((await fetch(`${monitor.origin}/api/storage`)).status).toBe(401);
    expect((await runtime.emm.getDrive('vtl-d1'))?.state).toBe('UP');
    expect((await runtime.emm.getMedia('VOL003'))?.state).toBe('UNASSIGNED');
  });
});
