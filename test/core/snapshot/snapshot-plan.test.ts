import { describe, expect, it } from 'vitest';
import { leftoverVerdict, planSnapshots, requiredSnapshotMessage, selectionSources } from '#core/snapshot/snapshot-plan.ts';
import { snapshotCommands } from '#core/broker/broker.ts';
import { Policy } from '#core/model/policy.ts';
import type { FrozenImage } from '#core/model/snapshot.ts';
import { samplePolicy } from '../../contracts/fixtures.ts';

const image = (sourceRoot: string, readRoot: string): FrozenImage => ({ method: 'btrfs', name: 'cairn-job-9-x', jobId: 9, sourceRoot, readRoot, handle: {}, createdAt: '2026-12-03T13:00:00.000Z' });

describe('which volumes a job freezes', () => {
  it('freezes each volume once for all the selections on it, in the order they come, and reads the rest live with their reasons', () => {
    const plan = planSnapshots([
      { selection: '/srv/a', choice: { method: 'btrfs', sourceRoot: '/srv' } },
      { selection: '/home', choice: { method: 'none', reason: '/home is ext4 on /dev/sda2, not btrfs' } },
      { selection: '/srv/b', choice: { method: 'btrfs', sourceRoot: '/srv' } },
      { selection: '/data', choice: { method: 'zfs', sourceRoot: '/data' } },
      { selection: '/srv/a', choice: { method: 'btrfs', sourceRoot: '/srv' } },
    ]);
    expect(plan.volumes).toEqual([
      { method: 'btrfs', sourceRoot: '/srv', selections: ['/srv/a', '/srv/b'] },
      { method: 'zfs', sourceRoot: '/data', selections: ['/data'] },
    ]);
    expect(plan.fellBack).toEqual([{ selection: '/home', reason: '/home is ext4 on /dev/sda2, not btrfs' }]);
  });

  it('keeps two methods of one root apart (they are two images)', () => {
    const plan = planSnapshots([
      { selection: '/v/a', choice: { method: 'btrfs', sourceRoot: '/v' } },
      { selection: '/v/b', choice: { method: 'lvm', sourceRoot: '/v' } },
    ]);
    expect(plan.volumes.map((v) => v.method)).toEqual(['btrfs', 'lvm']);
  });

  it('names every selection that cannot be frozen, and why, when a snapshot is required', () => {
    expect(requiredSnapshotMessage([{ selection: '/home', reason: 'ext4, not btrfs' }, { selection: '/tmp', reason: 'tmpfs, not btrfs' }])).toBe('a snapshot is required and cannot be taken: /home: ext4, not btrfs; /tmp: tmpfs, not btrfs');
  });
});

describe('where a selection is read', () => {
  it('reads a selection inside the deepest image that covers it, and the others where they are', () => {
    const images = [image('/srv', '/srv/.cairn-snapshots/s'), image('/srv/deep', '/srv/deep/.cairn-snapshots/d')];
    expect(selectionSources(['/srv', '/srv/data/x', '/srv/deep/y', '/srvother', '/home'], images)).toEqual({
      '/srv': '/srv/.cairn-snapshots/s',
      '/srv/data/x': '/srv/.cairn-snapshots/s/data/x',
      '/srv/deep/y': '/srv/deep/.cairn-snapshots/d/y',
    });
  });

  it('reads everything live without images', () => {
    expect(selectionSources(['/a', '/b'], [])).toEqual({});
  });
});

describe('whether a leftover image is removed at the agent\'s start', () => {
  const record = { jobId: 4, heldUntil: '2026-12-03T14:00:00.000Z' };
  const before = new Date('2026-12-03T13:59:59.000Z');
  const after = new Date('2026-12-03T14:00:00.000Z');

  it('keeps an image whose owner runs, whatever else is known', () => {
    expect(leftoverVerdict(record, { ownerAlive: true, jobActive: false, now: after }).remove).toBe(false);
    expect(leftoverVerdict(record, { ownerAlive: true, jobActive: undefined, now: after }).remove).toBe(false);
  });

  it('with a job store: removes it once the owner is gone and the job has ended, and keeps it while the job is still active', () => {
    expect(leftoverVerdict(record, { ownerAlive: false, jobActive: false, now: before })).toEqual({ remove: true, why: 'its owner is gone and job 4 is no longer active' });
    expect(leftoverVerdict(record, { ownerAlive: false, jobActive: true, now: after }).remove).toBe(false);
  });

  it('without one (the cloud agent): removes it once the owner is gone and the hand-over time is past', () => {
    expect(leftoverVerdict(record, { ownerAlive: false, jobActive: undefined, now: before }).remove).toBe(false);
    expect(leftoverVerdict(record, { ownerAlive: false, jobActive: undefined, now: after }).remove).toBe(true);
  });
});

describe('the policy\'s snapshot options', () => {
  it('defaults to no snapshot, not required', () => {
    expect(samplePolicy()).toMatchObject({ snapshot: 'none', snapshotRequired: false });
    expect(samplePolicy().lvmSnapshotSize).toBeUndefined();
  });

  it('accepts the methods and auto, and LVM sizes as lvcreate takes them', () => {
    for (const snapshot of ['auto', 'btrfs', 'lvm', 'zfs', 'none'] as const) expect(samplePolicy('p', { snapshot }).snapshot).toBe(snapshot);
    for (const size of ['10%ORIGIN', '20%FREE', '512M', '2G', '1.5t']) expect(samplePolicy('p', { lvmSnapshotSize: size }).lvmSnapshotSize).toBe(size);
  });

  it('refuses an unknown method, a bad LVM size, and a required snapshot without a method, naming the field', () => {
    const base = { ...samplePolicy() } as Record<string, unknown>;
    expect(Policy.safeParse({ ...base, snapshot: 'vss' }).error?.issues[0]?.path).toEqual(['snapshot']);
    expect(Policy.safeParse({ ...base, lvmSnapshotSize: '10 gigs' }).error?.issues[0]?.path).toEqual(['lvmSnapshotSize']);
    const required = Policy.safeParse({ ...base, snapshot: 'none', snapshotRequired: true });
    expect(required.error?.issues[0]).toMatchObject({ path: ['snapshotRequired'], message: expect.stringContaining('needs a snapshot method') });
  });

  it('gives a granted job the Snapshot and DeleteSnapshot commands only when its policy asks for a snapshot', () => {
    expect(snapshotCommands(undefined, 3, ['/srv'])).toEqual({});
    expect(snapshotCommands(samplePolicy(), 3, ['/srv'])).toEqual({});
    expect(snapshotCommands(samplePolicy('p', { snapshot: 'lvm', snapshotRequired: true, lvmSnapshotSize: '2G' }), 3, ['/srv', '/home'])).toEqual({
      snapshot: { kind: 'snapshot', task: { jobId: 3, selections: ['/srv', '/home'], choice: 'lvm', required: true, lvmSnapshotSize: '2G' } },
      deleteSnapshot: { kind: 'delete-snapshot', task: { jobId: 3, images: [] } },
    });
  });
});
