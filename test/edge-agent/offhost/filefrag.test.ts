import type { BigIntStats } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFilefrag } from '#agent/offhost/filefrag.ts';
import { rangesOf } from '#agent/offhost/mapper.ts';

/** `filefrag -v -e small frag pre empty missing-file` on ext4 (inline_data, 4 KiB blocks), e2fsprogs 1.47: a real output, stdout only. */
const OUTPUT = `Filesystem type is: ef53
Filesystem cylinder groups approximately 1
File size of small is 3 (1 block of 4096 bytes)
 ext:     logical_offset:        physical_offset: length:   expected: flags:
   0:        0..       2:     170792..    170794:      3:             last,not_aligned,inline,eof
small: 1 extent found
File size of frag is 73728 (18 blocks of 4096 bytes)
 ext:     logical_offset:        physical_offset: length:   expected: flags:
   0:        4..       5:       2064..      2065:      2:          4:
   1:        8..       9:       2578..      2579:      2:       2068:
   2:       12..      13:       2582..      2583:      2:            
   3:       16..      17:       3088..      3089:      2:       2586: last,eof
frag: 3 extents found
File size of pre is 65536 (16 blocks of 4096 bytes)
 ext:     logical_offset:        physical_offset: length:   expected: flags:
   0:        0..      15:       2068..      2083:     16:             last,unwritten,eof
pre: 1 extent found
File size of empty is 0 (0 blocks of 4096 bytes)
empty: 0 extents found
`;

const stats = (size: number, blocks: number): BigIntStats => ({ size: BigInt(size), blocks: BigInt(blocks) }) as BigIntStats;
const device = { deviceBytes: 64 * 1024 * 1024 };

describe('filefrag -v -e output', () => {
  const files = parseFilefrag(OUTPUT, ['small', 'frag', 'pre', 'empty', 'missing-file']);
  const byName = new Map(files.map((f) => [f.path, f]));

  it('gives each file its extents in file-system blocks, and no table for a file filefrag could not open', () => {
    expect(files.map((f) => f.path)).toEqual(['small', 'frag', 'pre', 'empty']);
    expect(byName.get('frag')).toMatchObject({ size: 73728, blockBytes: 4096 });
    expect(byName.get('frag')!.extents.map((e) => [e.logical, e.physical, e.length, e.flags.join(',')])).toEqual([
      [4, 2064, 2, ''],
      [8, 2578, 2, ''],
      [12, 2582, 2, ''],
      [16, 3088, 2, 'last,eof'],
    ]);
    expect(byName.get('empty')!.extents).toEqual([]);
  });

  it('turns extents into device byte ranges, holes left out and touching extents merged', () => {
    expect(rangesOf(byName.get('frag')!, stats(73728, 64), device)).toEqual({
      ranges: [
        { fileOffset: 4 * 4096, deviceOffset: 2064 * 4096, bytes: 8192 },
        { fileOffset: 8 * 4096, deviceOffset: 2578 * 4096, bytes: 8192 },
        { fileOffset: 12 * 4096, deviceOffset: 2582 * 4096, bytes: 8192 },
        { fileOffset: 16 * 4096, deviceOffset: 3088 * 4096, bytes: 8192 },
      ],
    });
    // Unwritten (preallocated) extents read as zeros: nothing to read.
    expect(rangesOf(byName.get('pre')!, stats(65536, 128), device)).toEqual({ ranges: [] });
    expect(rangesOf(byName.get('empty')!, stats(0, 0), device)).toEqual({ ranges: [] });
    // Extents that follow each other in the file and on the device are one read.
    const touching = { path: 'f', size: 8192, blockBytes: 4096, extents: [{ logical: 0, physical: 10, length: 1, flags: [] }, { logical: 1, physical: 11, length: 1, flags: ['last'] }] };
    expect(rangesOf(touching, stats(8192, 16), device)).toEqual({ ranges: [{ fileOffset: 0, deviceOffset: 40960, bytes: 8192 }] });
  });

  it('cuts the last extent at the file size', () => {
    const file = { path: 'f', size: 5000, blockBytes: 4096, extents: [{ logical: 0, physical: 10, length: 2, flags: ['last', 'eof'] }] };
    expect(rangesOf(file, stats(5000, 16), device)).toEqual({ ranges: [{ fileOffset: 0, deviceOffset: 40960, bytes: 5000 }] });
  });

  it('sends data that is not in plain blocks to a file read, naming why', () => {
    expect(rangesOf(byName.get('small')!, stats(3, 0), device)).toEqual({ fallback: 'inline' });
    for (const flag of ['encoded', 'shared', 'unknown_loc', 'delalloc', 'not_aligned', 'encrypted']) {
      const file = { path: 'f', size: 8192, blockBytes: 4096, extents: [{ logical: 0, physical: 10, length: 2, flags: [flag, 'last'] }] };
      expect(rangesOf(file, stats(8192, 16), device)).toEqual({ fallback: flag });
    }
    // A file that changed since the walk (not a frozen image), or an extent past the device, is not trusted either.
    expect(rangesOf(byName.get('frag')!, stats(80000, 64), device)).toMatchObject({ fallback: expect.stringMatching(/changed/) });
    expect(rangesOf(byName.get('frag')!, stats(73728, 64), { deviceBytes: 2000 * 4096 })).toEqual({ fallback: 'extent past the end of the device' });
  });

  it('drops a table with a line it does not know, so that file falls back', () => {
    const odd = OUTPUT.replace('   1:        8..       9:', '   1:        8..       X:');
    expect(parseFilefrag(odd, ['small', 'frag', 'pre', 'empty']).map((f) => f.path)).toEqual(['small', 'pre', 'empty']);
  });
});
