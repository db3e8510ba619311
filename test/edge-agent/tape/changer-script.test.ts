import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChangerError } from '#core/ports/changer.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { ChangerScriptChanger } from '#agent/tape/changers/changer-script.ts';
import { describeChangerContract } from '#test/contracts/changer-contract.ts';
import { DISK_CHANGER, diskChangerLibrary, diskChangerSkipReason, type DiskChangerLibrary } from './disk-changer-library.ts';

const skip = diskChangerSkipReason();

/** disk-changer (bacula-sd 9.6) cannot transfer: it takes the destination slot, passed as ARCHIVE-DEVICE, for its directory. */
const TRANSFER_DEFECT = 'Debian bacula-sd 9.6 disk-changer takes the destination slot for its directory and refuses every transfer; see "transfer on disk-changer" below';

describeChangerContract(
  'changer script over Debian disk-changer',
  async () => {
    const library = diskChangerLibrary();
    return { store: library.changer, cleanup: library.cleanup };
  },
  { skipReason: skip, transferSkipReason: TRANSFER_DEFECT },
);

async function withLibrary(test: (library: DiskChangerLibrary) => Promise<void>, options?: Parameters<typeof diskChangerLibrary>[0]): Promise<void> {
  const library = diskChangerLibrary(options);
  try {
    await test(library);
  } finally {
    await library.cleanup();
  }
}

async function failure(promise: Promise<unknown>): Promise<ChangerError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ChangerError);
  return error as ChangerError;
}

