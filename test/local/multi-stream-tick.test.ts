import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import type { Clock } from '#core/ports/clock.ts';
import { asKind, type BackupJob } from '#core/model/job.ts';
import { samplePolicy } from '../contracts/fixtures.ts';
import { runPolicyBackup } from '#local/multi-stream-job.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { cancelJobAndStreams } from '#core/jobs/data-streams.ts';
import { withFaults } from '#test/support/faults.ts';
import { tickAndWait } from './tick-and-wait.ts';

const everyDay = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

/** The standalone scheduler with a multiple-data-streams policy: the due job is a parent, its streams are named after it. */
describe('the standalone scheduler and multiple data streams', () => {
  let work: string;
  let rt: LocalRuntime;
  // Real time that a test can jump forward: two streams of one client claim backup ids a second apart, so time must pass.
  const clock = new (class implements Clock {
    offset = 0;
    now = (): Date => new Date(Date.now() + this.offset);
    advance(ms: number): void {
      this.offset += ms;
    }
  })();
  beforeEach(async () => {
    work = mkdtempSync(join(tmpdir(), 'cairn-streams-tick-'));
    rt = await openLocalRuntime({ home: join(work, 'home'), clock });
    for (const dir of ['a', 'b']) {
      mkdirSync(join(work, dir));
      writeFileSync(join(work, dir, 'f.txt'), `in ${dir}`);
    }
  });
  afterEach(() => {
    rt.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('starts one parent per due instant, with one stream per selection named after it, and is not due again until the frequency runs out', async () => {
    // Prepare
    await rt.config.putPolicy(
      samplePolicy('two', {
        selections: [join(work, 'a'), join(work, 'b')],
        multipleDataStreams: true,
        storageUnit: 'local-disk',
        clients: [{ name: 'h1', priority: 1 }],
        schedules: [{ name: 'full', type: 'full', frequency: 3600, windows: [{ days: [...everyDay], start: '00:00', duration: 86400 }], retention: { days: 1 } }],
      }),
    );
    // Act
    const runs = await tickAndWait(rt);
    // Assess
    expect(runs.map((r) => r.statusCode)).toEqual([0]);
    const jobs = (await rt.jobs.list()).map((j) => asKind(j, 'backup')!) as BackupJob[];
    const parent = jobs.find((j) => j.jobId === runs[0]!.jobId)!;
    expect(parent).toMatchObject({ state: 'DONE', statusCode: 0, executionName: expect.stringMatching(/^two\.h1\.full\.\d+$/) });
    const streams = jobs.filter((j) => j.parentJobId === parent.jobId).sort((x, y) => x.jobId - y.jobId);
    expect(streams.map((s) => [s.executionName, s.selections, s.dueAt, s.statusCode])).toEqual([
      [`${parent.executionName}.s1`, [join(work, 'a')], parent.dueAt, 0],
      [`${parent.executionName}.s2`, [join(work, 'b')], parent.dueAt, 0],
    ]);
    expect((await rt.catalog.listImages({ client: 'h1' })).length).toBe(2);
    // The streams' images satisfy the schedule: nothing is due before the frequency runs out.
    expect(await tickAndWait(rt)).toEqual([]);
    clock.advance(3601_000);
    expect((await tickAndWait(rt)).map((r) => r.statusCode)).toEqual([0]);
    expect((await rt.jobs.list()).filter((j) => j.type === 'backup' && j.childJobIds !== undefined)).toHaveLength(2);
  });
});

describe('cancelling a multiple-data-streams parent', () => {
  it('cancels its running stream and starts no further one', async () => {
    // Prepare: three streams, one at a time, each slowed so that the cancel comes while the first runs
    const work = mkdtempSync(join(tmpdir(), 'cairn-streams-cancel-'));
    const rt = await openLocalRuntime({ home: join(work, 'home') });
    try {
      const dirs = ['a', 'b', 'c'].map((d) => join(work, d));
      for (const dir of dirs) {
        mkdirSync(dir);
        writeFileSync(join(dir, 'f.txt'), dir);
      }
      await rt.config.putPolicy(samplePolicy('three', { selections: dirs, multipleDataStreams: true, maxJobsPerPolicy: 1, storageUnit: 'local-disk', clients: [{ name: 'h1', priority: 1 }] }));
      const slowed = { ...rt, openStorageUnit: async (unit: Parameters<typeof openStorageUnit>[0]) => withFaults(await openStorageUnit(unit)).delay('put', 1500).port };
      let parentId = 0;
      let cancelled: Promise<unknown> | undefined;
      // Act
      const run = await runPolicyBackup(slowed, { client: 'h1', policy: 'three' }, {
        onQueued: (job) => (parentId = job.jobId),
        onStreamQueued: () => (cancelled ??= new Promise((resolve) => setTimeout(resolve, 300)).then(() => cancelJobAndStreams(rt, parentId, rt.clock.now()))),
      });
      // Assess
      expect(await cancelled).toMatchObject({ statusCode: 150, streamsCancelled: [parentId + 1] });
      expect(run.statusCode).toBe(150);
      const jobs = await rt.jobs.list();
      expect(jobs.map((j) => [j.jobId, j.statusCode]).sort()).toEqual([[parentId, 150], [parentId + 1, 150]]);
      expect(await rt.catalog.listImages()).toEqual([]);
    } finally {
      rt.close();
      rmSync(work, { recursive: true, force: true });
    }
  });
});
