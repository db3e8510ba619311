import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { runCairn, type CliResult } from './cli-process.ts';

const VERDICT = /^bottleneck {16}(reader-bound \(client disk or snapshot\)|writer-bound \(storage\)|CPU-bound \(hashing\/compression\)|balanced \(neither side held the other up\)|too short to tell): .+$/m;
const TIME = String.raw`\d[\d,.]* (?:s|ms)`;
const FIGURES = new RegExp(
  String.raw`^  figures {17}over ${TIME}: reader busy \d+%, writer busy \d+%, hashing \d+%, main thread busy \d+%; ` +
    String.raw`writer waited for a full buffer [\d,]+ times \(${TIME}, \d+%\), reader waited for an empty buffer [\d,]+ times \(${TIME}, \d+%\)$`,
  'm',
);

/** `cairn jobs show`: the bottleneck verdict of a backup and the figures behind it, from a real backup. */
describe('the bottleneck verdict in cairn jobs show', () => {
  let work: string;
  let home: string;
  const cairn = (...args: string[]): Promise<CliResult> => runCairn(home, args);
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'cairn-verdict-'));
    home = join(work, 'home');
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('shows the verdict of a backup with the numbers behind it, for people and as JSON', async () => {
    // Prepare: a real backup. Which verdict depends on the machine; that there is one, with its figures, does not.
    const source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 2_000_000 });
    const backup = await cairn('backup', '--client', 'verdict-host', '--path', source, '--json');
    expect(backup.code, backup.stderr).toBe(0);
    const { jobId } = JSON.parse(backup.stdout) as { jobId: number };

    // Act
    const show = await cairn('jobs', 'show', String(jobId));
    const json = await cairn('jobs', 'show', String(jobId), '--json');

    // Assess
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(VERDICT);
    expect(show.stdout).toMatch(FIGURES);
    const shown = JSON.parse(json.stdout) as { progress: { times?: Record<string, number> }; bottleneck: { verdict: string; label: string; because: string; figures: string; shares: Record<string, number> } };
    expect(Object.keys(shown.progress.times ?? {}).sort()).toEqual(['elapsedMs', 'hashMs', 'mainThreadMs', 'readMs', 'readerWaitMs', 'writeMs', 'writerWaitMs']);
    expect(shown.progress.times!.elapsedMs).toBeGreaterThan(0);
    expect(shown.bottleneck.verdict).toMatch(/^(reader-bound|writer-bound|cpu-bound|balanced|too-short)$/);
    expect(`bottleneck                ${shown.bottleneck.label}: ${shown.bottleneck.because}`).toMatch(VERDICT);
    expect(Object.keys(shown.bottleneck.shares).sort()).toEqual(['hash', 'mainThread', 'read', 'readerWait', 'write', 'writerWait']);
    // The standalone runtime says it has no cloud cost, rather than showing a price of zero (docs/cost.md).
    expect(show.stdout).toMatch(/^cloud cost {16}none: the standalone runtime runs no Step Functions, Lambda or DynamoDB/m);
    expect((JSON.parse(json.stdout) as { cost: { runtime: string } }).cost.runtime).toBe('standalone');

    // The job list stays as it was.
    expect((await cairn('jobs')).stdout).not.toMatch(/bottleneck|bound/);
  });

  it('says a job recorded before the timings is not measured, and still shows its wait counts', async () => {
    const { openLocalRuntime } = await import('#local/runtime.ts');
    const { sampleJob } = await import('../contracts/fixtures.ts');
    const rt = await openLocalRuntime({ home });
    const id = await rt.jobs.nextJobId();
    const progress = { files: 3, bytes: 50_000_000, throughputBps: 1_000_000, writerWaits: 1912, readerWaits: 4 };
    await rt.jobs.create(sampleJob(id, { state: 'DONE', statusCode: 0, storageUnit: 'local-disk', owner: `local:${hostname()}:${process.pid}`, progress, endedAt: '2026-11-01T03:10:00.000Z' }));
    rt.close();

    const show = await cairn('jobs', 'show', String(id));

    expect(show.stdout).toMatch(/^bottleneck {16}not measured: the agent that ran this job recorded no timings$/m);
    expect(show.stdout).toMatch(/^ {2}figures {17}writer waited for a full buffer 1,912 times, reader waited for an empty buffer 4 times$/m);
  });
});
