import { describe, expect, it } from 'vitest';
import { routePaths } from '#agent/restore/point-in-time.ts';
import { sampleImage } from '../contracts/fixtures.ts';

const stream = (second: number, selection: string) => sampleImage('c1', new Date(Date.UTC(2026, 10, 1, 1, 0, second)), { selections: [selection], streams: ['/', '/home', '/srv/data'] });

describe('which stream\'s image a point-in-time restore asks for each path', () => {
  const finals = [stream(3, '/srv/data'), stream(1, '/'), stream(2, '/home')];

  it('asks every image with a selection at or under a path, and otherwise the one that holds it most closely', () => {
    expect(routePaths(finals, ['/home/user/notes.txt', '/srv/data', '/etc/hosts'])).toEqual([['/srv/data'], ['/etc/hosts'], ['/home/user/notes.txt']]);
    expect(routePaths(finals, ['/'])).toEqual([['/'], ['/'], ['/']]);
    expect(routePaths(finals, ['/srv'])).toEqual([['/srv'], [], []]);
  });

  it('asks for the whole of each image without paths, and all paths of a lone image', () => {
    expect(routePaths(finals, undefined)).toEqual([undefined, undefined, undefined]);
    expect(routePaths([finals[0]!], ['/elsewhere'])).toEqual([['/elsewhere']]);
  });

  it('gives a path no stream holds to the first image, which says it matches nothing', () => {
    const noRoot = [stream(3, '/srv/data'), stream(2, '/home')];
    expect(routePaths(noRoot, ['/etc/hosts'])).toEqual([['/etc/hosts'], []]);
  });
});
