import { expect, it } from 'vitest';
import type { Changer } from '#core/ports/changer.ts';
import { ChangerError } from '#core/ports/changer.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { LibraryInventory, SlotElement } from '#core/model/library-inventory.ts';
import { type OpenStore, describeContract } from './fixtures.ts';

export interface ChangerContractOptions {
  /** Why the whole suite cannot run here (no library). */
  skipReason?: string;
  /** Why `transfer` cannot be checked on this adapter's library (a known defect of the script, named and tested elsewhere). */
  transferSkipReason?: string;
}

/**
 * The Changer port's contract (core/ports/changer.ts), on whatever library
 * the adapter opens: the tests pick full and empty slots and drives from
 * the library's own inventory, and put every cartridge back where it was,
 * so the same suite runs on a virtual library and on a real one (mtx, with
 * CAIRN_TEST_CHANGER_DEVICE). The library needs 2 drives, 2 full slots and
 * an empty slot; a test that needs more than the library has skips.
 */
export function describeChangerContract(adapter: string, open: OpenStore<Changer>, options: ChangerContractOptions = {}): void {
  describeContract('Changer', adapter, open, options.skipReason, (changer) => {
    /** Two full storage slots and an empty drive, or a skip. */
    async function pick(skip: (note: string) => never, drivesNeeded = 1): Promise<{ inventory: LibraryInventory; full: SlotElement[]; drives: number[]; empty: SlotElement[] }> {
      const inventory = await changer().inventory();
      const full = inventory.slots.filter((s) => s.full);
      const drives = inventory.drives.filter((d) => !d.full).map((d) => d.index);
      const empty = inventory.slots.filter((s) => !s.full);
      if (full.length < drivesNeeded || drives.length < drivesNeeded) skip(`the library needs ${drivesNeeded} full slot(s) and empty drive(s)`);
      return { inventory, full, drives, empty };
    }

    /** Puts back whatever a failed test left in a drive. */
    async function unloadAll(): Promise<void> {
      for (const drive of (await changer().inventory()).drives) if (drive.full && drive.sourceSlot !== undefined) await changer().unload('source', drive.index);
    }

    it('lists drives by index from 0, slots by number, and barcodes only on full elements', async () => {
      const inventory = await changer().inventory();
      expect(inventory.drives.length).toBeGreaterThan(0);
      expect(inventory.drives.map((d) => d.index)).toEqual(inventory.drives.map((_, i) => i));
      const numbers = [...inventory.slots, ...inventory.mailSlots].map((s) => s.slot);
      expect(new Set(numbers).size).toBe(numbers.length);
      expect(inventory.slots.map((s) => s.slot)).toEqual([...inventory.slots.map((s) => s.slot)].sort((a, b) => a - b));
      for (const element of [...inventory.drives, ...inventory.slots, ...inventory.mailSlots]) {
        if (!element.full) expect(element.barcode).toBeUndefined();
        if (element.barcode !== undefined) expect(element.barcode.trim()).toBe(element.barcode);
      }
      // A cartridge is in one place: a drive's source slot reads empty.
      for (const drive of inventory.drives) {
        if (drive.sourceSlot !== undefined) expect(inventory.slots.find((s) => s.slot === drive.sourceSlot)?.full).not.toBe(true);
      }
    });

    it('loads a slot into a drive and unloads it back to its source slot, each move visible in the next inventory', async ({ skip }) => {
      const { full, drives } = await pick(skip);
      const slot = full[0]!;
      const drive = drives[0]!;
      try {
        await changer().load(slot.slot, drive);
        const loaded = await changer().inventory();
        expect(loaded.drives[drive]).toMatchObject({ index: drive, full: true, sourceSlot: slot.slot, ...(slot.barcode ? { barcode: slot.barcode } : {}) });
        expect(loaded.slots.find((s) => s.slot === slot.slot)).toMatchObject({ full: false });
        expect(await changer().loaded(drive)).toMatchObject({ index: drive, full: true, sourceSlot: slot.slot });

        await changer().unload('source', drive);
        const unloaded = await changer().inventory();
        expect(unloaded.drives[drive]).toMatchObject({ index: drive, full: false });
        expect(unloaded.slots.find((s) => s.slot === slot.slot)).toEqual(slot);
        expect(await changer().loaded(drive)).toMatchObject({ index: drive, full: false });
      } finally {
        await unloadAll();
      }
    });

    it('unloads into a slot named explicitly', async ({ skip }) => {
      const { full, drives } = await pick(skip);
      const slot = full[0]!;
      try {
        await changer().load(slot.slot, drives[0]!);
        await changer().unload(slot.slot, drives[0]!);
        expect((await changer().inventory()).slots.find((s) => s.slot === slot.slot)).toEqual(slot);
      } finally {
        await unloadAll();
      }
    });

    it('keeps two drives loaded at once, each with its own cartridge', async ({ skip }) => {
      const { full, drives } = await pick(skip, 2);
      const [a, b] = [full[0]!, full[1]!];
      try {
        await changer().load(a.slot, drives[0]!);
        await changer().load(b.slot, drives[1]!);
        const both = await changer().inventory();
        expect(both.drives[drives[0]!]).toMatchObject({ full: true, sourceSlot: a.slot, ...(a.barcode ? { barcode: a.barcode } : {}) });
        expect(both.drives[drives[1]!]).toMatchObject({ full: true, sourceSlot: b.slot, ...(b.barcode ? { barcode: b.barcode } : {}) });
        await changer().unload('source', drives[1]!);
        await changer().unload('source', drives[0]!);
        expect((await changer().inventory()).slots.filter((s) => s.slot === a.slot || s.slot === b.slot)).toEqual([a, b].sort((x, y) => x.slot - y.slot));
      } finally {
        await unloadAll();
      }
    });

    it('refuses to load from an empty slot with a ChangerError (174) naming the command and its exit code, and moves nothing', async ({ skip }) => {
      const { inventory, empty, drives } = await pick(skip);
      if (empty.length === 0) skip('the library has no empty slot');
      const error = await changer().load(empty[0]!.slot, drives[0]!).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ChangerError);
      const failure = error as ChangerError;
      expect(failure.statusCode).toBe(StatusCode.SYSTEM_ERROR_DURING_RESTORE);
      expect(failure.exitCode).toBeGreaterThan(0);
      expect(failure.message).toContain(failure.command.join(' '));
      expect(failure.message).toContain(`exit code ${failure.exitCode}`);
      expect(await changer().inventory()).toEqual(inventory);
    });

    it('refuses to load into a full drive, and the cartridge already there stays', async ({ skip }) => {
      const { full, drives } = await pick(skip, 2);
      try {
        await changer().load(full[0]!.slot, drives[0]!);
        const before = await changer().inventory();
        await expect(changer().load(full[1]!.slot, drives[0]!)).rejects.toBeInstanceOf(ChangerError);
        expect(await changer().inventory()).toEqual(before);
      } finally {
        await unloadAll();
      }
    });

    it('refuses to unload an empty drive to its source slot with 174 saying the drive is empty', async ({ skip }) => {
      const { drives } = await pick(skip);
      const error = await changer().unload('source', drives[0]!).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CairnError);
      expect((error as CairnError).statusCode).toBe(StatusCode.SYSTEM_ERROR_DURING_RESTORE);
      expect((error as CairnError).message).toMatch(/empty/);
    });

    it('refuses a slot below 1 or a negative drive with 20 before the robot is asked', async () => {
      const calls: (() => Promise<unknown>)[] = [() => changer().load(0, 0), () => changer().load(1, -1), () => changer().unload(0, 0), () => changer().transfer(1, 0), () => changer().loaded(-1)];
      for (const call of calls) {
        const error = await Promise.resolve()
          .then(call)
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CairnError);
        expect(error).not.toBeInstanceOf(ChangerError);
        expect((error as CairnError).statusCode).toBe(StatusCode.INVALID_COMMAND_USAGE);
      }
    });

    it.skipIf(Boolean(options.transferSkipReason))(`moves a cartridge between slots and back${options.transferSkipReason ? ` (skipped: ${options.transferSkipReason})` : ''}`, async ({ skip }) => {
      const { full, empty } = await pick(skip);
      if (empty.length === 0) skip('the library has no empty slot');
      const [from, to] = [full[0]!, empty[0]!];
      await changer().transfer(from.slot, to.slot);
      const moved = await changer().inventory();
      expect(moved.slots.find((s) => s.slot === to.slot)).toEqual({ ...from, slot: to.slot });
      expect(moved.slots.find((s) => s.slot === from.slot)).toMatchObject({ full: false });
      await changer().transfer(to.slot, from.slot);
      expect((await changer().inventory()).slots.find((s) => s.slot === from.slot)).toEqual(from);
    });
  });
}
