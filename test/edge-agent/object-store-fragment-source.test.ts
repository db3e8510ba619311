import { describe, expect, it } from 'vitest';
import { objectStoreFragmentSource } from '#agent/image/object-store-fragments.ts';
import { CairnError } from '#core/errors.ts';
import type { Fragment } from '#core/model/image.ts';
import { StatusCode } from '#core/status-codes.ts';
import { MemoryObjectStore } from '#test/memory/memory-object-store.ts';

async function bytesOf(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const content = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 251));
const fragment: Fragment = { number: 1, bytes: content.length, sha256: '0'.repeat(64), location: { kind: 'object', key: 'images/c_1/fragment-00001.tar' } };

describe('the object-store fragment source', () => {
  it('reads the whole stored fragment without a range, and exactly the tar bytes of a range with one', async () => {
    const store = new MemoryObjectStore();
    await store.put('images/c_1/fragment-00001.tar', content);
    const source = objectStoreFragmentSource(store, 'disk1');
    expect(await bytesOf(await source.read(fragment))).toEqual(content);
    expect(await bytesOf(await source.read(fragment, { start: 512, end: 1536 }))).toEqual(content.subarray(512, 1536));
    expect(await bytesOf(await source.read(fragment, { start: 4000, end: 9000 }))).toEqual(content.subarray(4000));
  });

  it('refuses a fragment on tape with 219, naming the storage unit', async () => {
    const source = objectStoreFragmentSource(new MemoryObjectStore(), 'disk1');
    const onTape: Fragment = { ...fragment, location: { kind: 'tape', mediaId: 'A00001', fileNumber: 1, blockOffset: 0 } };
    const error = await source.read(onTape, { start: 0, end: 10 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CairnError);
    expect((error as CairnError).statusCode).toBe(StatusCode.STORAGE_UNIT_UNAVAILABLE);
    expect((error as CairnError).message).toContain('disk1');
  });
});
