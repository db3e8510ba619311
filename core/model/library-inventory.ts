import { z } from 'zod';

/**
 * What a tape library's robot reports about its elements (SCSI SMC READ
 * ELEMENT STATUS, as `mtx status` or a changer script's `listall` prints it):
 * the data the media manager's inventory (vmupdate, `cairn robot inventory`)
 * reconciles with its media records. Numbers are the library's own: drives
 * from 0, slots from 1, and import/export (mail) slots numbered in the same
 * sequence as storage slots, as mtx and Bacula number them.
 *
 * A barcode is absent where the library has no barcode reader, the
 * cartridge has no label, or the reader could not read it; it is never an
 * empty string.
 */

const barcode = z.string().min(1);

/** A drive (SMC data transfer element). */
export const DriveElement = z.object({
  index: z.number().int().nonnegative(),
  full: z.boolean(),
  /** The loaded cartridge's barcode (primary volume tag). */
  barcode: barcode.optional(),
  /** The alternate volume tag, where the library reports one (rare on tape). */
  alternateBarcode: barcode.optional(),
  /** The slot the loaded cartridge came from, where the library knows it ("Unknown Storage Element Loaded" otherwise). */
  sourceSlot: z.number().int().positive().optional(),
});
export type DriveElement = z.infer<typeof DriveElement>;

/** A storage slot or an import/export (mail) slot. */
export const SlotElement = z.object({
  slot: z.number().int().positive(),
  full: z.boolean(),
  barcode: barcode.optional(),
  alternateBarcode: barcode.optional(),
});
export type SlotElement = z.infer<typeof SlotElement>;

/**
 * The whole library at one moment. Each list is in element order (drive
 * index, slot number). A cartridge in a drive is not in any slot: its home
 * slot reads empty, and the drive names it as `sourceSlot`.
 */
export const LibraryInventory = z.object({
  drives: z.array(DriveElement),
  slots: z.array(SlotElement),
  mailSlots: z.array(SlotElement),
});
export type LibraryInventory = z.infer<typeof LibraryInventory>;
