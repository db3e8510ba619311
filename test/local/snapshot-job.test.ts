import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { localAgentStateDir, localSnapshotAgent } from '#local/local-snapshots.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { SnapshotRegistry } from '#agent/snapshot/snapshot-registry.ts';
import type { SnapshotAgent } from '#agent/snapshot/job-snapshots.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import type { FrozenImage } from '#core/model/snapshot.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { asKind } from '#core/model/job.ts';
import { btrfsLoopSkipReason, makeBtrfsLoop, type BtrfsLoop } from '#test/support/btrfs-loop.ts';
import { withFaults } from '#test/support/faults.ts';
import { samplePolicy } from '../contracts/fixtures.ts';
import { runCairn, spawnCairn } from '../cli/cli-process.ts';

const skipReason = btrfsLoopSkipReason();
const WORK = `/tmp/i11-snap-lifecycle/snapshot-job-${process.pid}`;

/** Every entry under `root` (files by sha256, directories and links by kind), relative to it. */
function treeOf(root: string, rel = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(join(root, rel)).sort()) {
    const path = rel ? `${rel}/${name}` : name;
    const stats = lstatSync(join(root, path));
    if (stats.isDirectory()) Object.assign(out, { [path]: 'directory' }, treeOf(root, path));
    else if (stats.isSymbolicLink()) out[path] = `-> ${readlinkSync(join(root, path))}`;
    else out[path] = createHash('sha256').update(readFileSync(join(root, path))).digest('hex');
  }
  return out;
}

/** The Cairn snapshots on the btrfs file system (`btrfs subvolume list`). */
function cairnSubvolumes(mountPoint: string): string[] {
  const listed = spawnSync('btrfs', ['subvolume', 'list', mountPoint], { encoding: 'utf8' });
  return listed.stdout.split('\n').filter((line) => line.includes('cairn-job-'));
}

const FILES = 24;
const FILE_BYTES = 256 * 1024;

/**
 * A writer in its own process that rewrites every file without pause: each
 * state of a file says which generation and file it is (a header, then the
 * same line to its size), written in place (truncate, then write), so a live
 * read may also see a file half rewritten.
 */
