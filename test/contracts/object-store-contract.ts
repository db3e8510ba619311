import { describe, expect, it } from 'vitest';
import { StatusCode } from '#core/status-codes.ts';
import { randomBytes } from 'node:crypto';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { readAll } from '#core/ports/object-store.ts';
import { NotFoundError, ValidationError } from '#core/errors.ts';
import { type OpenStore, describeContract } from './fixtures.ts';

async function* chunks(data: Buffer, size: number, reuse = false): AsyncIterable<Uint8Array> {
  // With `reuse`, one buffer is refilled for every chunk: the port promises
  // put never keeps a chunk after asking for the next one.
  const scratch = Buffer.alloc(size);
  for (let offset = 0; offset < data.length; offset += size) {
    const part = data.subarray(offset, Math.min(offset + size, data.length));
    if (reuse) {
      part.copy(scratch);
      yield scratch.subarray(0, part.length);
    } else yield part;
  }
}

async function* failingAfter(data: Buffer): AsyncIterable<Uint8Array> {
  yield data;
  throw new Error('reader died');
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export function describeObjectStoreContract(adapter: string, open: OpenStore<ObjectStore>, skipReason?: string): void {
  describeContract('ObjectStore', adapter, open, skipReason, (store) => {

    it('stores a buffer and a chunked stream and returns the same bytes', async () => {
      const small = Buffer.from('hello cairn');
      expect(await store().put('a/small.bin', small)).toEqual({ bytes: small.length });
      const large = randomBytes(12 * 1024 * 1024 + 123);
      expect(await store().put('a/large.bin', chunks(large, 1024 * 1024 + 7, true))).toEqual({ bytes: large.length });
      expect(await readAll(await store().get('a/small.bin'))).toEqual(small);
      expect((await readAll(await store().get('a/large.bin'))).equals(large)).toBe(true);
      expect(await store().head('a/large.bin')).toEqual({ bytes: large.length });
    });

    it('reads a byte range, end exclusive', async () => {
      await store().put('r.bin', Buffer.from('0123456789'));
      expect((await readAll(await store().get('r.bin', { start: 2, end: 5 }))).toString()).toBe('234');
      expect((await readAll(await store().get('r.bin', { start: 7 }))).toString()).toBe('789');
    });

    it('stores an empty object', async () => {
      await store().put('empty', Buffer.alloc(0));
      expect(await store().head('empty')).toEqual({ bytes: 0 });
      expect((await readAll(await store().get('empty'))).length).toBe(0);
    });

    it('leaves nothing behind when the body fails half-way', async () => {
      await expect(store().put('broken.bin', failingAfter(randomBytes(1024)))).rejects.toThrow();
      expect(await store().head('broken.bin')).toBeUndefined();
      expect(await store().list('')).toEqual([]);
    });

    it('keeps the old object whole when an overwrite fails', async () => {
      await store().put('keep.bin', Buffer.from('old'));
      await expect(store().put('keep.bin', failingAfter(Buffer.from('new')))).rejects.toThrow();
      expect((await readAll(await store().get('keep.bin'))).toString()).toBe('old');
    });

    it('lists keys under a prefix, sorted', async () => {
      for (const key of ['images/c1/b/2', 'images/c1/a/1', 'images/c2/x', 'other']) await store().put(key, Buffer.from(key));
      expect(await store().list('images/c1/')).toEqual(['images/c1/a/1', 'images/c1/b/2']);
      expect(await store().list('')).toEqual(['images/c1/a/1', 'images/c1/b/2', 'images/c2/x', 'other']);
    });

    it('reports a missing object as NotFoundError and deletes idempotently', async () => {
      await expect(store().get('missing')).rejects.toBeInstanceOf(NotFoundError);
      expect(await store().head('missing')).toBeUndefined();
      await store().put('d', Buffer.from('x'));
      await store().delete('d');
      await store().delete('d');
      expect(await store().head('d')).toBeUndefined();
    });

    it('removes a staged image whole: objects, and a write still in flight', async () => {
      await store().put('images/c1/c1_1/fragment-00001.tar', randomBytes(4096));
      await store().put('images/c1/c1_1/index.ndjson.gz', Buffer.from('index'));
      await store().put('images/c1/c1_10/keep.tar', Buffer.from('neighbour'));
      // A put that stops half-way, as a killed process leaves it: more than a
      // multipart part is stored, and the body never ends on its own.
      let release: (error: Error) => void = () => undefined;
      const stalled = new Promise<never>((_, reject) => (release = reject));
      // The put may still be writing the first chunk when the writer is killed (a loaded machine): the generator
      // has not awaited `stalled` yet, and its rejection must not count as unhandled meanwhile (it still throws there).
      stalled.catch(() => undefined);
      async function* hanging(): AsyncIterable<Uint8Array> {
        yield randomBytes(9 * 1024 * 1024);
        await stalled;
      }
      const inFlight = store().put('images/c1/c1_1/fragment-00002.tar', hanging()).catch((error: unknown) => error);
      await eventually(async () => (await store().listIncomplete('images/c1/c1_1/')).length === 1);
      expect(await store().listIncomplete('images/c1/c1_1/')).toEqual([expect.objectContaining({ key: 'images/c1/c1_1/fragment-00002.tar' })]);

      const removed = await store().deletePrefix('images/c1/c1_1/');

      expect(removed).toMatchObject({ objects: 2, incomplete: 1 });
      expect(removed.bytes).toBeGreaterThanOrEqual(4096 + 5);
      release(new Error('the writer was killed'));
      expect(await inFlight).toBeInstanceOf(Error);
      expect(await store().list('images/c1/c1_1/')).toEqual([]);
      expect(await store().listIncomplete('images/')).toEqual([]);
      expect(await store().list('images/')).toEqual(['images/c1/c1_10/keep.tar']);
      expect(await store().deletePrefix('images/c1/c1_1/')).toEqual({ objects: 0, incomplete: 0, bytes: 0 });
    });

    it('deletes only whole folders', async () => {
      for (const prefix of ['images/c1', '../x/', '/abs/', '']) {
        await expect(store().deletePrefix(prefix)).rejects.toBeInstanceOf(ValidationError);
      }
    });

    it('rejects keys that could escape the store', async () => {
      for (const key of ['../etc/passwd', '/abs', 'a/../../b', 'a//b', '']) {
        await expect(store().put(key, Buffer.from('x'))).rejects.toBeInstanceOf(ValidationError);
      }
    });

    describe('where adapters used to disagree', () => {
      it('refuses a negative or fractional byte range, and reads nothing past the end or before the start', async () => {
        await store().put('r.bin', Buffer.from('0123456789'));
        for (const range of [{ start: -1 }, { start: -5, end: 3 }, { start: 1.5 }, { start: 0, end: -1 }]) {
          await expect(store().get('r.bin', range)).rejects.toBeInstanceOf(ValidationError);
        }
        expect((await readAll(await store().get('r.bin', { start: 20 }))).length).toBe(0);
        expect((await readAll(await store().get('r.bin', { start: 5, end: 3 }))).length).toBe(0);
        expect((await readAll(await store().get('r.bin', { start: 8, end: 50 }))).toString()).toBe('89');
      });

      it('lists keys in code point order (UTF-8 byte order), also beyond ASCII', async () => {
        // JavaScript's default sort puts U+1F600 (a surrogate pair) before U+FF21; code point order after.
        for (const name of ['\u{1F600}', '\uFF21', 'b', '\u00E9', 'a', 'B']) await store().put(`k/${name}`, Buffer.from(name));
        expect(await store().list('k/')).toEqual(['k/B', 'k/a', 'k/b', 'k/\u00E9', 'k/\uFF21', 'k/\u{1F600}']);
      });

      it('refuses list prefixes that are not relative key paths', async () => {
        for (const prefix of ['../x/', '/abs', 'a//', 'a/./b', '/']) {
          await expect(store().list(prefix)).rejects.toBeInstanceOf(ValidationError);
          await expect(store().listIncomplete(prefix)).rejects.toBeInstanceOf(ValidationError);
        }
        expect(await store().list('')).toEqual([]);
      });

      it('says a missing object is a missing object', async () => {
        expect(await store().get('images/none').catch((e: unknown) => e)).toMatchObject({ statusCode: StatusCode.OBJECT_NOT_FOUND, message: 'object images/none not found' });
        expect(await store().get('images/none', { start: 2, end: 2 }).catch((e: unknown) => e)).toBeInstanceOf(NotFoundError);
      });
    });
  });
}
