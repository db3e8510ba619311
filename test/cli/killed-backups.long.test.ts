import { keyOf } from '../edge-agent/forge.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { imageKeys } from '#core/ids.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { checkImageObjects } from '#agent/catalog/image-objects-check.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { compareTrees } from '#cli/demo/compare-trees.ts';
import { patterned } from '../edge-agent/helpers.ts';
import { runCairn, spawnCairn } from './cli-process.ts';
import { asKind, imageWrittenBy } from '#core/model/job.ts';

const KILLS = 10;

/** Every file under `root`, partial ones included, relative to it. */
function filesUnder(root: string, rel = ''): string[] {
  let names: string[];
  try {
    names = readdirSync(join(root, rel)).sort();
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const path = rel ? `${rel}/${name}` : name;
    return statSync(join(root, path)).isDirectory() ? filesUnder(root, path) : [path];
  });
}

/** Deterministic moments, so a failure can be replayed from the seed in its message. */
function moments(seed: number, count: number, maxMs: number): number[] {
  let x = seed;
  return Array.from({ length: count }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return Math.round((x / 2 ** 31) * maxMs);
  });
}

/** What the state looked like when the process died, for the failure message and the log. */
async function phaseOf(runtime: LocalRuntime): Promise<string> {
  const [listed] = await runtime.jobs.list({ limit: 1 });
  const job = asKind(listed, 'backup');
  if (!job || job.state === 'DONE') return job ? `job ${job.jobId} DONE ${job.statusCode}` : 'no job yet';
  const image = job.backupId ? await runtime.catalog.getImage(job.backupId) : undefined;
  if (image) return `job ${job.jobId} ${job.state}, image catalogued`;
  if (!job.backupId) return `job ${job.jobId} ${job.state}`;
  const staged = filesUnder(storageOf(runtime.home), imageKeys(job.backupId).prefix);
  const partial = staged.filter((f) => f.includes('.cairn-partial-')).length;
  return `job ${job.jobId} ${job.state} writing ${job.backupId}: ${staged.length - partial} objects, ${partial} partial${staged.some((f) => f.endsWith('manifest.json')) ? ', manifest written' : ''}`;
}

function storageOf(home: string): string {
  return join(home, 'storage', 'local-disk');
}

/**
 * `cairn backup` killed with SIGKILL at random moments, then the runtime
 * started again: storage must hold no byte that a catalogued image does not
 * own, and every job must agree with the catalog.
 */
describe('backups killed at random moments', () => {
  let work: string;
  let home: string;
  let source: string;
  let storage: string;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cairn-kill-'));
    home = join(work, 'home');
    source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 2_000_000 });
    mkdirSync(join(source, 'big'));
    for (let i = 0; i < 32; i++) writeFileSync(join(source, 'big', `f${i}.bin`), patterned(1_000_000, i));
    const runtime = await openLocalRuntime({ home });
    const unit = (await runtime.config.getStorageUnit('local-disk'))!;
    storage = unit.kind === 'disk' ? unit.path : '';
    // Small fragments: a kill finds several complete fragments and one partial file.
    await runtime.config.putStorageUnit(StorageUnit.parse({ ...unit, fragmentSizeBytes: 1024 * 1024 }));
    runtime.close();
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it(`leaves storage, jobs and catalog consistent after ${KILLS} kills`, async () => {
    // How long a job takes from queued to done, so the kills spread over all of it.
    const calibration = await runCairn(home, ['backup', '--client', 'victim', '--path', source, '--json']);
    expect(calibration.code, calibration.stderr).toBe(0);
    const { job } = JSON.parse(calibration.stdout) as { job: { queuedAt: string; endedAt: string } };
    const jobMs = Date.parse(job.endedAt) - Date.parse(job.queuedAt);
    const seed = Number(process.env.CAIRN_KILL_SEED ?? Date.now() % 100_000);
    const phases: string[] = [];

    for (const [i, delay] of moments(seed, KILLS, jobMs * 1.5).entries()) {
      const jobsBefore = await jobCount();
      const { child, exited } = spawnCairn(home, ['backup', '--client', 'victim', '--path', source, '--json']);
      // The clock starts when the job exists: the kills land inside the job, not in process start-up.
      while ((await jobCount()) === jobsBefore && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 5));
      await new Promise((resolve) => setTimeout(resolve, delay));
      child.kill('SIGKILL');
      await exited;
      const runtime = await openLocalRuntime({ home });
      phases.push(`kill ${i + 1} at ${delay} ms: ${await phaseOf(runtime)}`);
      runtime.close();

      // The runtime's next start: any command runs the janitor first.
      const restart = await runCairn(home, ['jobs', '--json']);
      expect(restart.code, restart.stderr).toBe(0);
      await expectConsistent(`seed ${seed}, ${phases.at(-1)}`);
    }
    console.log(`killed ${KILLS} backups (seed ${seed}, a whole job ${jobMs} ms):\n  ${phases.join('\n  ')}`);

    // What survived restores byte for byte.
    const runtime = await openLocalRuntime({ home });
    const images = await runtime.catalog.listImages({ client: 'victim' });
    runtime.close();
    for (const image of images) {
      const target = join(work, 'restore', image.backupId);
      const restored = await runCairn(home, ['restore', '--backup-id', image.backupId, '--to', target, '--json']);
      expect(restored.code, restored.stderr).toBe(0);
      expect((await compareTrees(source, join(target, source))).differences).toEqual([]);
    }
  }, 300_000);

  async function jobCount(): Promise<number> {
    const runtime = await openLocalRuntime({ home });
    try {
      return (await runtime.jobs.list({ limit: 1 }))[0]?.jobId ?? 0;
    } finally {
      runtime.close();
    }
  }

  async function expectConsistent(context: string): Promise<void> {
    const runtime = await openLocalRuntime({ home });
    try {
      const jobs = await runtime.jobs.list({ limit: 1000 });
      const images = await runtime.catalog.listImages();
      expect(await runtime.catalog.listClaims(), context).toEqual([]);
      expect(await runtime.media.listReservations(), context).toEqual([]);
      for (const job of jobs) {
        expect(job.state, `${context}: job ${job.jobId}`).toBe('DONE');
        const image = images.find((i) => i.jobId === job.jobId);
        if (job.statusCode! <= 1) expect(image?.backupId, `${context}: job ${job.jobId} succeeded, so its image is catalogued`).toBe(imageWrittenBy(job));
        else expect(image, `${context}: job ${job.jobId} failed (${job.statusCode}), so it has no image`).toBeUndefined();
      }
      // Every byte in storage belongs to a catalogued image, and every catalogued image is whole.
      const owned = new Set(images.flatMap((i) => [...i.copies[0]!.fragments.map((f) => keyOf(f)), i.copies[0]!.indexKey, i.copies[0]!.manifestKey]));
      const stray = filesUnder(storage).filter((f) => !owned.has(f));
      expect(stray, `${context}: files no catalogued image owns`).toEqual([]);
      const store = new FsObjectStore(storage);
      for (const image of images) {
        expect(image.copies[0]!.manifestKey.startsWith(imageKeys(image.backupId).prefix)).toBe(true);
        expect(await checkImageObjects(store, image), `${context}: image ${image.backupId}`).toEqual([]);
      }
    } finally {
      runtime.close();
    }
  }
});
