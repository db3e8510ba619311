import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '#core/errors.ts';
import { readAll } from '#core/ports/object-store.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { describeObjectStoreContract } from '#test/contracts/object-store-contract.ts';
import { tempDir } from './helpers.ts';

describeObjectStoreContract('FsObjectStore', async () => {
  const { dir, cleanup } = tempDir('fs-store');
  return { store: new FsObjectStore(dir), cleanup: async () => cleanup() };
});

describe('FsObjectStore', () => {
  it('leaves no temporary file behind when a body fails', async () => {
    const { dir, cleanup } = tempDir('fs-store');
    try {
      const store = new FsObjectStore(dir);
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield Buffer.alloc(1000);
        throw new Error('reader died');
      }
      await expect(store.put('a/b.bin', failing())).rejects.toThrow('reader died');
      expect(readdirSync(`${dir}/a`)).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('treats a directory as a missing object and refuses reserved names', async () => {
    const { dir, cleanup } = tempDir('fs-store');
    try {
      const store = new FsObjectStore(dir);
      await store.put('images/x/1', Buffer.from('1'));
      await expect(store.get('images/x')).rejects.toBeInstanceOf(NotFoundError);
      expect(await store.head('images/x')).toBeUndefined();
      await expect(store.put('a.cairn-partial-0123456789abcdef', Buffer.from('x'))).rejects.toBeInstanceOf(ValidationError);
      expect(await store.list('images/x/')).toEqual(['images/x/1']);
      expect(await store.list('images/')).toEqual(['images/x/1']);
      expect(await store.list('nothing/here/')).toEqual([]);
      expect((await readAll(await store.get('images/x/1', { start: 5 }))).length).toBe(0);
    } finally {
      cleanup();
    }
  });
});
