/**
 * Snapshot benchmark: how long the btrfs provider takes to create and to
 * delete a frozen image, the time a job's Snapshot and DeleteSnapshot steps
 * spend on the client.
 *
 *   npm run bench:snapshot [-- --files N] [--runs N] [--dir DIR] [--json]
 *
 * Makes a btrfs file system on a loop device (a sparse 512 MiB file under
 * --dir, default the temp directory), a subvolume holding a tree of --files
 * files (default 5,000: 50 directories of 100 files of 1-16 KiB), synced.
 * Then one warm-up round (its create also makes the `.cairn-snapshots`
 * subvolume: reported as `first`) and --runs rounds (default 7) of: rewrite
 * 1% of the files (a live volume), `BtrfsSnapshotProvider.create`,
 * `delete`, each timed from the call to its resolution (the tool's run
 * included: what a job waits). Reports median, min and max of each. Needs
 * root, loop devices and btrfs-progs; prints `skipped: reason` and exits 0
 * without them. Everything it made is removed at the end, also on failure.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BtrfsSnapshotProvider } from '#agent/snapshot/btrfs-provider.ts';
import { cairnSnapshotName } from '#core/model/snapshot.ts';
import { btrfsLoopSkipReason, makeBtrfsLoop } from '#test/support/btrfs-loop.ts';
import { spawnSync } from 'node:child_process';

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} takes a whole number above 0`);
  return value;
}

interface Spread {
  medianMs: number;
  minMs: number;
  maxMs: number;
}

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  const round = (n: number): number => Math.round(n * 100) / 100;
  return { medianMs: round(median), minMs: round(sorted[0]!), maxMs: round(sorted.at(-1)!) };
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const result = await work();
  return [result, performance.now() - start];
}

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const files = flag('files', 5000);
  const runs = flag('runs', 7);
  const dirAt = process.argv.indexOf('--dir');
  const base = dirAt >= 0 ? process.argv[dirAt + 1]! : tmpdir();
  const skip = btrfsLoopSkipReason();
  if (skip) {
    process.stdout.write(json ? `${JSON.stringify({ skipped: skip })}\n` : `skipped: ${skip}\n`);
    return;
  }
  const loop = await makeBtrfsLoop(join(base, `cairn-bench-snapshot-${process.pid}`), 512 * 1024 * 1024);
  try {
    const root = loop.subvolume('data');
    let bytes = 0;
    const paths: string[] = [];
    for (let i = 0; i < files; i++) {
      const directory = join(root, `d${String(Math.floor(i / 100)).padStart(3, '0')}`);
      if (i % 100 === 0) await mkdir(directory, { recursive: true });
      const size = 1024 + ((i * 7919) % (15 * 1024));
      const path = join(directory, `f${i}.dat`);
      await writeFile(path, Buffer.alloc(size, i % 251));
      paths.push(path);
      bytes += size;
    }
    spawnSync('sync', ['-f', root]);
    const provider = new BtrfsSnapshotProvider();
    const creates: number[] = [];
    const deletes: number[] = [];
    let first: { createMs: number; deleteMs: number } | undefined;
    for (let round = 0; round <= runs; round++) {
      for (let i = round; i < paths.length; i += 100) await writeFile(paths[i]!, `round ${round}\n`);
      const jobId = 1000 + round;
      const [image, createMs] = await timed(() => provider.create({ sourceRoot: root, name: cairnSnapshotName(jobId, root), jobId, createdAt: new Date().toISOString() }));
      const [, deleteMs] = await timed(() => provider.delete(image));
      if (round === 0) first = { createMs: Math.round(createMs * 100) / 100, deleteMs: Math.round(deleteMs * 100) / 100 };
      else {
        creates.push(createMs);
        deletes.push(deleteMs);
      }
    }
    const report = { method: 'btrfs', files, bytes, runs, first, create: spread(creates), delete: spread(deletes) };
    if (json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else {
      process.stdout.write(`btrfs snapshot of a subvolume with ${files} files (${(bytes / 1e6).toFixed(1)} MB), loop device, ${runs} runs\n`);
      process.stdout.write(`  first create (makes .cairn-snapshots too): ${first!.createMs} ms, its delete ${first!.deleteMs} ms\n`);
      for (const [name, s] of [['create', report.create], ['delete', report.delete]] as const) process.stdout.write(`  ${name}: median ${s.medianMs} ms (min ${s.minMs}, max ${s.maxMs})\n`);
    }
  } finally {
    await loop.destroy();
  }
}

await main();
