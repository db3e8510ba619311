import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { runPolicyBackup } from '#local/multi-stream-job.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { compareTrees } from '#cli/demo/compare-trees.ts';
import { asKind, type BackupJob } from '#core/model/job.ts';
import { withFaults } from '#test/support/faults.ts';
import { loopMounts, loopSkipReason } from '#test/support/loop-ext4.ts';
import { runCairn } from '../cli/cli-process.ts';
import { samplePolicy } from '../contracts/fixtures.ts';

const WORK = '/tmp/i11-all-streams/streams';

/** The most streams that ran at one instant, from their recorded start and end. */
function mostAtOnce(jobs: readonly BackupJob[]): number {
  const events = jobs.flatMap((j) => [{ at: Date.parse(j.startedAt!), d: 1 }, { at: Date.parse(j.endedAt!), d: -1 }]).sort((a, b) => a.at - b.at || a.d - b.d);
  let now = 0;
  let most = 0;
  for (const e of events) most = Math.max(most, (now += e.d));
  return most;
}

/**
 * Multiple data streams for real: three ext4 file systems on loop devices,
 * one policy over them with multipleDataStreams, run by the standalone
 * runtime through the real backup-job workflow. The storage unit's writes
 * are slowed (a test fixture, as in engine-faults.test.ts) so that each stream
 * lasts a few seconds and streams allowed to run together do overlap.
 */
describe.skipIf(loopSkipReason())('a policy with multiple data streams over three loop-mounted file systems', () => {
  const mounts = loopMounts();
  const fileSystems = [1, 2, 3].map((n) => `${WORK}/fs${n}`);
  let runtime: LocalRuntime;
  const home = `${WORK}/home`;

  beforeAll(async () => {
    mounts.unmountAll();
    rmSync(WORK, { recursive: true, force: true });
    mkdirSync(WORK, { recursive: true });
    fileSystems.forEach((mountPoint, i) => {
      mounts.ext4(`${WORK}/fs${i + 1}.img`, mountPoint, 24);
      makeSampleTree(join(mountPoint, 'tree'), { largeBytes: 512 * 1024 });
      writeFileSync(join(mountPoint, `only-on-fs${i + 1}`), `file system ${i + 1}\n`);
    });
    runtime = await openLocalRuntime({ home });
  });
  afterAll(() => {
    runtime?.close();
    mounts.unmountAll();
    rmSync(WORK, { recursive: true, force: true });
  });

  const slowed = (ms: number) => ({ ...runtime, openStorageUnit: async (unit: Parameters<typeof openStorageUnit>[0]) => withFaults(await openStorageUnit(unit)).delay('put', ms).port });
  const childrenOf = async (parent: BackupJob) => Promise.all(parent.childJobIds!.map(async (id) => asKind(await runtime.jobs.get(id), 'backup')!));

  it('runs three child jobs in parallel under one parent that ends 0, and each image restores byte for byte', async () => {
    // Prepare
    await runtime.config.putPolicy(samplePolicy('streams', { selections: fileSystems, storageUnit: 'local-disk', clients: [{ name: 'host1', priority: 1 }], multipleDataStreams: true, maxJobsPerPolicy: 3 }));
    // Act
    const run = await runPolicyBackup(slowed(1500), { client: 'host1', policy: 'streams' });
    // Assess
    expect(run).toMatchObject({ statusCode: 0 });
    const parent = asKind(await runtime.jobs.get(run.jobId!), 'backup')!;
    expect(parent).toMatchObject({ state: 'DONE', statusCode: 0, policy: 'streams', level: 'full', selections: fileSystems });
    expect(parent.backupId).toBeUndefined();
    const children = await childrenOf(parent);
    expect(children.map((c) => c.selections)).toEqual(fileSystems.map((fs) => [fs]));
    for (const child of children) expect(child).toMatchObject({ state: 'DONE', statusCode: 0, parentJobId: parent.jobId, level: 'full' });
    expect(new Set(children.map((c) => c.backupId)).size).toBe(3);
    expect(mostAtOnce(children)).toBe(3);
    for (const child of children) {
      const image = (await runtime.catalog.getImage(child.backupId!))!;
      const target = join(WORK, `restore-${child.jobId}`);
      const restored = await restoreImage({ store: await openStorageUnit((await runtime.config.getStorageUnit('local-disk'))!), image, targetDir: target });
      expect(restored.refused).toEqual([]);
      const mountPoint = child.selections[0]!;
      expect((await compareTrees(mountPoint, join(target, mountPoint))).differences).toEqual([]);
      // Each image holds its own file system only.
      expect(readdirSync(join(target, WORK))).toEqual([basename(mountPoint)]);
    }

    // `cairn jobs --json` shows the parent with its streams, and the table puts them under it.
    const listed = await runCairn(home, ['jobs', '--json']);
    expect(listed.code).toBe(0);
    const records = JSON.parse(listed.stdout) as BackupJob[];
    expect(records.find((j) => j.jobId === parent.jobId)).toMatchObject({ statusCode: 0, childJobIds: children.map((c) => c.jobId) });
    expect(records.filter((j) => j.parentJobId === parent.jobId).map((j) => j.jobId).sort()).toEqual(children.map((c) => c.jobId).sort());
    const table = (await runCairn(home, ['jobs'])).stdout.split('\n');
    const parentRow = table.findIndex((line) => line.startsWith(`${parent.jobId} `));
    expect(table.slice(parentRow + 1, parentRow + 4).map((line) => line.trim().split(/\s+/).slice(0, 2).join(' '))).toEqual(children.map((c) => `└ ${c.jobId}`));
  });

  it('runs the streams one after the other when the client allows one job at a time', async () => {
    await runtime.config.putSetting('maxJobsPerClient', 1);
    const run = await runPolicyBackup(slowed(300), { client: 'host1', policy: 'streams' });
    expect(run.statusCode).toBe(0);
    const parent = asKind(await runtime.jobs.get(run.jobId!), 'backup')!;
    const children = await childrenOf(parent);
    expect(children.map((c) => c.statusCode)).toEqual([0, 0, 0]);
    expect(mostAtOnce(children)).toBe(1);
    expect(parent.details?.map((d) => d.message)).toContainEqual(expect.stringMatching(/3 streams .* at most 1 at once: maxJobsPerClient 1/));
  });
});
