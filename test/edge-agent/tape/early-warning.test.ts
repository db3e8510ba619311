import { describe, expect, it } from 'vitest';
import { LARGEST_CHUNK, TAR_SLACK, tapeWriteRoom } from '#agent/tape/early-warning.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const drive = (path: string, capacity?: number) => ({ name: 'd0', index: 0, path, blockSize: 64 * KiB, ...(capacity === undefined ? {} : { fileTapeCapacityBytes: capacity }) });

describe('the room a tape backup leaves past early warning', () => {
  it('leaves a real drive its own mark and writes 1 MiB at a time', () => {
    expect(tapeWriteRoom(drive('/dev/nst0', 8 * MiB), { count: 16, sizeBytes: 256 * KiB }, 64 * MiB)).toEqual({ writeBytes: MiB });
  });

  it('keeps a large file tape\'s default zone (a tenth, at most 64 MiB) when it holds what is in flight', () => {
    expect(tapeWriteRoom(drive('/srv/vtl/drive0', 1024 * 1024 * MiB), { count: 16, sizeBytes: 256 * KiB }, 16 * MiB)).toEqual({ writeBytes: MiB, earlyWarningBytes: 64 * MiB });
  });

  it('widens a file tape\'s zone past 64 MiB for a piece of 64 MiB and what is in flight', () => {
    expect(tapeWriteRoom(drive('/srv/vtl/drive0', 1024 * 1024 * MiB), { count: 16, sizeBytes: 256 * KiB }, 64 * MiB)).toEqual({ writeBytes: MiB, earlyWarningBytes: 2 * MiB + 4 * MiB + TAR_SLACK + LARGEST_CHUNK + 64 * KiB + 64 * MiB });
  });

  it('widens a small file tape\'s zone to the two write buffers, the pool, tar slack, the largest chunk, a record and a piece, with writes a 32nd of the volume', () => {
    const room = tapeWriteRoom(drive('/srv/vtl/drive0', 8 * MiB), { count: 8, sizeBytes: 64 * KiB }, MiB);
    expect(room.writeBytes).toBe(256 * KiB);
    expect(room.earlyWarningBytes).toBe(2 * 256 * KiB + 8 * 64 * KiB + TAR_SLACK + LARGEST_CHUNK + 64 * KiB + MiB);
  });

  it('never gives the zone more than half the volume, nor writes less than a record', () => {
    expect(tapeWriteRoom(drive('/srv/vtl/drive0', MiB), { count: 16, sizeBytes: 256 * KiB }, MiB)).toEqual({ writeBytes: 64 * KiB, earlyWarningBytes: 512 * KiB });
  });
});
