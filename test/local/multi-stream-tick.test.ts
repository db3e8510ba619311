import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import type { Clock } from '#core/ports/clock.ts';
import { asKind, type BackupJob } from '#core/model/job.ts';
import { samplePolicy } from '../contracts/fixtures.ts';
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