function startWriter(directory: string): ChildProcess {
  const script = `
    const { writeFileSync } = require('node:fs');
    const [dir, files, bytes] = process.argv.slice(1);
    for (let generation = 1; ; generation++) {
      for (let f = 0; f < Number(files); f++) {
        const line = 'file ' + f + ' generation ' + generation + '\\n';
        writeFileSync(dir + '/f' + f + '.txt', line.repeat(Math.ceil(Number(bytes) / line.length)).slice(0, Number(bytes) - (generation % 7) * 13));
      }
    }`;
  return spawn(process.execPath, ['-e', script, directory, String(FILES), String(FILE_BYTES)], { stdio: 'ignore' });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** The in-process agent's snapshot work, with what each btrfs image held read just before the DeleteSnapshot step removes it. */
function observedAgent(home: string, frozen: Map<string, Record<string, string>>): SnapshotAgent {
  const agent = localSnapshotAgent(home);
  return {
    ...agent,
    openProviders: (options) => {
      const providers = agent.openProviders(options);
      const btrfs = providers.btrfs;
      return {
        ...providers,
        btrfs: {
          method: btrfs.method,
          probe: (path) => btrfs.probe(path),
          create: (request) => btrfs.create(request),
          exists: (image) => btrfs.exists(image),
          delete: async (image: FrozenImage) => {
            if (await btrfs.exists(image)) frozen.set(image.name, treeOf(image.readRoot));
            return btrfs.delete(image);
          },
        },
      };
    },
  };
}

describe.skipIf(Boolean(skipReason))(`a backup job that reads a btrfs snapshot${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let loop: BtrfsLoop;
  let homes = 0;
  beforeAll(async () => {
    mkdirSync(WORK, { recursive: true });
    loop = await makeBtrfsLoop(join(WORK, 'btrfs'));
  });
  afterAll(async () => {
    await loop?.destroy();
    rmSync(WORK, { recursive: true, force: true });
  });

  /** A fresh standalone runtime (on ext4, off the btrfs volume) with a policy that freezes `selections`. */
  async function runtimeWith(policy: Parameters<typeof samplePolicy>[1]): Promise<LocalRuntime> {
    const runtime = await openLocalRuntime({ home: join(WORK, `home-${++homes}`) });
    const unit = (await runtime.config.getStorageUnit('local-disk'))!;
    // Small fragments: a stream writes several, so a kill lands between them.
    await runtime.config.putStorageUnit(StorageUnit.parse({ ...unit, fragmentSizeBytes: 1024 * 1024 }));
    await runtime.config.putPolicy(samplePolicy('snap', { storageUnit: 'local-disk', clients: [{ name: 'host1', priority: 1 }], ...policy }));
    return runtime;
  }

  function volume(name: string): string {
    const root = loop.subvolume(name);
    for (let f = 0; f < FILES; f++) writeFileSync(join(root, `f${f}.txt`), `file ${f} generation 0\n`.repeat(FILE_BYTES / 24));
    mkdirSync(join(root, 'sub'));
    writeFileSync(join(root, 'sub', 'still.txt'), 'never rewritten\n');
    return root;
  }

  it('restores the file system as it was at the snapshot instant while a writer rewrites it without pause, and deletes the snapshot', async () => {
    // Prepare
    const data = volume('writer');
    const runtime = await runtimeWith({ selections: [data], snapshot: 'btrfs', snapshotRequired: true });
    const frozen = new Map<string, Record<string, string>>();
    const writer = startWriter(data);
    try {
      // Act
      const run = await runBackupJob({ ...runtime, snapshots: observedAgent(runtime.home, frozen) }, { client: 'host1', policy: 'snap' });
      await stop(writer);
      const live = treeOf(data);

      // Assess
      expect(run.error).toBeUndefined();
      expect(run.statusCode).toBe(0);
      expect(frozen.size).toBe(1);
      const [[name, atSnapshot]] = [...frozen.entries()] as [[string, Record<string, string>]];
      // The writer changed the files while the job ran: a live read would not have given the snapshot's content.
      expect(Object.keys(atSnapshot).filter((p) => atSnapshot[p] !== live[p]).length).toBeGreaterThan(0);
      const image = await runtime.catalog.getImage(run.backupId!);
      const target = join(WORK, `restore-${homes}`);
      const restored = await restoreImage({ store: await openStorageUnit((await runtime.config.getStorageUnit('local-disk'))!), image: image!, targetDir: target });
      expect(restored.refused).toEqual([]);
      // The image records the original paths (the restore lands under the selection's own name) and the frozen content.
      expect(treeOf(join(target, data))).toEqual(atSnapshot);
      // The snapshot is gone, from the file system and from the agent's registry; the job's details say what happened.
      expect(cairnSubvolumes(loop.mountPoint)).toEqual([]);
      expect(await new SnapshotRegistry(localAgentStateDir(runtime.home)).list()).toEqual([]);
      const details = asKind(await runtime.jobs.get(run.jobId!), 'backup')!.details!.map((d) => d.message);
      expect(details).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^attempt 1: snapshot ${name} \\(btrfs\\) of ${data} taken; read at `)), `attempt 1: snapshot ${name} deleted`]));
    } finally {
      await stop(writer);
      runtime.close();
    }
  });

  it('deletes the snapshot after a job that failed mid-stream, and before its retry takes a new one', async () => {
    const data = volume('failing');
    const runtime = await runtimeWith({ selections: [data], snapshot: 'auto' });
    await runtime.config.putSetting('jobRetryDelaySeconds', 0);
    await runtime.config.putSetting('backupTries', { tries: 2, withinHours: 12 });
    const openStore = async (unit: StorageUnit): Promise<ObjectStore> => withFaults(await openStorageUnit(unit)).failFrom('put', 1, new Error('disk full'), (key: string) => /fragment-\d+\.tar$/.test(key)).port;
    try {
      const run = await runBackupJob({ ...runtime, openStorageUnit: openStore }, { client: 'host1', policy: 'snap' });

      expect(run.statusCode).toBe(84);
      const job = asKind(await runtime.jobs.get(run.jobId!), 'backup')!;
      expect(job.attempts).toHaveLength(1);
      // auto chose btrfs for a path on a btrfs subvolume; each attempt took its image and deleted it.
      const steps = job.details!.map((d) => d.message.replace(/^attempt \d+: /, '')).filter((d) => d.startsWith('snapshot '));
      expect(steps.map((d) => (d.includes(' taken') ? 'taken' : d.endsWith(' deleted') ? 'deleted' : d))).toEqual(['taken', 'deleted', 'taken', 'deleted']);
      expect(steps[0]).toContain(`(btrfs) of ${data} taken`);
      expect(cairnSubvolumes(loop.mountPoint)).toEqual([]);
      expect(await new SnapshotRegistry(localAgentStateDir(runtime.home)).list()).toEqual([]);
    } finally {
      runtime.close();
    }
  });

  it('deletes the snapshot of a job cancelled mid-stream', async () => {
    const data = volume('cancelled');
    const runtime = await runtimeWith({ selections: [data], snapshot: 'btrfs', snapshotRequired: true });
    const release = new AbortController();
    let faults: ReturnType<typeof withFaults<ObjectStore>> | undefined;
    const openStore = async (unit: StorageUnit): Promise<ObjectStore> => {
      faults = withFaults(await openStorageUnit(unit)).hang('put', { when: (key) => /fragment-\d+\.tar$/.test(key), signal: release.signal });
      return faults.port;
    };
    let jobId = 0;
    try {
      const running = runBackupJob({ ...runtime, openStorageUnit: openStore, abortGraceMs: 200 }, { client: 'host1', policy: 'snap' }, { onQueued: (job) => (jobId = job.jobId) });
      // The stream is blocked on its first fragment write, reading inside the snapshot.
      while ((faults?.calls('put') ?? 0) < 2) await new Promise((r) => setTimeout(r, 10));
      expect(cairnSubvolumes(loop.mountPoint)).toHaveLength(1);
      const { cancelJob } = await import('#core/jobs/job-service.ts');
      expect(await cancelJob(runtime, jobId, new Date())).toMatchObject({ statusCode: 150 });
      const run = await running;

      expect(run.statusCode).toBe(150);
      expect(cairnSubvolumes(loop.mountPoint)).toEqual([]);
      expect(await new SnapshotRegistry(localAgentStateDir(runtime.home)).list()).toEqual([]);
    } finally {
      release.abort();
      runtime.close();
    }
  });

  it('removes the snapshot of an agent killed mid-stream at the runtime\'s next start', async () => {
    // Prepare: enough data that the stream writes several fragments.
    const data = volume('killed');
    for (let f = 0; f < 24; f++) writeFileSync(join(data, `big${f}.bin`), createHash('sha512').update(String(f)).digest().toString('hex').repeat(2048));
    const runtime = await runtimeWith({ selections: [data], snapshot: 'btrfs', snapshotRequired: true });
    const home = runtime.home;
    const storage = join(home, 'storage', 'local-disk');
    runtime.close();
    const registry = new SnapshotRegistry(localAgentStateDir(home));

    // Act: kill the process once its snapshot is recorded made and its stream has written a fragment.
    const { child, exited } = spawnCairn(home, ['backup', '--client', 'host1', '--policy', 'snap', '--json']);
    const fragmentWritten = (): boolean => existsSync(join(storage, 'images')) && spawnSync('find', [join(storage, 'images'), '-name', 'fragment-*'], { encoding: 'utf8' }).stdout.trim() !== '';
    for (let i = 0; i < 6000 && child.exitCode === null; i++) {
      const recorded = (await registry.list()).some((r) => r.image !== undefined);
      if (recorded && fragmentWritten()) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    child.kill('SIGKILL');
    expect((await exited).signal, 'the backup ended before it could be killed mid-stream').toBe('SIGKILL');
    const left = await registry.list();
    expect(left).toHaveLength(1);
    expect(cairnSubvolumes(loop.mountPoint)).toHaveLength(1);

    // The next start: any command runs the janitor, which ends the dead process's job and then removes its snapshot.
    const restart = await runCairn(home, ['jobs', '--json']);
    expect(restart.code, restart.stderr).toBe(0);
    expect(JSON.parse(restart.stdout)).toEqual([expect.objectContaining({ jobId: left[0]!.jobId, state: 'DONE' })]);
    expect(cairnSubvolumes(loop.mountPoint)).toEqual([]);
    expect(await registry.list()).toEqual([]);
  });
});

