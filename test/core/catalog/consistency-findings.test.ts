import { describe, expect, it } from 'vitest';
import { findInconsistencies, type CatalogState } from '#core/catalog/consistency-findings.ts';
import { newMedia } from '#core/model/tape-media.ts';
import { pointInTimeImages } from '#core/catalog/point-in-time.ts';
import { chooseBaseImage } from '#core/broker/base-choice.ts';
import { claimOf, sampleImage, sampleJob } from '../../contracts/fixtures.ts';

const now = new Date('2026-12-01T00:00:00Z');
const image = sampleImage('c1', new Date('2026-11-20T00:00:00Z'));
const folder = `images/c1/${image.backupId}/`;
const old = new Date(now.getTime() - 2 * 86_400_000).toISOString();

function state(overrides: Partial<CatalogState>): CatalogState {
  return { now, graceSeconds: 86_400, images: [image], claims: [], deadJobs: [], reservations: [], holders: new Map(), volumes: [], listings: [], copyChecks: [], ...overrides };
}
const object = (key: string, modifiedAt = old, bytes = 10) => ({ key, bytes, modifiedAt });

describe('the catalog check decision', () => {
  it('owns every key an image record names and its block map; anything else in its folder is an orphan', () => {
    const listing = { storageUnit: 'disk1', objects: [object(`${folder}fragment-00001.tar`), object(`${folder}index.ndjson.gz`), object(`${folder}manifest.json`), object(`${folder}blocks.bin`), object(`${folder}stray`, old, 99)] };
    const found = findInconsistencies(state({ listings: [listing] }));
    expect(found).toEqual([expect.objectContaining({ kind: 'orphan-object', subject: `disk1:${folder}stray`, bytes: 99, action: { do: 'delete-object', storageUnit: 'disk1', key: `${folder}stray` } })]);
  });

  it('counts what units kept in the same place own together (a tape unit’s index in a disk unit’s directory)', () => {
    const listing = { storageUnit: 'disk2', sameStorageAs: ['disk1'], objects: [object(`${folder}manifest.json`)] };
    expect(findInconsistencies(state({ listings: [listing] }))).toEqual([]);
  });

  it('reports an image folder on a unit where the image has no copy as orphaned there', () => {
    const found = findInconsistencies(state({ listings: [{ storageUnit: 'disk2', objects: [object(`${folder}manifest.json`)] }] }));
    expect(found.map((f) => f.subject)).toEqual([`disk2:${folder}manifest.json`]);
  });

  it('never reports what a claim owns, on any unit, whatever its age', () => {
    const staged = sampleImage('c2', new Date('2026-11-30T00:00:00Z'));
    const found = findInconsistencies(state({ claims: [claimOf(staged, 5)], listings: [{ storageUnit: 'disk2', objects: [object(`images/c2/${staged.backupId}/fragment-00001.tar`)] }] }));
    expect(found).toEqual([]);
  });

  it('reports a young orphan without an action: a repair after the grace period deletes it', () => {
    const young = new Date(now.getTime() - 3600_000).toISOString();
    const [finding] = findInconsistencies(state({ listings: [{ storageUnit: 'disk1', objects: [object('images/x/x_1700000000/f', young)] }] }));
    expect(finding).toMatchObject({ kind: 'orphan-object', repair: expect.stringContaining('younger than the grace period') });
    expect(finding!.action).toBeUndefined();
    expect(findInconsistencies(state({ graceSeconds: 0, listings: [{ storageUnit: 'disk1', objects: [object('images/x/x_1700000000/f', young)] }] }))[0]!.action).toMatchObject({ do: 'delete-object' });
  });

  it('marks a damaged copy broken once: a copy already marked, or an image being expired, is not reported again', () => {
    const check = { backupId: image.backupId, copyNumber: 1, storageUnit: 'disk1', problems: ['fragment 1 is missing'] };
    expect(findInconsistencies(state({ copyChecks: [check] }))).toEqual([expect.objectContaining({ kind: 'damaged-image', bytes: 10240, action: { do: 'mark-broken', backupId: image.backupId, copyNumber: 1, reasons: ['fragment 1 is missing'] } })]);
    const marked = { ...image, broken: { at: now.toISOString(), copies: [1], reasons: ['copy 1: fragment 1 is missing'] } };
    expect(findInconsistencies(state({ images: [marked], copyChecks: [check] }))).toEqual([]);
    const expiring = { ...image, state: 'EXPIRED' as const };
    expect(findInconsistencies(state({ images: [expiring], copyChecks: [check] })).map((f) => f.kind)).toEqual(['half-expired-image']);
  });

  it('releases reservations of ended or unknown jobs only; a dead job’s go with it, an idle unload’s stay', () => {
    const slot = (jobId: number) => ({ kind: 'storage-unit-slot' as const, storageUnit: 'disk1', jobId, reservedAt: old });
    const holders = new Map([
      [1, sampleJob(1, { state: 'DONE', statusCode: 0 })],
      [2, sampleJob(2, { state: 'ACTIVE' })],
      [3, undefined],
      [4, sampleJob(4, { state: 'ACTIVE' })],
      [5, undefined],
    ]);
    const found = findInconsistencies(state({ reservations: [1, 2, 3, 4, 5].map(slot), holders, deadJobs: [{ job: sampleJob(4, { state: 'ACTIVE' }), reason: 'gone' }], spared: new Set([5]) }));
    expect(found.map((f) => `${f.kind} ${f.subject}`)).toEqual(['dead-job job 4', 'stale-reservation job 1: a slot of storage unit disk1', 'stale-reservation job 3: a slot of storage unit disk1']);
  });

  it('takes an image the catalog does not have off a volume, but not one being written (claimed)', () => {
    const staged = sampleImage('c3', new Date('2026-11-30T00:00:00Z'));
    const volume = { ...newMedia('A00001', now), images: [image.backupId, 'gone_1700000000', staged.backupId] };
    const found = findInconsistencies(state({ claims: [claimOf(staged)], volumes: [volume] }));
    expect(found).toEqual([expect.objectContaining({ kind: 'volume-lists-unknown-image', action: { do: 'unlist-image', mediaId: 'A00001', backupId: 'gone_1700000000' } })]);
  });
});