describe.skipIf(Boolean(skip))(`the changer-script adapter driving Debian's disk-changer${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('reads the inventory with barcodes: every slot up to maxslot, the gap and the last slot empty', () =>
    withLibrary(async ({ changer }) => {
      const inventory = await changer.inventory();
      expect(inventory).toEqual({
        drives: [
          { index: 0, full: false },
          { index: 1, full: false },
        ],
        slots: [
          { slot: 1, full: true, barcode: 'CRN001L6' },
          { slot: 2, full: true, barcode: 'CRN002L6' },
          { slot: 3, full: true, barcode: 'CRN003L6' },
          { slot: 4, full: false },
          // disk-changer's listall drops the slot after a gap in its barcodes file: `list` puts it back.
          { slot: 5, full: true, barcode: 'CRN005L6' },
          { slot: 6, full: true, barcode: 'CRN006L6' },
          { slot: 7, full: false },
          { slot: 8, full: false },
        ],
        mailSlots: [],
      });
    }));

  it('loads into drive 0 and drive 1: the script links each drive to its slot file, listall and loaded report it', () =>
    withLibrary(async ({ changer, base, drives }) => {
      await changer.load(3, 0);
      await changer.load(5, 1);
      expect(readlinkSync(drives[0]!)).toBe(path.join(base, 'slot3'));
      expect(readlinkSync(drives[1]!)).toBe(path.join(base, 'slot5'));
      expect(await changer.loaded(0)).toEqual({ index: 0, full: true, sourceSlot: 3 });
      expect(await changer.loaded(1)).toEqual({ index: 1, full: true, sourceSlot: 5 });
      const inventory = await changer.inventory();
      expect(inventory.drives).toEqual([
        { index: 0, full: true, sourceSlot: 3, barcode: 'CRN003L6' },
        { index: 1, full: true, sourceSlot: 5, barcode: 'CRN005L6' },
      ]);
      expect(inventory.slots.filter((s) => s.full).map((s) => s.slot)).toEqual([1, 2, 6]);

      await changer.unload('source', 0);
      await changer.unload(5, 1);
      expect(() => lstatSync(drives[0]!)).toThrow(/ENOENT/);
      expect(await changer.loaded(0)).toEqual({ index: 0, full: false });
      // An unloaded drive is "D:0:F:0:" in disk-changer's listall: empty.
      expect((await changer.inventory()).drives).toEqual([
        { index: 0, full: false },
        { index: 1, full: false },
      ]);
      expect((await changer.inventory()).slots.filter((s) => s.full).map((s) => s.slot)).toEqual([1, 2, 3, 5, 6]);
    }));

  it('loads the last slot (maxslot), which listall never prints, and reads it back as full', () =>
    withLibrary(
      async ({ changer }) => {
        expect((await changer.inventory()).slots.at(-1)).toEqual({ slot: 4, full: true, barcode: 'END004L6' });
        await changer.load(4, 0);
        const inventory = await changer.inventory();
        expect(inventory.drives[0]).toEqual({ index: 0, full: true, sourceSlot: 4, barcode: 'END004L6' });
        expect(inventory.slots.at(-1)).toEqual({ slot: 4, full: false });
      },
      { slots: 4, drives: 1, barcodes: { 1: 'END001L6', 4: 'END004L6' } },
    ));

  it('refuses to load an empty slot, naming the script, its words and exit code 1; nothing moves', () =>
    withLibrary(async ({ changer, changerDevice, drives }) => {
      const error = await failure(changer.load(4, 0));
      expect(error.statusCode).toBe(StatusCode.SYSTEM_ERROR_DURING_RESTORE);
      expect(error.exitCode).toBe(1);
      expect(error.command).toEqual([DISK_CHANGER, changerDevice, 'load', '4', drives[0], '0']);
      expect(error.output).toBe('source Element Address 4 is Empty');
      expect(error.message).toBe(
        `load slot 4 into drive 0 (${DISK_CHANGER} ${changerDevice}): \`${DISK_CHANGER} ${changerDevice} load 4 ${drives[0]} 0\` failed (exit code 1): source Element Address 4 is Empty`,
      );
      expect(await changer.loaded(0)).toEqual({ index: 0, full: false });
    }));

  it('refuses to load into a full drive with the script message, and the loaded cartridge stays', () =>
    withLibrary(async ({ changer }) => {
      await changer.load(1, 0);
      const error = await failure(changer.load(2, 0));
      expect(error.exitCode).toBe(1);
      expect(error.output).toContain('Drive 0 Full (Storage element 1 loaded)');
      expect(await changer.loaded(0)).toEqual({ index: 0, full: true, sourceSlot: 1 });
      expect((await changer.inventory()).slots.find((s) => s.slot === 2)).toEqual({ slot: 2, full: true, barcode: 'CRN002L6' });
    }));

  it('refuses to load a cartridge that is already in another drive', () =>
    withLibrary(async ({ changer }) => {
      await changer.load(1, 0);
      const error = await failure(changer.load(1, 1));
      expect(error.output).toContain('Drive 0 Full (Storage element 1 loaded)');
      expect(await changer.loaded(1)).toEqual({ index: 1, full: false });
    }));

  it('refuses to unload into a slot other than the source (disk-changer cannot), with its message', () =>
    withLibrary(async ({ changer }) => {
      await changer.load(1, 0);
      const error = await failure(changer.unload(4, 0));
      expect(error.exitCode).toBe(1);
      expect(error.output).toBe('Storage Element 4 is Already Full');
      expect(await changer.loaded(0)).toEqual({ index: 0, full: true, sourceSlot: 1 });
    }));

  it('refuses a drive the library was not given with 20, before running the script', () =>
    withLibrary(async ({ changer }) => {
      const error = await changer.load(1, 2).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CairnError);
      expect(error).not.toBeInstanceOf(ChangerError);
      expect((error as CairnError).statusCode).toBe(StatusCode.INVALID_COMMAND_USAGE);
      expect((error as CairnError).message).toMatch(/drive 2 is not one of this library's 2 drives \(0 to 1\)/);
    }));

  it('transfer on disk-changer: the script takes the destination slot for its directory, fails with its own words, and changes nothing', () =>
    withLibrary(async ({ changer, base, changerDevice }) => {
      const barcodes = readFileSync(path.join(base, 'barcodes'), 'utf8');
      const error = await failure(changer.transfer(1, 4));
      // The argv is the protocol's (`transfer FROM TO`, TO in the ARCHIVE-DEVICE place), as mtx-changer wants it.
      expect(error.command).toEqual([DISK_CHANGER, changerDevice, 'transfer', '1', '4', '0']);
      expect(error.exitCode).toBe(1);
      expect(error.output).toMatch(/^ERROR: Autochanger directory "4" does not exist\./);
      expect(readFileSync(path.join(base, 'barcodes'), 'utf8')).toBe(barcodes);
      expect((await changer.inventory()).slots.find((s) => s.slot === 1)).toEqual({ slot: 1, full: true, barcode: 'CRN001L6' });
    }));

  it('refuses a library whose listall prints nothing (disk-changer without a barcodes file), naming why', async () => {
    const library = diskChangerLibrary({ barcodes: {} });
    try {
      const { rmSync } = await import('node:fs');
      rmSync(path.join(library.base, 'barcodes'));
      const error = await failure(library.changer.inventory());
      expect(error.message).toMatch(/listall printed nothing/);
      expect(error.exitCode).toBe(0);
    } finally {
      await library.cleanup();
    }
  });

  it('runs calls one at a time: racing loads into one drive leave exactly one cartridge in it', () =>
    withLibrary(async ({ changer }) => {
      const results = await Promise.allSettled([changer.load(1, 0), changer.load(2, 0), changer.load(3, 0)]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
      expect(await changer.loaded(0)).toEqual({ index: 0, full: true, sourceSlot: 1 });
    }));

  it('names a script that cannot be run', async () => {
    const changer = new ChangerScriptChanger({ script: '/nonexistent/changer-script', changerDevice: '/dev/null', drives: ['/dev/nst0'] });
    const error = await failure(changer.inventory());
    expect(error.exitCode).toBeUndefined();
    expect(error.message).toMatch(/\/nonexistent\/changer-script.*ENOENT/);
  });
});
