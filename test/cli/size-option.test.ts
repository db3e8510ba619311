import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from 'commander';
import { parseSize } from '#cli/size-option.ts';

describe('size option values', () => {
  it.each([
    ['65536', 65536],
    ['512B', 512],
    ['64K', 64 * 1024],
    ['64k', 64 * 1024],
    ['256KiB', 256 * 1024],
    ['1M', 1024 ** 2],
    ['10G', 10 * 1024 ** 3],
    ['2TiB', 2 * 1024 ** 4],
    ['1MB', 1_000_000],
    [' 64 K ', 64 * 1024],
  ])('reads %j as %d bytes (K, KiB binary; KB decimal, as dd)', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each([
    ['1.5M', /not a size/],
    ['64Q', /not a size/],
    ['-1K', /not a size/],
    ['', /not a size/],
    ['0', /at least 1 byte/],
    ['99999999999T', /too large/],
  ])('refuses %j naming why', (text, why) => {
    expect(() => parseSize(text)).toThrow(InvalidArgumentError);
    expect(() => parseSize(text)).toThrow(why);
  });
});
