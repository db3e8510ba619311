import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TapeError } from '#core/ports/tape-drive.ts';
import { StTape } from '#agent/tape/drives/st-tape.ts';
import { describeTapeDriveContract } from '#test/contracts/tape-drive-contract.ts';

/**
 * The st contract run needs a tape drive whose tape may be overwritten:
 * CAIRN_TEST_TAPE_DEVICE=/dev/nstN (non-rewinding), optionally
 * CAIRN_TEST_TAPE_BLOCK_SIZE (default 65536). The tape is rewritten from
 * the beginning in every test.
 */
const device = process.env.CAIRN_TEST_TAPE_DEVICE;
const blockSize = Number(process.env.CAIRN_TEST_TAPE_BLOCK_SIZE ?? 65536);
const mtSt = spawnSync('mt', ['--version'], { encoding: 'utf8' });
const hasMtSt = mtSt.status === 0 && /mt-st/.test(`${mtSt.stdout}${mtSt.stderr}`);

const skipReason = !hasMtSt ? 'mt-st is not installed' : !device ? 'no tape drive: set CAIRN_TEST_TAPE_DEVICE=/dev/nstN to run it on a tape that may be overwritten' : undefined;

describeTapeDriveContract(
  `StTape ${device ?? ''}`.trim(),
  async () => {
    const store = await StTape.open(device!, { blockSize });
    await store.rewind();
    return { store, cleanup: () => store.close() };
  },
  { freshVolumeIsBlank: false, mayLoseFilePosition: true },
  skipReason,
);

describe.skipIf(!hasMtSt)(`StTape without a tape drive${hasMtSt ? '' : ' (skipped: mt-st is not installed)'}`, () => {
  it('is not ready on a path that is not a character device', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cairn-st-'));
    try {
      const file = path.join(dir, 'nst0');
      await writeFile(file, '');
      const error = await StTape.open(file, { blockSize: 65536 }).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(TapeError);
      expect((error as TapeError).fault).toBe('not-ready');
      expect((error as TapeError).message).toMatch(/not a character device/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("is not ready on a character device that is not a tape, with mt's words", async () => {
    const error = await StTape.open('/dev/null', { blockSize: 65536 }).then(() => undefined, (e: unknown) => e);
    expect((error as TapeError).fault).toBe('not-ready');
    expect((error as TapeError).message).toMatch(/mt setblk 65536 failed: .*Inappropriate ioctl/);
  });

  it('is not ready when the device does not exist', async () => {
    const error = await StTape.open('/dev/nst-cairn-missing', { blockSize: 65536 }).then(() => undefined, (e: unknown) => e);
    expect((error as TapeError).fault).toBe('not-ready');
  });
});
