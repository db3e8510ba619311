import { describe, expect, it } from 'vitest';
import { pointInTimeImages } from '#core/catalog/point-in-time.ts';
import type { Image } from '#core/model/image.ts';
import { sampleImage } from '../contracts/fixtures.ts';

const day = (d: number): Date => new Date(Date.UTC(2026, 10, d, 1, 0, 0));
const image = (d: number, more: Partial<Image> = {}): Image => sampleImage('c1', day(d), { policy: 'p', ...more });
const newestFirst = (...images: Image[]): Image[] => [...images].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
const ids = (images: readonly Image[] | undefined): string[] | undefined => images?.map((i) => i.backupId);
const streams = ['/srv/a', '/srv/b', '/srv/c'];
const stream = (d: number, selection: string, more: Partial<Image> = {}): Image => image(d, { selections: [selection], streams, ...more });

describe('the images that show a client\'s tree at a point in time', () => {
  it('is the newest good image alone when it is not a stream\'s', () => {
    const images = newestFirst(image(1, { selections: ['/home'] }), image(2, { selections: ['/home'], statusCode: 84 }), image(3), stream(0, '/srv/a'));
    expect(pointInTimeImages(images)).toEqual({ images: [image(3)], missing: [] });
    expect(pointInTimeImages([])).toBeUndefined();
    expect(pointInTimeImages([image(1, { state: 'EXPIRED' })])).toBeUndefined();
  });

  it('is the newest image of every stream of the newest stream image\'s parent', () => {
    // Two runs of three streams; /srv/c failed in the second run, and a stream of another policy is newer still.
    const images = newestFirst(
      stream(1, '/srv/a'), stream(2, '/srv/b'), stream(3, '/srv/c'),
      stream(11, '/srv/a', { level: 'differential-incremental' }), stream(12, '/srv/b', { level: 'differential-incremental' }), stream(13, '/srv/c', { statusCode: 13 }),
      stream(14, '/srv/b', { policy: 'other' }),
    ).filter((i) => i.policy === 'p');
    const view = pointInTimeImages(images)!;
    expect(ids(view.images)).toEqual(ids([image(12), image(11), image(3)]));
    expect(view.missing).toEqual([]);
  });

  it('names the streams that have no image yet, and leaves out images of selections the streams no longer name', () => {
    // The policy had one stream /old; now it has /srv/a, /srv/b, /srv/c and only /srv/a has run.
    const images = newestFirst(stream(1, '/old', { streams: ['/old'] }), stream(2, '/srv/a'), image(0, { selections: ['/srv/b'], policy: 'elsewhere' }));
    expect(pointInTimeImages(images)).toEqual({ images: [stream(2, '/srv/a')], missing: ['/srv/b', '/srv/c'] });
  });
});
