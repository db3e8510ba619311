import { describe, expect, it } from 'vitest';
import { chooseAvoidingSuspects } from '#core/media/suspect-volumes.ts';
import type { InUse } from '#core/media/volume-choice.ts';
import { newMedia, type Drive, type Media, type MediaErrorEntry } from '#core/model/tape-media.ts';

const at = new Date('2026-11-01T02:00:00Z');
const none: InUse = { mediaIds: new Set(), drives: new Set() };
const need = { robot: 'lib1', pool: 'weekly', retentionDays: 28 };
const error = (jobId: number): MediaErrorEntry => ({ at: at.toISOString(), kind: 'write', drive: 'd0', jobId, message: `job ${jobId} attempt 1: EIO` });
const volume = (mediaId: string, slot: number, changes: Partial<Media> = {}): Media => ({ ...newMedia(mediaId, at, { robot: 'lib1', slot, pool: 'weekly' }), ...changes });
const drive = (name: string, index: number, changes: Partial<Drive> = {}): Drive => ({ name, robot: 'lib1', index, path: `/tmp/${name}`, blockSize: 65_536, state: 'UP', errorCount: 0, errors: [], version: 1, ...changes });
const drives = [drive('d0', 0), drive('d1', 1)];

describe('a retry after a tape error', () => {
  it('is given another volume than the one that failed the job, though that one is not frozen', () => {
    const media = [volume('V1', 1, { errors: [error(7)] }), volume('V2', 2)];
    const choice = chooseAvoidingSuspects(7, need, media, drives, none);
    expect(choice).toMatchObject({ chosen: true, media: { mediaId: 'V2' } });
    expect(choice.reason).toMatch(/avoided V1: an error in an earlier attempt of job 7$/);
  });

  it('does not avoid a volume for other jobs', () => {
    const media = [volume('V1', 1, { errors: [error(7)] }), volume('V2', 2)];
    expect(chooseAvoidingSuspects(8, need, media, drives, none)).toMatchObject({ chosen: true, media: { mediaId: 'V1' } });
  });

  it('uses the suspect volume again when there is no other, saying so', () => {
    const choice = chooseAvoidingSuspects(7, need, [volume('V1', 1, { errors: [error(7)] })], drives, none);
    expect(choice).toMatchObject({ chosen: true, media: { mediaId: 'V1' } });
    expect(choice.reason).toMatch(/no other writable volume, so V1 is used again/);
  });

  it('never takes a FROZEN or SUSPENDED volume, nor a DOWN drive, suspect or not', () => {
    const media = [volume('V1', 1, { state: 'FROZEN', heldFrom: 'UNASSIGNED', errors: [error(7)] }), volume('V2', 2, { state: 'SUSPENDED', heldFrom: 'ACTIVE' })];
    expect(chooseAvoidingSuspects(7, need, media, drives, none)).toMatchObject({ chosen: false, waitingFor: 'volume', reason: expect.stringMatching(/1 FROZEN, 1 SUSPENDED/) });
    const choice = chooseAvoidingSuspects(7, need, [volume('V3', 3)], [drive('d0', 0, { state: 'DOWN', downReason: 'errors' }), drives[1]!], none);
    expect(choice).toMatchObject({ chosen: true, drive: { name: 'd1' }, media: { mediaId: 'V3' } });
    expect(chooseAvoidingSuspects(7, need, [volume('V3', 3)], [drive('d0', 0, { state: 'DOWN' })], none)).toMatchObject({ chosen: false, waitingFor: 'drive', reason: 'drive d0 is DOWN' });
  });
});
