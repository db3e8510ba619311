import { InvalidArgumentError } from 'commander';

const UNITS: Readonly<Record<string, number>> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
const DECIMAL: Readonly<Record<string, number>> = { K: 1000, M: 1000 ** 2, G: 1000 ** 3, T: 1000 ** 4 };

/**
 * Commander argument parser for sizes in bytes: `65536`, `64K`, `256KiB`,
 * `1M`, `10G`, `512B`. K, M, G, T and KiB, MiB, GiB, TiB are powers of 1024,
 * as tape block sizes are written (mt, dd); KB, MB, GB, TB are powers of
 * 1000, as dd reads them. Whole numbers only: `1.5M` is refused rather than
 * rounded to a size that is not a multiple of anything. Hand-written: no
 * size parser in node_modules reads the IEC suffixes and refuses fractions.
 */
export function parseSize(text: string): number {
  const match = /^(\d+)\s*(?:([KMGT])(iB|B)?|(B))?$/i.exec(text.trim());
  if (!match) throw new InvalidArgumentError('not a size (use bytes or a whole number with K, M, G, T, KiB, MiB, GiB, TiB: 64K, 256KiB, 1M, 10G)');
  const [, digits, unit, suffix] = match;
  const prefix = (unit ?? '').toUpperCase();
  const multiplier = suffix !== undefined && suffix.toUpperCase() === 'B' ? DECIMAL[prefix]! : UNITS[prefix]!;
  const bytes = Number(digits) * multiplier;
  if (!Number.isSafeInteger(bytes)) throw new InvalidArgumentError('too large');
  if (bytes < 1) throw new InvalidArgumentError('must be at least 1 byte');
  return bytes;
}
