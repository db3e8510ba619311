import type { Compression } from '#core/model/storage-unit.ts';
import type { FragmentSinks } from '#core/ports/fragment-sink.ts';
import { zstdFragmentSinks } from './zstd-fragment-sinks.ts';

/** The sinks a backup writes through: `sinks` themselves, or compressing into them when the storage unit's `compression` says so. */
export function compressedAsConfigured(compression: Compression | undefined, sinks: FragmentSinks): FragmentSinks {
  if (compression === undefined || compression.codec === 'none') return sinks;
  return zstdFragmentSinks(sinks, { level: compression.level });
}

/** A fragment's object key on a unit with `compression`: `.zst` appended when it compresses, so the name says what reads it. */
export function compressedKey(compression: Compression | undefined, key: string): string {
  return compression?.codec === 'zstd' ? `${key}.zst` : key;
}
