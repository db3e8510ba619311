import { describe, expect, it } from 'vitest';
import { drivesIdlePastDelay } from '#core/media/idle-drives.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import type { Drive } from '#core/model/tape-media.ts';

const T0 = '2026-12-03T04:00:00.000Z';
const at = (seconds: number): Date => new Date(Date.parse(T0) + seconds * 1000);
const index = { name: 'idx', kind: 'disk' as const, path: '/srv/index' };

function drive(name: string, options: Partial<Drive> = {}): Drive {
  return { name, robot: 'lib1', index: 0, path: `/dev/nst${name.slice(1)}`, blockSize: 65536, state: 'UP', errorCount: 0, errors: [], version: 1, ...options };
}
const loaded = (mediaId: string, lastUsedAt = T0): Partial<Drive> => ({ loaded: { mediaId, since: T0 }, lastUsedAt });

describe('drives idle past their media unmount delay', () => {
  const units = [
    StorageUnit.parse({ name: 'daily-tape', kind: 'tape', robot: 'lib1', pool: 'daily', index }),
    StorageUnit.parse({ name: 'weekly-tape', kind: 'tape', robot: 'lib1', pool: 'weekly', index, mediaUnmountDelaySeconds: 600 }),
    StorageUnit.parse({ name: 'weekly-fast', kind: 'tape', robot: 'lib1', pool: 'weekly', index, mediaUnmountDelaySeconds: 30 }),
    StorageUnit.parse({ name: 'disk', kind: 'disk', path: '/srv/disk' }),
  ];
  const media = [
    { mediaId: 'D00001', pool: 'daily' },
    { mediaId: 'W00001', pool: 'weekly' },
    { mediaId: 'X00001', pool: 'retired' },
  ];
  const decide = (drives: Drive[], seconds: number, held: string[] = []) => drivesIdlePastDelay({ drives, units, media, heldDrives: new Set(held), now: at(seconds) });

  it('keeps a drive loaded until the default 180 s passed since its last job, then names it', () => {
    const drives = [drive('d0', loaded('D00001'))];
    expect(decide(drives, 179)).toEqual([]);
    expect(decide(drives, 180)).toEqual([{ drive: 'd0', robot: 'lib1', mediaId: 'D00001', storageUnit: 'daily-tape', delaySeconds: 180, idleSeconds: 180 }]);
  });

  it('counts from the last job, not from the load', () => {
    const drives = [drive('d0', loaded('D00001', at(100).toISOString()))];
    expect(decide(drives, 200)).toEqual([]);
    expect(decide(drives, 280).map((d) => d.idleSeconds)).toEqual([180]);
  });

  it("takes the longest delay of the robot's units writing the volume's pool", () => {
    const drives = [drive('d1', loaded('W00001'))];
    expect(decide(drives, 599)).toEqual([]);
    expect(decide(drives, 600)).toMatchObject([{ drive: 'd1', storageUnit: 'weekly-tape', delaySeconds: 600 }]);
  });

  it('unloads at once a volume of a pool no unit writes any more', () => {
    expect(decide([drive('d0', loaded('X00001'))], 0)).toEqual([{ drive: 'd0', robot: 'lib1', mediaId: 'X00001', delaySeconds: 0, idleSeconds: 0 }]);
  });

  it('leaves alone empty drives, drives a job holds, and DOWN drives', () => {
    const drives = [drive('d0'), drive('d1', loaded('D00001')), drive('d2', { ...loaded('D00001'), state: 'DOWN' })];
    expect(decide(drives, 10_000, ['d1'])).toEqual([]);
  });

  it('reads time only from its argument', () => {
    const drives = [drive('d0', loaded('D00001'))];
    expect(decide(drives, -50)).toEqual([]);
  });
});