describe('a tape image its volume does not list', () => {
  const onTape = (fileNumber: number) => {
    const base = sampleImage('t1', new Date('2026-11-21T00:00:00Z'), { storageUnit: 'tape1' });
    return { ...base, copies: [{ ...base.copies[0]!, fragments: [{ ...base.copies[0]!.fragments[0]!, location: { kind: 'tape' as const, mediaId: 'A00002', fileNumber, blockOffset: 0 } }] }] };
  };
  const volume = { ...newMedia('A00002', now), state: 'ACTIVE' as const, tapeFiles: 3, images: [] };
  it('is listed on it again while its tape file is before the append point', () => {
    const image = onTape(2);
    expect(findInconsistencies(state({ images: [image], volumes: [volume] }))).toEqual([expect.objectContaining({ kind: 'volume-misses-image', action: { do: 'relist-image', mediaId: 'A00002', backupId: image.backupId } })]);
  });
  it('is not listed again past the append point (the copy check reports it damaged), nor when the volume lists it', () => {
    expect(findInconsistencies(state({ images: [onTape(3)], volumes: [volume] }))).toEqual([]);
    const image = onTape(1);
    expect(findInconsistencies(state({ images: [image], volumes: [{ ...volume, images: [image.backupId] }] }))).toEqual([]);
  });
});

describe('an image whose every copy is broken', () => {
  const broken = { ...sampleImage('c1', new Date('2026-11-25T00:00:00Z')), broken: { at: now.toISOString(), copies: [1], reasons: ['copy 1: fragment 1 is missing'] } };
  it('is no point in time of its client, and no base of a new incremental', () => {
    expect(pointInTimeImages([broken, image])?.images.map((i) => i.backupId)).toEqual([image.backupId]);
    const decision = chooseBaseImage([broken, image], sampleJob(9, { client: 'c1', level: 'differential-incremental' }));
    expect(decision.base?.backupId).toBe(image.backupId);
  });
});
