import { expect, it } from 'vitest';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import { CairnError, ConflictError, NotFoundError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { ERROR_HISTORY_LIMIT, newMedia } from '#core/model/tape-media.ts';
import { type OpenStore, describeContract } from './fixtures.ts';

const at = new Date('2026-11-01T02:00:00Z');
const later = (minutes: number): Date => new Date(at.getTime() + minutes * 60_000);

/** Resolves to the error the promise rejects with (fails the test when it resolves). */
async function failure(promise: Promise<unknown>): Promise<CairnError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CairnError);
  return error as CairnError;
}

export function describeMediaManagerContract(adapter: string, open: OpenStore<MediaDatabase>, skipReason?: string): void {
  describeContract('MediaDatabase', adapter, open, skipReason, (store) => {
    /** A library `lib1` with drives d0, d1 and pool `weekly`. */
    async function library(): Promise<void> {
      await store().addRobot({ name: 'lib1', changer: { type: 'changer-script', script: '/etc/bacula/scripts/disk-changer', changerDevice: '/tmp/lib1.conf' } }, at);
      await store().addDrive({ name: 'd0', robot: 'lib1', index: 0, path: '/tmp/lib1/drive0', blockSize: 262_144 });
      await store().addDrive({ name: 'd1', robot: 'lib1', index: 1, path: '/tmp/lib1/drive1', blockSize: 262_144 });
      await store().addPool({ name: 'weekly', description: 'weekly fulls' });
    }

    it('keeps robots by name and refuses a second robot of the same name', async () => {
      const robot = await store().addRobot({ name: 'lib1', changer: { type: 'mtx', device: '/dev/sg3' }, client: 'tapehost' }, at);
      expect(robot).toEqual({ name: 'lib1', changer: { type: 'mtx', device: '/dev/sg3' }, client: 'tapehost', addedAt: at.toISOString(), version: 1 });
      await store().addRobot({ name: 'alib', changer: { type: 'mtx', device: '/dev/sg4' } }, at);
      expect(await store().getRobot('lib1')).toEqual(robot);
      expect((await store().listRobots()).map((r) => r.name)).toEqual(['alib', 'lib1']);
      expect((await failure(store().addRobot({ name: 'lib1', changer: { type: 'mtx', device: '/dev/sg5' } }, at))).statusCode).toBe(StatusCode.INVALID_COMMAND_USAGE);
      expect(await store().getRobot('nolib')).toBeUndefined();
    });

    it('adds drives UP and empty to a known robot only, each name and each index of a robot once', async () => {
      const unknownRobot = await failure(store().addDrive({ name: 'x', robot: 'nolib', index: 0, path: '/dev/nst0', blockSize: 65_536 }));
      expect(unknownRobot).toBeInstanceOf(NotFoundError);
      expect(unknownRobot).toMatchObject({ missing: 'robot', statusCode: StatusCode.STORAGE_UNIT_UNAVAILABLE });
      await library();
      expect(await store().getDrive('d1')).toEqual({ name: 'd1', robot: 'lib1', index: 1, path: '/tmp/lib1/drive1', blockSize: 262_144, state: 'UP', errorCount: 0, errors: [], version: 1 });
      expect((await failure(store().addDrive({ name: 'd1', robot: 'lib1', index: 2, path: '/x', blockSize: 65_536 }))).message).toMatch(/drive d1 exists already/);
      expect((await failure(store().addDrive({ name: 'd2', robot: 'lib1', index: 1, path: '/x', blockSize: 65_536 }))).message).toMatch(/robot lib1 has drive d1 at index 1 already/);
      expect((await store().listDrives('lib1')).map((d) => d.name)).toEqual(['d0', 'd1']);
      expect(await store().listDrives('other')).toEqual([]);
    });

    it('takes a drive DOWN with its reason, UP again, and counts and resets its errors', async () => {
      await library();
      expect(await store().setDriveState('d0', 'DOWN', 'cleaning')).toMatchObject({ state: 'DOWN', downReason: 'cleaning' });
      const up = await store().setDriveState('d0', 'UP');
      expect(up.state).toBe('UP');
      expect(up).not.toHaveProperty('downReason');
      await store().recordDriveError('d0', { at: at.toISOString(), kind: 'write', mediaId: 'A00001', jobId: 4, message: 'EIO' });
      const errored = await store().recordDriveError('d0', { at: later(1).toISOString(), kind: 'position', message: 'fsf failed' });
      expect(errored.errorCount).toBe(2);
      expect(errored.errors.map((e) => e.kind)).toEqual(['write', 'position']);
      expect(await store().resetDriveErrors('d0')).toMatchObject({ errorCount: 0, errors: [] });
      const missing = await failure(store().setDriveState('nodrive', 'DOWN'));
      expect(missing).toMatchObject({ missing: 'drive', statusCode: StatusCode.STORAGE_UNIT_UNAVAILABLE });
    });

    it('always has the scratch pool, which cannot be added or deleted', async () => {
      expect((await store().listPools()).map((p) => p.name)).toEqual(['scratch']);
      expect(await store().getPool('scratch')).toMatchObject({ name: 'scratch' });
      expect((await failure(store().addPool({ name: 'scratch' }))).statusCode).toBe(StatusCode.INVALID_COMMAND_USAGE);
      expect((await failure(store().deletePool('scratch'))).statusCode).toBe(StatusCode.INVALID_COMMAND_USAGE);
    });

    it('adds, lists and deletes pools; refuses to delete one that holds volumes, saying how many', async () => {
      await store().addPool({ name: 'weekly' });
      await store().addPool({ name: 'daily', description: 'incrementals' });
      expect((await store().listPools()).map((p) => p.name)).toEqual(['daily', 'scratch', 'weekly']);
      expect((await failure(store().addPool({ name: 'daily' }))).statusCode).toBe(StatusCode.INVALID_COMMAND_USAGE);
      await store().addMedia(newMedia('A00001', at, { pool: 'weekly' }));
      await store().addMedia(newMedia('A00002', at, { pool: 'weekly' }));
      const refused = await failure(store().deletePool('weekly'));
      expect(refused.statusCode).toBe(StatusCode.INVALID_COMMAND_USAGE);
      expect(refused.message).toBe('pool weekly holds 2 volumes (A00001, A00002): move or expire them first');
      await store().deletePool('daily');
      expect(await store().getPool('daily')).toBeUndefined();
      expect(await failure(store().deletePool('daily'))).toMatchObject({ missing: 'pool', statusCode: StatusCode.UNABLE_TO_ALLOCATE_MEDIA });
    });

    it('adds volumes to existing pools only, each media id once, and lists them by pool, robot and state', async () => {
      const noPool = await failure(store().addMedia(newMedia('A00001', at, { pool: 'nopool' })));
      expect(noPool).toMatchObject({ missing: 'pool', statusCode: StatusCode.UNABLE_TO_ALLOCATE_MEDIA });
      await library();
      const added = await store().addMedia(newMedia('B00001', at, { robot: 'lib1', slot: 2 }));
      expect(added).toMatchObject({ mediaId: 'B00001', robot: 'lib1', slot: 2, pool: 'scratch', state: 'UNASSIGNED', tapeFiles: 0, version: 1 });
      await store().addMedia(newMedia('A00001', at, { robot: 'lib1', slot: 1, pool: 'weekly' }));
      await store().addMedia(newMedia('C00001', at));
      expect((await failure(store().addMedia(newMedia('A00001', at)))).message).toMatch(/media A00001 exists already/);
      expect(await store().getMedia('B00001')).toEqual(added);
      expect((await store().listMedia()).map((m) => m.mediaId)).toEqual(['A00001', 'B00001', 'C00001']);
      expect((await store().listMedia({ pool: 'weekly' })).map((m) => m.mediaId)).toEqual(['A00001']);
      expect((await store().listMedia({ robot: 'lib1' })).map((m) => m.mediaId)).toEqual(['A00001', 'B00001']);
      await store().freeze('B00001');
      expect((await store().listMedia({ state: 'FROZEN' })).map((m) => m.mediaId)).toEqual(['B00001']);
      expect(await failure(store().freeze('Z99'))).toMatchObject({ missing: 'media', statusCode: StatusCode.UNABLE_TO_ALLOCATE_MEDIA });
    });

    it('freezes and suspends a volume and returns it to the state it was held from', async () => {
      await store().addMedia(newMedia('A00001', at));
      await store().recordWrite('A00001', { bytes: 100, tapeFiles: 2, at, full: true });
      expect(await store().freeze('A00001')).toMatchObject({ state: 'FROZEN', heldFrom: 'FULL' });
      expect((await store().freeze('A00001')).state).toBe('FROZEN');
      const back = await store().unfreeze('A00001');
      expect(back.state).toBe('FULL');
      expect(back).not.toHaveProperty('heldFrom');
      await store().addMedia(newMedia('A00002', at));
      await store().recordWrite('A00002', { bytes: 100, tapeFiles: 2, at });
      expect(await store().suspend('A00002')).toMatchObject({ state: 'SUSPENDED', heldFrom: 'ACTIVE' });
      expect((await store().unfreeze('A00002')).state).toBe('SUSPENDED');
      expect((await store().unsuspend('A00002')).state).toBe('ACTIVE');
    });

    it('labels a never-written volume into a pool and refuses one that holds images', async () => {
      await library();
      await store().addMedia(newMedia('A00001', at));
      expect(await store().label('A00001', 'weekly')).toMatchObject({ pool: 'weekly', state: 'UNASSIGNED' });
      expect(await failure(store().label('A00001', 'nopool'))).toMatchObject({ missing: 'pool' });
      await store().recordWrite('A00001', { bytes: 10, tapeFiles: 1, backupId: 'client1_1793498400', at });
      const refused = await failure(store().label('A00001', 'scratch'));
      expect(refused.statusCode).toBe(StatusCode.INVALID_COMMAND_USAGE);
      expect(refused.message).toMatch(/holds 1 image/);
    });

    it('counts writes: bytes, tape files, images once, latest expiration, first retention, FULL at end of media', async () => {
      await store().addMedia(newMedia('A00001', at));
      await store().recordWrite('A00001', { bytes: 512, tapeFiles: 1, at });
      await store().recordWrite('A00001', { bytes: 1000, tapeFiles: 1, backupId: 'c1_1793498400', expiresAt: '2026-12-01T00:00:00.000Z', retentionDays: 30, at: later(1) });
      await store().recordWrite('A00001', { bytes: 1000, tapeFiles: 1, backupId: 'c1_1793498400', expiresAt: '2026-11-20T00:00:00.000Z', retentionDays: 7, at: later(2) });
      const media = await store().recordWrite('A00001', { bytes: 24, tapeFiles: 1, backupId: 'c2_1793498500', at: later(3) });
      expect(media).toMatchObject({ state: 'ACTIVE', bytesWritten: 2536, tapeFiles: 4, images: ['c1_1793498400', 'c2_1793498500'], expiresAt: '2026-12-01T00:00:00.000Z', retentionDays: 30, lastWrittenAt: later(3).toISOString() });
      expect((await store().recordWrite('A00001', { bytes: 0, tapeFiles: 0, at: later(4), full: true })).state).toBe('FULL');
      expect((await failure(store().recordWrite('A00001', { bytes: -1, tapeFiles: 0, at }))).statusCode).toBe(StatusCode.INVALID_COMMAND_USAGE);
    });

    it('keeps the newest errors of a volume, up to the history limit', async () => {
      await store().addMedia(newMedia('A00001', at));
      for (let i = 0; i < ERROR_HISTORY_LIMIT + 2; i++) await store().recordMediaError('A00001', { at: later(i).toISOString(), kind: 'read', drive: 'd0', message: `error ${i}` });
      const media = (await store().getMedia('A00001'))!;
      expect(media.errors).toHaveLength(ERROR_HISTORY_LIMIT);
      expect(media.errors.at(-1)!.message).toBe(`error ${ERROR_HISTORY_LIMIT + 1}`);
      expect(media.errors[0]!.message).toBe('error 2');
    });

    it('applies a change to the version read only, when asked, and refuses a stale one', async () => {
      const added = await store().addMedia(newMedia('A00001', at));
      const changed = await store().updateMedia('A00001', (m) => ({ ...m, capacityBytes: 1_000_000 }), { expectedVersion: added.version });
      expect(changed).toMatchObject({ capacityBytes: 1_000_000, version: added.version + 1 });
      const stale = await failure(store().updateMedia('A00001', (m) => ({ ...m, capacityBytes: 2 }), { expectedVersion: added.version }));
      expect(stale).toBeInstanceOf(ConflictError);
      expect(stale.statusCode).toBe(StatusCode.CONFLICT);
      expect((await store().getMedia('A00001'))!.capacityBytes).toBe(1_000_000);
      expect((await failure(store().updateMedia('A00001', (m) => ({ ...m, mediaId: 'B00001' })))).message).toMatch(/cannot rename/);
    });

    it('loses no update when writers race on one volume', async () => {
      await store().addMedia(newMedia('A00001', at));
      const writers = Array.from({ length: 8 }, (_, i) => store().recordWrite('A00001', { bytes: 100, tapeFiles: 1, backupId: `c${i}_1793498400`, at: later(i) }));
      await Promise.all([...writers, store().recordMediaError('A00001', { at: at.toISOString(), kind: 'write', message: 'EIO' }), store().freeze('A00001')]);
      const media = (await store().getMedia('A00001'))!;
      expect(media.bytesWritten).toBe(800);
      expect(media.tapeFiles).toBe(8);
      expect([...media.images].sort()).toEqual(Array.from({ length: 8 }, (_, i) => `c${i}_1793498400`));
      expect(media.errors).toHaveLength(1);
      expect(media).toMatchObject({ state: 'FROZEN', heldFrom: 'ACTIVE', version: 11 });
    });

    it('lets exactly one of two racing optimistic writers win', async () => {
      const added = await store().addMedia(newMedia('A00001', at));
      const results = await Promise.allSettled([
        store().updateMedia('A00001', (m) => ({ ...m, capacityBytes: 1 }), { expectedVersion: added.version }),
        store().updateMedia('A00001', (m) => ({ ...m, capacityBytes: 2 }), { expectedVersion: added.version }),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      expect(results.find((r) => r.status === 'rejected')!.reason).toBeInstanceOf(ConflictError);
      expect((await store().getMedia('A00001'))!.capacityBytes).toBe((won[0] as PromiseFulfilledResult<{ capacityBytes: number }>).value.capacityBytes);
    });

    it('never leaves a volume in a pool deleted while it was labelled into it', async () => {
      for (let round = 0; round < 4; round++) {
        const pool = `p${round}`;
        const mediaId = `R${round}`;
        await store().addPool({ name: pool });
        await store().addMedia(newMedia(mediaId, at));
        await Promise.allSettled([store().label(mediaId, pool), store().deletePool(pool)]);
        const media = (await store().getMedia(mediaId))!;
        const poolNow = await store().getPool(pool);
        // Either the label won (the pool stays, holding the volume) or the delete did (the volume stays in scratch).
        if (poolNow === undefined) expect(media.pool).toBe('scratch');
        else expect(media.pool).toBe(pool);
      }
    });

    it('counts a mount and records the volume in the drive, and in one drive only', async () => {
      await library();
      await store().addMedia(newMedia('A00001', at, { robot: 'lib1', slot: 1 }));
      const mounted = await store().recordMount('A00001', 'd0', at);
      expect(mounted).toMatchObject({ drive: 'd0', mountCount: 1, lastMountedAt: at.toISOString() });
      expect(await store().getDrive('d0')).toMatchObject({ loaded: { mediaId: 'A00001', since: at.toISOString() }, lastUsedAt: at.toISOString() });
      expect(await store().recordMount('A00001', 'd1', later(5))).toMatchObject({ drive: 'd1', mountCount: 2 });
      expect(await store().getDrive('d0')).not.toHaveProperty('loaded');
      expect((await store().getDrive('d1'))!.loaded).toEqual({ mediaId: 'A00001', since: later(5).toISOString() });
      await store().setDriveLoaded('d1', undefined, later(9));
      expect(await store().getDrive('d1')).toMatchObject({ lastUsedAt: later(9).toISOString() });
      expect(await store().getDrive('d1')).not.toHaveProperty('loaded');
      expect(await store().getMedia('A00001')).not.toHaveProperty('drive');
    });

    it('records an unload in flight beside the loaded volume, until it is cleared or a load or unload is recorded', async () => {
      await library();
      await store().addMedia(newMedia('A00002', at, { robot: 'lib1', slot: 2 }));
      await store().setDriveLoaded('d0', 'A00002', at);
      const unloading = { mediaId: 'A00002', holder: 41, instanceId: 'mi-0123456789abcdef0', commandId: 'c-1', since: later(3).toISOString() };

      expect(await store().setDriveUnloading('d0', unloading)).toMatchObject({ loaded: { mediaId: 'A00002' }, unloading });
      expect(await store().getDrive('d0')).toMatchObject({ loaded: { mediaId: 'A00002', since: at.toISOString() }, lastUsedAt: at.toISOString(), unloading });
      expect(await store().setDriveUnloading('d0', undefined)).not.toHaveProperty('unloading');
      expect((await store().getDrive('d0'))!.loaded?.mediaId).toBe('A00002');
      await store().setDriveUnloading('d0', unloading);
      await store().setDriveLoaded('d0', undefined, later(4));
      expect(await store().getDrive('d0')).not.toHaveProperty('unloading');
      expect(await store().getDrive('d0')).not.toHaveProperty('loaded');
      expect((await failure(store().setDriveUnloading('nodrive', unloading))).statusCode).toBe(219);
    });

    it('inventories a robot: adds new barcodes to scratch, moves known volumes, sends missing ones outside, reports the rest', async () => {
      await library();
      await store().addMedia(newMedia('K00001', at, { robot: 'lib1', slot: 1, pool: 'weekly' }));
      await store().addMedia(newMedia('K00002', at, { robot: 'lib1', slot: 2 }));
      await store().addMedia(newMedia('K00003', at));
      const report = {
        slots: [{ slot: 1, barcode: 'N00001' }, { slot: 2, full: true }, { slot: 3, barcode: 'K00003' }, { slot: 4 }],
        drives: [{ index: 0, barcode: 'K00001', sourceSlot: 5 }, { index: 1 }],
      };
      const result = await store().applyInventory('lib1', report, later(10));
      expect(result).toMatchObject({ added: ['N00001'], moved: ['K00003', 'K00001'], left: ['K00002'] });
      expect(result.plan.problems).toEqual([{ where: 'slot 2', reason: expect.stringMatching(/without a barcode/) }]);
      expect(await store().getMedia('N00001')).toMatchObject({ robot: 'lib1', slot: 1, pool: 'scratch', state: 'UNASSIGNED', addedAt: later(10).toISOString() });
      expect(await store().getMedia('K00001')).toMatchObject({ robot: 'lib1', slot: 5, drive: 'd0', pool: 'weekly' });
      expect(await store().getMedia('K00003')).toMatchObject({ robot: 'lib1', slot: 3 });
      const gone = (await store().getMedia('K00002'))!;
      expect(gone).toMatchObject({ lastRobot: 'lib1' });
      expect(gone).not.toHaveProperty('robot');
      expect(gone).not.toHaveProperty('slot');
      expect((await store().getDrive('d0'))!.loaded).toEqual({ mediaId: 'K00001', since: later(10).toISOString() });
      const again = await store().applyInventory('lib1', report, later(20));
      expect(again).toMatchObject({ added: [], moved: [], left: [] });
      expect(await failure(store().applyInventory('nolib', report, at))).toMatchObject({ missing: 'robot' });
    });

    it('records nothing in a drive whose barcode is not a media id, and reports it', async () => {
      await library();
      await store().setDriveLoaded('d1', undefined, at);
      const result = await store().applyInventory('lib1', { slots: [], drives: [{ index: 1, barcode: 'not a barcode' }] }, at);
      expect(result.plan.problems).toEqual([{ where: 'drive d1 (index 1)', reason: expect.stringMatching(/is not a media id/) }]);
      expect(await store().getDrive('d1')).not.toHaveProperty('loaded');
      expect(await store().listMedia()).toEqual([]);
    });

    it('removes a robot with its drives, and its volumes go outside it', async () => {
      await library();
      await store().addMedia(newMedia('A00001', at, { robot: 'lib1', slot: 1 }));
      await store().removeRobot('lib1');
      expect(await store().getRobot('lib1')).toBeUndefined();
      expect(await store().listDrives()).toEqual([]);
      expect(await store().getMedia('A00001')).toMatchObject({ lastRobot: 'lib1' });
      expect(await store().getMedia('A00001')).not.toHaveProperty('robot');
      expect(await failure(store().removeRobot('lib1'))).toMatchObject({ missing: 'robot' });
      expect(await failure(store().removeDrive('d0'))).toMatchObject({ missing: 'drive' });
    });
  });
}
