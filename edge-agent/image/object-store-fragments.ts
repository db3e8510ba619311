import { CairnError } from '#core/errors.ts';
import { fragmentLabel, type FragmentLocation } from '#core/model/image.ts';
import type { FragmentSink, FragmentSinks, FragmentSource, WrittenFragment } from '#core/ports/fragment-sink.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { decodingFragmentSource } from '../codec/zstd-fragment-source.ts';

/**
 * The fragment sink of an object-store storage unit (disk, S3): fragment `n`
 * is the object `keyOf(n)`. An object store has no end of media, so one
 * sink takes the whole copy.
 */
export class ObjectStoreFragmentSink implements FragmentSink {
  readonly endOfMedia = false;
  readonly #store: ObjectStore;
  readonly #keyOf: (n: number) => string;

  constructor(store: ObjectStore, keyOf: (n: number) => string) {
    this.#store = store;
    this.#keyOf = keyOf;
  }

  async write(number: number, body: AsyncIterable<Uint8Array>): Promise<WrittenFragment> {
    const key = this.#keyOf(number);
    const stored = await this.#store.put(key, body);
    return { location: { kind: 'object', key }, bytes: stored.bytes };
  }

  async discard(location: FragmentLocation): Promise<void> {
    if (location.kind !== 'object') throw new Error(`an object store holds no ${location.kind} fragments`);
    await this.#store.delete(location.key);
  }
}

/** The sinks of a copy on an object store: one, never full. */
export function objectStoreSinks(store: ObjectStore, keyOf: (n: number) => string): FragmentSinks {
  const sink = new ObjectStoreFragmentSink(store, keyOf);
  return {
    first: () => Promise.resolve(sink),
    next: () => Promise.reject(new CairnError(StatusCode.UNABLE_TO_ALLOCATE_MEDIA, 'an object storage unit reported end of media')),
  };
}

/**
 * Reads fragments at object locations from `store` (the copy's storage
 * unit), each as its tar archive: a compressed fragment is decompressed
 * (edge-agent/codec/zstd-fragment-source.ts), a plain one read as stored.
 * A fragment on tape is refused with 219: this agent has no tape reader
 * yet, and reading some other copy silently is not its call.
 */
export function objectStoreFragmentSource(store: ObjectStore, storageUnit: string): FragmentSource {
  return decodingFragmentSource(async (fragment, range) => {
    const { location } = fragment;
    if (location.kind === 'object') return range === undefined ? store.get(location.key) : store.get(location.key, { start: range.start, end: range.end });
    throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `${fragmentLabel(fragment)} is on tape, and this agent cannot read tape yet; storage unit ${storageUnit} holds objects only`);
  });
}
