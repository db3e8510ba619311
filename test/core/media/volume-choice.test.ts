import { describe, expect, it } from 'vitest';
import { chooseDrive, chooseTapeResources, chooseVolume, inUseBy, type InUse } from '#core/media/volume-choice.ts';
import { newMedia, type Drive, type Media } from '#core/model/tape-media.ts';

const at = new Date('2026-11-01T02:00:00Z');
const none: InUse = { mediaIds: new Set(), drives: new Set() };
const need = { robot: 'lib1', pool: 'weekly', retentionDays: 28 };

function volume(mediaId: string, changes: Partial<Media> = {}): Media {
  return { ...newMedia(mediaId, at, { robot: 'lib1', slot: 1 }), ...changes };
}
const active = (mediaId: string, bytesWritten: number, changes: Partial<Media> = {}): Media =>
  volume(mediaId, { pool: 'weekly', state: 'ACTIVE', bytesWritten, tapeFiles: 2, retentionDays: 28, lastWrittenAt: at.toISOString(), ...changes });
function drive(name: string, index: number, changes: Partial<Drive> = {}): Drive {
  return { name, robot: 'lib1', index, path: `/tmp/${name}`, blockSize: 262_144, state: 'UP', errorCount: 0, errors: [], version: 1, ...changes };
}
const drives = [drive('d0', 0), drive('d1', 1)];

describe('volume choice', () => {
  it('prefers a partly written ACTIVE volume of the pool with the same retention, the fullest first', () => {
    const media = [active('A1', 100), active('A2', 900), active('A3', 5000, { retentionDays: 7 }), volume('S1')];
    const choice = chooseVolume(need, media, drives, none);
    expect(choice).toMatchObject({ chosen: true, fromScratch: false, media: { mediaId: 'A2' } });
    expect(choice.reason).toBe('volume A2 of pool weekly is ACTIVE with 900 bytes written, retention 28 days');
  });

  it('prefers the ACTIVE volume already in a free drive (no robot move)', () => {
    const media = [active('A1', 100), active('A2', 900)];
    const choice = chooseVolume(need, media, [drive('d0', 0, { loaded: { mediaId: 'A1', since: at.toISOString() } }), drives[1]!], none);
    expect(choice).toMatchObject({ chosen: true, media: { mediaId: 'A1' }, reason: expect.stringMatching(/already in a drive$/) });
  });

  it('appends to another retention only when mixed retentions are allowed', () => {
    const media = [active('A3', 5000, { retentionDays: 7 })];
    expect(chooseVolume(need, media, drives, none).chosen).toBe(false);
    expect(chooseVolume({ ...need, allowMixedRetention: true }, media, drives, none)).toMatchObject({ chosen: true, media: { mediaId: 'A3' } });
  });

  it('never chooses FULL, FROZEN, SUSPENDED, held, outside or DOWN-drive volumes; then takes a never-written one of the pool, then scratch', () => {
    const media = [
      active('F1', 10, { state: 'FULL' }),
      active('F2', 10, { state: 'FROZEN', heldFrom: 'ACTIVE' }),
      active('F3', 10, { state: 'SUSPENDED', heldFrom: 'ACTIVE' }),
      active('H1', 10),
      active('O1', 10, { robot: undefined }),
      active('D1', 10),
      volume('S2'),
      volume('S1'),
    ];
    const inUse: InUse = { mediaIds: new Set(['H1']), drives: new Set() };
    const withDown = [drive('d0', 0, { state: 'DOWN', loaded: { mediaId: 'D1', since: at.toISOString() } }), drives[1]!];
    expect(chooseVolume(need, media, withDown, inUse)).toEqual({ chosen: true, media: media[7], fromScratch: true, reason: 'pool weekly has no writable volume: scratch volume S1 moves into it' });
    const labelled = [...media, volume('P1', { pool: 'weekly' })];
    expect(chooseVolume(need, labelled, withDown, inUse)).toMatchObject({ chosen: true, fromScratch: false, media: { mediaId: 'P1' }, reason: 'volume P1 of pool weekly was never written' });
  });

  it('says precisely why there is no volume', () => {
    const media = [active('F1', 10, { state: 'FULL' }), active('F2', 10, { state: 'FROZEN' }), active('H1', 10), active('R1', 10, { retentionDays: 7 }), volume('S1', { robot: 'lib2' })];
    const choice = chooseVolume(need, media, drives, { mediaIds: new Set(['H1']), drives: new Set() });
    expect(choice).toEqual({ chosen: false, reason: 'pool weekly has no writable volume in robot lib1 and scratch is empty (1 in use by other jobs, 1 ACTIVE with another retention than 28 days, 1 FULL, 1 FROZEN)' });
    expect(chooseVolume(need, [], drives, none)).toEqual({ chosen: false, reason: 'pool weekly has no writable volume in robot lib1 and scratch is empty' });
  });
});