describe('a backup job whose policy asks for a snapshot of a file system no method can freeze', () => {
  const fsType = spawnSync('findmnt', ['-n', '-o', 'FSTYPE', '-T', '/tmp'], { encoding: 'utf8' }).stdout.trim();
  const live = fsType === '' || ['btrfs', 'zfs'].includes(fsType) ? `/tmp is ${fsType || 'of an unknown type'} here` : undefined;
  let work: string;
  beforeAll(() => {
    work = join(`/tmp/i11-snap-lifecycle/no-snapshot-${process.pid}`);
    mkdirSync(join(work, 'data'), { recursive: true });
    writeFileSync(join(work, 'data', 'a.txt'), 'hello\n');
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it.skipIf(Boolean(live))(`ends with 156 and the reason when the snapshot is required${live ? ` (skipped: ${live})` : ''}`, async () => {
    const runtime = await openLocalRuntime({ home: join(work, 'home-required') });
    try {
      await runtime.config.putPolicy(samplePolicy('snap', { storageUnit: 'local-disk', clients: [{ name: 'host1', priority: 1 }], selections: [join(work, 'data')], snapshot: 'btrfs', snapshotRequired: true }));
      const run = await runBackupJob(runtime, { client: 'host1', policy: 'snap' });
      expect(run.statusCode).toBe(156);
      expect(run.error).toContain(`a snapshot is required and cannot be taken: ${join(work, 'data')}: `);
      expect(run.error).toContain('not btrfs');
      expect(await runtime.catalog.listImages()).toEqual([]);
    } finally {
      runtime.close();
    }
  });

  it.skipIf(Boolean(live))(`reads live and says so in the job's details when it is not required${live ? ` (skipped: ${live})` : ''}`, async () => {
    const runtime = await openLocalRuntime({ home: join(work, 'home-optional') });
    try {
      await runtime.config.putPolicy(samplePolicy('snap', { storageUnit: 'local-disk', clients: [{ name: 'host1', priority: 1 }], selections: [join(work, 'data')], snapshot: 'auto' }));
      const run = await runBackupJob(runtime, { client: 'host1', policy: 'snap' });
      expect(run.statusCode).toBe(0);
      const details = asKind(await runtime.jobs.get(run.jobId!), 'backup')!.details!.map((d) => d.message);
      expect(details).toEqual([expect.stringMatching(new RegExp(`^attempt 1: snapshot not taken of ${join(work, 'data')}, read live instead: no snapshot method can freeze `))]);
    } finally {
      runtime.close();
    }
  });
});
