import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FileMeters } from '#agent/reader/file-reader.ts';
import { ReaderThread } from '#agent/reader/reader-thread.ts';
import { BusyMeter } from '#agent/transport/busy-meter.ts';
import { patterned, tempDir } from './helpers.ts';

// Its own file: keepIdleThread is process-wide, and the other reader-thread tests run without it.

function meters(): FileMeters {
  return { read: new BusyMeter(), hash: new BusyMeter() };
}

/** Descriptors this process has open: a file the reused thread kept open shows here. */
const openDescriptors = (): number => readdirSync('/proc/self/fd').length;

describe('the idle reader thread an agent keeps between backups', () => {
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => void (dir = tempDir('reader-idle')));
  afterEach(() => dir.cleanup());

  it('is started at once, handed to the next backup, reset in between (its files closed), and the old owner can no longer use it', async () => {
    // Prepare
    const file = path.join(dir.dir, 'f');
    const content = patterned(300_000, 5);
    writeFileSync(file, content);
    const walked = await lstat(file, { bigint: true });
    ReaderThread.keepIdleThread();

    // Act: the first backup takes the started thread, leaves a file open mid-read (a backup that stopped), and closes.
    const first = ReaderThread.take();
    // A round trip first: the thread's own descriptors (its event loop's) are open by then.
    await first.lstat([file]);
    const before = openDescriptors();
    const half = await first.prepare(file, walked, 64 * 1024, meters());
    expect(half.stats.size).toBe(300_000n);
    expect(openDescriptors()).toBe(before + 1);
    await first.close();
    const second = ReaderThread.take();

    // Assess: the same thread, its forgotten file closed, reading as new.
    expect(second.threadId).toBe(first.threadId);
    await expect.poll(openDescriptors).toBe(before);
    const chunks: Buffer[] = [];
    const prepared = await second.prepare(file, walked, 64 * 1024, meters());
    const result = await prepared.copyTo(async (chunk) => void chunks.push(Buffer.from(chunk)));
    expect(Buffer.concat(chunks).equals(content)).toBe(true);
    expect(result.problem).toBeUndefined();
    await expect(first.prepare(file, walked, 4096, meters())).rejects.toThrow('the reader thread was closed');
    await second.close();
  });

  it('ends a thread closed with a request in flight rather than keep it, and a second close does nothing', async () => {
    const file = path.join(dir.dir, 'g');
    writeFileSync(file, patterned(10_000, 1));
    const walked = await lstat(file, { bigint: true });
    ReaderThread.keepIdleThread();
    const busy = ReaderThread.take();
    const inFlight = busy.prepare(file, walked, 4096, meters()).then(() => undefined, (error: unknown) => error);
    await busy.close();
    await busy.close();
    expect(String(await inFlight)).toContain('the reader thread was closed');
    // Nothing kept from it: the next backup gets a new thread.
    const next = ReaderThread.take();
    expect(next.threadId).not.toBe(busy.threadId);
    await next.close();
  });

  it('never keeps a process alive: one that kept an idle thread across two backups ends when its work does', () => {
    const script = [
      "import { ReaderThread } from '#agent/reader/reader-thread.ts';",
      'ReaderThread.keepIdleThread();',
      'for (let job = 0; job < 2; job++) {',
      '  const thread = ReaderThread.take();',
      "  await thread.lstat(['/']);",
      '  await thread.close();',
      '}',
      "console.log('done');",
    ].join('\n');
    // A thread handed to its next owner got that owner's 'message' listener, which refs its port: found hanging here once.
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(run.stderr).toBe('');
    expect(run.signal).toBeNull();
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toBe('done');
  });
});