describe('drive choice', () => {
  it('takes the drive that has the volume loaded, else an empty one, else the least recently used', () => {
    const loaded = [drive('d0', 0, { loaded: { mediaId: 'X1', since: at.toISOString() }, lastUsedAt: '2026-11-01T01:00:00.000Z' }), drive('d1', 1, { loaded: { mediaId: 'A1', since: at.toISOString() }, lastUsedAt: '2026-11-01T00:00:00.000Z' })];
    expect(chooseDrive('lib1', 'A1', loaded, none)).toMatchObject({ chosen: true, drive: { name: 'd1' }, reason: 'drive d1 has volume A1 loaded already' });
    expect(chooseDrive('lib1', 'B1', [loaded[0]!, drive('d1', 1)], none)).toMatchObject({ chosen: true, drive: { name: 'd1' }, reason: 'drive d1 is empty' });
    expect(chooseDrive('lib1', 'B1', loaded, none)).toMatchObject({ chosen: true, drive: { name: 'd1' }, reason: 'drive d1 is free; volume A1 is unloaded from it first' });
  });

  it('never takes a drive another job holds or a DOWN one, and says which', () => {
    expect(chooseDrive('lib1', undefined, drives, { mediaIds: new Set(), drives: new Set(['d0', 'd1']) })).toEqual({ chosen: false, reason: 'all 2 drives busy' });
    const down = [drive('d0', 0, { state: 'DOWN', downReason: '3 write errors' }), drive('d1', 1)];
    expect(chooseDrive('lib1', undefined, down, { mediaIds: new Set(), drives: new Set(['d1']) })).toEqual({ chosen: false, reason: 'drive d0 is DOWN (3 write errors), drive d1 is busy' });
    expect(chooseDrive('lib1', undefined, [drive('d0', 0, { state: 'DOWN' })], none)).toEqual({ chosen: false, reason: 'drive d0 is DOWN' });
    expect(chooseDrive('lib9', undefined, drives, none)).toEqual({ chosen: false, reason: 'robot lib9 has no drives' });
  });
});

describe('drive and volume together', () => {
  it('waits for a drive before naming a volume', () => {
    expect(chooseTapeResources(need, [volume('S1')], drives, { mediaIds: new Set(), drives: new Set(['d0', 'd1']) })).toEqual({ chosen: false, waitingFor: 'drive', reason: 'all 2 drives busy' });
  });

  it('waits for a volume when drives are free and the pool and scratch are empty', () => {
    expect(chooseTapeResources(need, [], drives, none)).toMatchObject({ chosen: false, waitingFor: 'volume', reason: 'pool weekly has no writable volume in robot lib1 and scratch is empty' });
  });

  it('chooses a volume and the drive it is in', () => {
    const withLoaded = [drives[0]!, drive('d1', 1, { loaded: { mediaId: 'A1', since: at.toISOString() } })];
    const choice = chooseTapeResources(need, [active('A1', 10)], withLoaded, none);
    expect(choice).toMatchObject({ chosen: true, media: { mediaId: 'A1' }, drive: { name: 'd1' }, fromScratch: false });
    expect(choice.reason).toBe('volume A1 of pool weekly is ACTIVE with 10 bytes written, retention 28 days, already in a drive; drive d1 has volume A1 loaded already');
  });
});

describe('what other jobs hold', () => {
  it('takes the drives and volumes of every other job from the reservations', () => {
    const reservedAt = at.toISOString();
    const inUse = inUseBy(
      [
        { jobId: 1, kind: 'storage-unit-slot', storageUnit: 'tld1', reservedAt },
        { jobId: 1, kind: 'drive', storageUnit: 'tld1', drive: 'd0', reservedAt },
        { jobId: 1, kind: 'volume', pool: 'weekly', mediaId: 'A1', reservedAt },
        { jobId: 2, kind: 'drive', storageUnit: 'tld1', drive: 'd1', reservedAt },
        { jobId: 2, kind: 'volume', pool: 'weekly', mediaId: 'A2', reservedAt },
      ],
      2,
    );
    expect(inUse).toEqual({ mediaIds: new Set(['A1']), drives: new Set(['d0']) });
  });
});
