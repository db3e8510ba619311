import { describe, expect, it } from 'vitest';
import { IndexWriter } from '#agent/image/index-writer.ts';
import type { IndexEntry } from '#core/model/task.ts';
import { MemoryObjectStore } from '#test/memory/memory-object-store.ts';

const entry = (i: number): IndexEntry => ({ path: `home/f${i}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtimeMs: 0, fragment: 1, offset: 512 * i });

/**
 * A backup cancelled while its last fragment was being closed went on to
 * `finish` the index after `abort` had destroyed its gzip stream: the write of
 * the pending lines waited for a 'drain' (or a 'close') that had already
 * happened, and the backup never ended (the flaky e2e cancel test).
 */
describe('the index writer after abort', () => {
  it('refuses finish and add with the abort reason instead of waiting on the destroyed stream', async () => {
    // Prepare: lines pending (under the batch size, so not yet handed to gzip), then the abort.
    const store = new MemoryObjectStore();
    const writer = new IndexWriter(store, 'images/h/b/index.ndjson.gz');
    for (let i = 0; i < 10; i++) await writer.add(entry(i));
    const reason = new Error('cairn jobs cancel');
    await writer.abort(reason);
    // Act + Assess: both reject at once (the test times out if either waits).
    await expect(writer.finish()).rejects.toBe(reason);
    await expect(writer.add(entry(10))).rejects.toBe(reason);
    expect(await store.list('')).toEqual([]);
  }, 2_000);
});
