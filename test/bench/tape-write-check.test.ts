import { openSync, closeSync, writeSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TAR_B512_RECORD, cairnTapeWrite, type CairnRun } from '../../bench/tape-write-cairn.ts';
import { listTapeFiles } from '../../bench/tape-write-check.ts';
import { fileTapeByteOffset } from '#agent/tape/drives/file-tape-format.ts';
import { patterned, tempDir } from '../edge-agent/helpers.ts';
import { hasGnuTar } from '../edge-agent/tape/tape-shelf.ts';

// bench:tape's guard: a tape write the bench timed must list whole under GNU tar, or the bench stops.
describe.skipIf(!hasGnuTar)(`bench:tape's check of a tape write${hasGnuTar ? '' : ' (skipped: GNU tar is not installed)'}`, () => {
  let work: ReturnType<typeof tempDir>;
  let volume: string;
  let run: CairnRun;
  beforeAll(async () => {
    // 24 files of 20–140 KiB: about 1.9 MiB, several 256 KiB records.
    work = tempDir('tape-bench-check');
    const dataset = path.join(work.dir, 'data');
    for (let i = 0; i < 24; i++) {
      const dir = path.join(dataset, `d${i % 3}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `f${i}.bin`), patterned(20 * 1024 + i * 5 * 1024, i + 1));
    }
    volume = path.join(work.dir, 'cairn.vol');
    run = await cairnTapeWrite({ dataset, volume, unit: path.join(work.dir, 'unit'), blockSize: TAR_B512_RECORD });
  });
  afterAll(() => work.cleanup());

  it('lists every file of the backup from the tape file at its recorded location', async () => {
    // Prepare: one fragment, tape file 1 after the label.
    expect(run.statusCode).toBe(0);
    expect(run.tapeFiles).toEqual([{ fileNumber: 1, blockOffset: 2, bytes: run.bytes }]);

    // Act
    const files = await listTapeFiles(volume, run.tapeFiles, TAR_B512_RECORD);

    // Assess
    expect(files).toBe(24);
  });

  it('counts a file written as pieces once (its GNUFileParts members)', async () => {
    // Prepare: a backup with pieces of 1 MiB of the same files and one of 3.5 MiB.
    const dataset = path.join(work.dir, 'data-pieced');
    mkdirSync(path.join(dataset, 'd'), { recursive: true });
    writeFileSync(path.join(dataset, 'd', 'small.bin'), patterned(10_000, 1));
    writeFileSync(path.join(dataset, 'd', 'big.bin'), patterned(3.5 * 1024 * 1024, 2));
    const pieced = path.join(work.dir, 'pieced.vol');
    const written = await cairnTapeWrite({ dataset, volume: pieced, unit: path.join(work.dir, 'unit-pieced'), blockSize: TAR_B512_RECORD, pieceBytes: 1024 * 1024 });
    expect(written.statusCode).toBe(0);

    // Act
    const files = await listTapeFiles(pieced, written.tapeFiles, TAR_B512_RECORD);

    // Assess: two files, not five members.
    expect(files).toBe(2);
  });

  it('rejects a tape file read shorter than it was written', async () => {
    // Prepare: the location's fragment cut to half its bytes: the cut falls inside a member, and tar finds the archive cut short.
    const half = [{ ...run.tapeFiles[0]!, bytes: Math.floor(run.bytes / 2 / 512) * 512 }];

    // Act
    const listing = listTapeFiles(volume, half, TAR_B512_RECORD);

    // Assess
    await expect(listing).rejects.toThrow(/tar -tv of tape file 1/);
  });

  // Last: it damages the volume.
  it('rejects a tape file whose bytes were damaged', async () => {
    // Prepare: garbage over the first member's header.
    const fd = openSync(volume, 'r+');
    try {
      writeSync(fd, Buffer.alloc(512, 0x41), 0, 512, fileTapeByteOffset({ fileNumber: 1, block: 2, blockSize: TAR_B512_RECORD }));
    } finally {
      closeSync(fd);
    }

    // Act
    const listing = listTapeFiles(volume, run.tapeFiles, TAR_B512_RECORD);

    // Assess
    await expect(listing).rejects.toThrow(/tar -tv of tape file 1/);
  });
});
