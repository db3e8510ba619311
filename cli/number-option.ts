import { InvalidArgumentError } from 'commander';

/**
 * Commander argument parser for counts, days and seconds. `Number.parseInt`
 * would read `abc` as NaN and `7days` as 7 and carry on; this refuses both,
 * so the operator gets a usage error naming the option and the value.
 */
export function wholeNumber(text: string): number {
  const value = /^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!Number.isSafeInteger(value)) throw new InvalidArgumentError('not a whole number');
  return value;
}

/** As wholeNumber, and at least 1. */
export function positiveNumber(text: string): number {
  const value = wholeNumber(text);
  if (value < 1) throw new InvalidArgumentError('must be at least 1');
  return value;
}
