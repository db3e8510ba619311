import { randomBytes } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, type Stats } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { CairnError } from '#core/errors.ts';
import type { Image } from '#core/model/image.ts';
import { imageRecord } from '#core/catalog/image-record.ts';
import { BackupTask, type BackupTaskInput, type BackupTaskResult } from '#core/model/task.ts';
import type { TaskReporter } from '#core/ports/task-reporter.ts';
import type { IncompleteWrite, ObjectBody, ObjectStore } from '#core/ports/object-store.ts';

/** A temp directory removed by the returned `cleanup`. */
export function tempDir(label: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `cairn-${label}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function backupTask(unitPath: string, selections: string[], overrides: Partial<BackupTaskInput> = {}): BackupTask {
  return BackupTask.parse({
    jobId: 7,
    backupId: 'host1_1700000000',
    client: 'host1',
    policy: 'daily',
    schedule: 'full',
    level: 'full',
    selections,
    storageUnit: { name: 'disk1', kind: 'disk', path: unitPath, fragmentSizeBytes: 1024 * 1024 },
    buffers: { count: 4, sizeBytes: 64 * 1024 },
    ...overrides,
  });
}

/** The catalog record the Catalog step would commit for a backup (restore's root of trust). */
export function catalogImage(task: BackupTask, result: BackupTaskResult): Image {
  return imageRecord({ ...task, storageUnit: task.storageUnit.name, retentionDays: 30, baseBackupId: task.base?.backupId }, result);
}

/** A reporter that remembers what it was told. */
export function recordingReporter(): TaskReporter & { progressCalls: Array<Parameters<TaskReporter['progress']>[0]>; heartbeats: number } {
  const reporter = {
    progressCalls: [] as Array<Parameters<TaskReporter['progress']>[0]>,
    heartbeats: 0,
    progress: async (update: Parameters<TaskReporter['progress']>[0]) => void reporter.progressCalls.push(update),
    heartbeat: async () => void (reporter.heartbeats += 1),
  };
  return reporter;
}

/** Content that is the same on every run for a given seed, so a test failure can be replayed. */
export function patterned(size: number, seed: number): Buffer {
  const block = randomBlock(seed);
  const out = Buffer.allocUnsafe(size);
  for (let offset = 0; offset < size; offset += block.length) block.copy(out, offset, 0, Math.min(block.length, size - offset));
  // Make every block differ so a flipped byte or a misplaced block shows.
  for (let offset = 0; offset + 8 <= size; offset += 4096) out.writeUInt32BE(offset >>> 0, offset);
  return out;
}

function randomBlock(seed: number): Buffer {
  // Deterministic per seed (xorshift), not cryptographic.
  const block = Buffer.allocUnsafe(65536);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < block.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    block.writeInt32LE(x | 0, i);
  }
  return block;
}

export function randomName(): string {
  return randomBytes(6).toString('hex');
}

export interface TreeNode {
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  mtimeMs: number;
  size: number;
  ino: number;
  nlink: number;
  content?: Buffer;
  target?: string;
}

/** Everything under `root` (relative paths → what is there), without following symlinks. */
export function snapshotTree(root: string): Map<string, TreeNode> {
  const out = new Map<string, TreeNode>();
  const visit = (relative: string): void => {
    const absolute = path.join(root, relative);
    const stats: Stats = lstatSync(absolute);
    const node: TreeNode = {
      type: stats.isDirectory() ? 'directory' : stats.isSymbolicLink() ? 'symlink' : 'file',
      mode: stats.mode & 0o7777,
      mtimeMs: stats.mtimeMs,
      size: stats.isFile() ? stats.size : 0,
      ino: stats.ino,
      nlink: stats.nlink,
    };
    if (stats.isFile()) node.content = readFileSync(absolute);
    if (stats.isSymbolicLink()) node.target = readlinkSync(absolute);
    out.set(relative, node);
    if (stats.isDirectory()) for (const name of readdirSync(absolute).sort()) visit(relative ? `${relative}/${name}` : name);
  };
  visit('');
  return out;
}

type PutHook = (key: string, chunkIndex: number) => void | Promise<void>;

/**
 * Wraps a store to record the order puts complete in and to inject faults:
 * `beforeChunk` runs before each chunk of each put reaches the inner store
 * (throw from it to make that put's body fail).
 */
export class InstrumentedStore implements ObjectStore {
  readonly completed: string[] = [];
  readonly inner: ObjectStore;
  beforeChunk: PutHook | undefined;
  failPut: ((key: string) => Error | undefined) | undefined;

  constructor(inner: ObjectStore) {
    this.inner = inner;
  }

  async put(key: string, body: ObjectBody): Promise<{ bytes: number }> {
    const failure = this.failPut?.(key);
    if (failure) throw failure;
    const hook = this.beforeChunk;
    const source = body instanceof Uint8Array ? single(body) : body;
    const wrapped = async function* (): AsyncGenerator<Uint8Array> {
      let index = 0;
      for await (const chunk of source) {
        await hook?.(key, index++);
        yield chunk;
      }
    };
    const result = await this.inner.put(key, wrapped());
    this.completed.push(key);
    return result;
  }

  get(key: string, range?: { start: number; end?: number }): Promise<AsyncIterable<Uint8Array>> {
    return this.inner.get(key, range);
  }

  head(key: string): Promise<{ bytes: number } | undefined> {
    return this.inner.head(key);
  }

  list(prefix: string): Promise<string[]> {
    return this.inner.list(prefix);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  listIncomplete(prefix: string): Promise<IncompleteWrite[]> {
    return this.inner.listIncomplete(prefix);
  }

  deletePrefix(prefix: string): Promise<{ objects: number; incomplete: number; bytes: number }> {
    return this.inner.deletePrefix(prefix);
  }
}

async function* single(body: Uint8Array): AsyncGenerator<Uint8Array> {
  yield body;
}

/** The CairnError `promise` rejects with; fails the test when it resolves or rejects with anything else. */
export async function failureOf(promise: Promise<unknown>): Promise<CairnError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome, 'the operation should have failed with a CairnError').toBeInstanceOf(CairnError);
  return outcome as CairnError;
}
