import { open, mkdtemp, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TapeError } from '#core/ports/tape-drive.ts';
import { EarlyWriteback, WRITEBACK_EVERY_BYTES } from '#agent/transport/early-writeback.ts';
import { FileTape } from '#agent/tape/drives/file-tape.ts';

const MiB = 1024 * 1024;

/** A file handle whose fdatasyncs are counted and settle when the test says. */
function heldHandle(): { handle: FileHandle; calls: () => number; settleNext: (error?: Error) => void } {
  const pending: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  let calls = 0;
  const handle = {
    datasync: () => {
      calls += 1;
      return new Promise<void>((resolve, reject) => pending.push({ resolve, reject }));
    },
  } as unknown as FileHandle;
  return {
    handle,
    calls: () => calls,
    settleNext: (error) => {
      const next = pending.shift()!;
      if (error) next.reject(error);
      else next.resolve();
    },
  };
}

describe('EarlyWriteback', () => {
  it('starts one flush for every WRITEBACK_EVERY_BYTES written, and never a second while one is in flight', async () => {
    const { handle, calls, settleNext } = heldHandle();
    const writeback = new EarlyWriteback(handle);
    writeback.wrote(WRITEBACK_EVERY_BYTES - 1);
    expect(calls()).toBe(0);
    writeback.wrote(1);
    expect(calls()).toBe(1);
    // Another 32 MiB while the first flush is still running: no second one piles up behind it.
    writeback.wrote(WRITEBACK_EVERY_BYTES);
    expect(calls()).toBe(1);
    settleNext();
    await Promise.resolve();
    await Promise.resolve();
    writeback.wrote(WRITEBACK_EVERY_BYTES);
    expect(calls()).toBe(2);
    const settled = writeback.settle();
    settleNext();
    await expect(settled).resolves.toBeUndefined();
  });

  it('keeps the first failed flush: settle rejects with it and failure holds it', async () => {
    const { handle, settleNext } = heldHandle();
    const writeback = new EarlyWriteback(handle, MiB);
    writeback.wrote(MiB);
    const settled = writeback.settle();
    settleNext(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    await expect(settled).rejects.toThrow('EIO');
    expect((writeback.failure?.error as NodeJS.ErrnoException).code).toBe('EIO');
    await expect(writeback.settle()).rejects.toThrow('EIO');
  });
});

describe('FileTape with early writeback', () => {
  let dir: string;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('flushes while records stream, and reports a failed early flush as the next write error and the filemark error, leaving the append point before the file', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cairn-early-writeback-'));
    const volume = path.join(dir, 'VOL001');
    await writeFile(volume, '');
    const blockSize = 256 * 1024;
    const drive = await FileTape.open(volume, { blockSize });
    // The FileHandle class is not exported: reach its prototype through a handle of our own, and count (then fail) fdatasync.
    const probe = await open(volume, 'r');
    const proto = Object.getPrototypeOf(probe) as { datasync: FileHandle['datasync'] };
    await probe.close();
    const real = proto.datasync;
    let flushes = 0;
    let fail = false;
    proto.datasync = function (this: FileHandle) {
      flushes += 1;
      if (fail) return Promise.reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
      return real.call(this);
    };
    try {
      const data = new Uint8Array(4 * MiB).fill(7);
      await drive.writeRecords(data);
      await drive.writeFilemarks(1);
      const afterFirstFile = flushes;
      // 40 MiB of records: one early flush past 32 MiB, before any filemark asks for one.
      for (let i = 0; i < 10; i++) await drive.writeRecords(data);
      expect(flushes).toBe(afterFirstFile + 1);
      // The next early flush fails (a medium error the disk reports late): the write after it says so.
      fail = true;
      let error: unknown;
      for (let i = 0; i < 20 && error === undefined; i++) {
        error = await drive.writeRecords(data).then(() => undefined, (e: unknown) => e);
        // Let the failed flush land before the next write, as time passes between a real drive's writes.
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(error).toBeInstanceOf(TapeError);
      expect((error as TapeError).fault).toBe('write-error');
      expect((error as TapeError).statusCode).toBe(84);
      expect((error as Error).message).toMatch(/a flush of the records before record \d+ failed: EIO/);
      await expect(drive.writeFilemarks(1)).rejects.toThrow(/flush of the records .* failed: EIO/);
    } finally {
      proto.datasync = real;
      await drive.close();
    }
    // The torn tape file never got its filemark: the volume has one complete file, and the next write goes after it.
    const reopened = await FileTape.open(volume, { blockSize });
    try {
      expect(reopened.byteOffsetOf(1)).toBeGreaterThan(0);
      expect(() => reopened.byteOffsetOf(2)).toThrow(/no such tape file/);
    } finally {
      await reopened.close();
    }
  });
});
