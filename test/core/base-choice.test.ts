import { describe, expect, it } from 'vitest';
import { chooseBaseImage } from '#core/broker/base-choice.ts';
import { sameSelections } from '#core/model/selection.ts';
import type { Image } from '#core/model/image.ts';
import type { BackupJob } from '#core/model/job.ts';
import { sampleImage } from '../contracts/fixtures.ts';

const day = (d: number): Date => new Date(Date.UTC(2026, 10, d, 1, 0, 0));
/** The backup id of the image taken on day `d`. */
const idOf = (d: number): string => sampleImage('c1', day(d)).backupId;
const image = (d: number, level: Image['level'], more: Partial<Image> = {}): Image => sampleImage('c1', day(d), { policy: 'p', level, ...more });
/** Newest first, as the catalog lists them. */
const newestFirst = (...images: Image[]): Image[] => [...images].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
const job = (level: BackupJob['level'], selections: string[], parentJobId?: number): Pick<BackupJob, 'level' | 'selections' | 'parentJobId' | 'backupId'> => ({ level, selections, ...(parentJobId ? { parentJobId } : {}) });
const streams = ['/srv/a', '/srv/b', '/srv/c'];
const streamImage = (d: number, level: Image['level'], stream: string, more: Partial<Image> = {}): Image => image(d, level, { selections: [stream], streams, ...more });

describe('the base an incremental is taken against (selections)', () => {
  it('compares selections as sets', () => {
    expect(sameSelections(['/a', '/b'], ['/b', '/a', '/a'])).toBe(true);
    expect(sameSelections(['/a'], ['/a', '/b'])).toBe(false);
    expect(sameSelections(['/a', '/c'], ['/a', '/b'])).toBe(false);
  });

  it('takes a stream against its own stream only, however recent the other streams are', () => {
    // Prepare: a full of each stream, then a differential of /srv/b; /srv/c's full is the newest image of all.
    const images = newestFirst(streamImage(1, 'full', '/srv/a'), streamImage(2, 'full', '/srv/b'), streamImage(3, 'differential-incremental', '/srv/b'), streamImage(4, 'full', '/srv/c'));
    // Act, Assess
    expect(chooseBaseImage(images, job('differential-incremental', ['/srv/a'], 9))).toMatchObject({ level: 'differential-incremental', base: { backupId: idOf(1) } });
    expect(chooseBaseImage(images, job('differential-incremental', ['/srv/b'], 9)).base?.backupId).toBe(idOf(3));
    expect(chooseBaseImage(images, job('cumulative-incremental', ['/srv/b'], 9)).base?.backupId).toBe(idOf(2));
  });

  it('runs a stream as a full when its own stream has no full, even with other streams\' fulls and old images without selections', () => {
    const images = newestFirst(streamImage(2, 'full', '/srv/a'), image(1, 'full'));
    expect(chooseBaseImage(images, job('differential-incremental', ['/srv/b'], 9))).toMatchObject({ level: 'full', why: expect.stringMatching(/no full backup of the stream \/srv\/b/) });
    expect(chooseBaseImage(images, job('differential-incremental', ['/srv/b'], 9)).base).toBeUndefined();
  });

  it('lets a job that is not a stream continue the chain of images catalogued before selections were recorded', () => {
    const images = newestFirst(image(1, 'full'), image(2, 'differential-incremental'));
    expect(chooseBaseImage(images, job('differential-incremental', ['/home'])).base?.backupId).toBe(idOf(2));
    expect(chooseBaseImage(images, job('cumulative-incremental', ['/home'])).base?.backupId).toBe(idOf(1));
  });

  it('prefers the images with the job\'s exact selections', () => {
    // An older full of the same list, a newer full of another list, and a newer incremental of the same list.
    const images = newestFirst(image(1, 'full', { selections: ['/home', '/etc'] }), image(2, 'full', { selections: ['/home'] }), image(3, 'differential-incremental', { selections: ['/etc', '/home'] }));
    expect(chooseBaseImage(images, job('cumulative-incremental', ['/home', '/etc'])).base?.backupId).toBe(idOf(1));
    expect(chooseBaseImage(images, job('differential-incremental', ['/home', '/etc'])).base?.backupId).toBe(idOf(3));
  });

  it('continues the policy\'s chain when its selection list changed, leaving streams\' images out', () => {
    // The list was /home; it is /home and /etc now. A stream image of the policy (it ran with streams once) is newer.
    const images = newestFirst(image(1, 'full', { selections: ['/home'] }), image(2, 'differential-incremental', { selections: ['/home'] }), streamImage(3, 'full', '/srv/a'));
    const diff = chooseBaseImage(images, job('differential-incremental', ['/home', '/etc']));
    expect(diff).toMatchObject({ level: 'differential-incremental', base: { backupId: idOf(2) }, why: expect.stringMatching(/selection list changed/) });
    expect(chooseBaseImage(images, job('cumulative-incremental', ['/home', '/etc'])).base?.backupId).toBe(idOf(1));
    // Only streams' images: a new chain, so a full.
    expect(chooseBaseImage([streamImage(3, 'full', '/srv/a')], job('differential-incremental', ['/srv/a', '/srv/b'])).level).toBe('full');
  });

  it('never builds on a failed, expired or its own image', () => {
    const images = newestFirst(image(1, 'full', { selections: ['/home'] }), image(2, 'differential-incremental', { selections: ['/home'], statusCode: 84 }), image(3, 'differential-incremental', { selections: ['/home'], state: 'EXPIRED' }), image(4, 'differential-incremental', { selections: ['/home'] }));
    const own = idOf(4);
    expect(chooseBaseImage(images, { ...job('differential-incremental', ['/home']), backupId: own }).base?.backupId).toBe(idOf(1));
    expect(chooseBaseImage(images, job('full', ['/home']))).toEqual({ level: 'full', why: 'a full backup' });
  });
});
