import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { LibraryInventory } from '#core/model/library-inventory.ts';
import { parseMtxStatus } from '#agent/tape/changers/mtx-status-parser.ts';

const FIXTURES = path.join(import.meta.dirname, '../../fixtures/mtx');
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name), 'utf8');

describe('mtx status parsing on real libraries (test/fixtures/mtx)', () => {
  it('reads every status fixture into a valid inventory whose counts match its header', () => {
    const statuses = readdirSync(FIXTURES).filter((f) => f.endsWith('.txt') && !f.includes('error'));
    expect(statuses.length).toBeGreaterThanOrEqual(5);
    for (const name of statuses) {
      const text = fixture(name);
      const inventory = parseMtxStatus(text);
      expect(LibraryInventory.parse(inventory)).toEqual(inventory);
      const header = /(\d+) Drives, (\d+) Slots \( (\d+) Import\/Export \)/.exec(text)!;
      expect([inventory.drives.length, inventory.slots.length + inventory.mailSlots.length, inventory.mailSlots.length], name).toEqual([
        Number(header[1]),
        Number(header[2]),
        Number(header[3]),
      ]);
    }
  });

  it('an LTO-9 library: two loaded drives with their source slot and barcode, a full import/export slot, a cleaning tape', () => {
    const inventory = parseMtxStatus(fixture('hera-lto9-2-drives-24-slots.txt'));
    expect(inventory.drives).toEqual([
      { index: 0, full: true, sourceSlot: 8, barcode: '042142L9' },
      { index: 1, full: true, sourceSlot: 8, barcode: 'HER002L9' },
    ]);
    expect(inventory.slots).toHaveLength(23);
    expect(inventory.slots[0]).toEqual({ slot: 1, full: true, barcode: 'HER006L9' });
    expect(inventory.slots[7]).toEqual({ slot: 8, full: false });
    expect(inventory.slots[11]).toEqual({ slot: 12, full: true, barcode: 'CLN003L1' });
    expect(inventory.mailSlots).toEqual([{ slot: 24, full: true, barcode: 'HER003L9' }]);
  });

  it('a Tandberg StorageLoader after a Unit Attention: the Request Sense dump is skipped, padded barcodes are trimmed', () => {
    const inventory = parseMtxStatus(fixture('tandberg-storageloader-unit-attention.txt'));
    expect(inventory.drives).toEqual([{ index: 0, full: false }]);
    expect(inventory.slots.map((s) => s.barcode)).toEqual(['000711L4', 'A00008L5', 'A00034L5', 'A00014L5', 'A00036L5', 'A00025L5', '000218L5']);
    expect(inventory.mailSlots).toEqual([]);
  });

  it('a Quantum SuperLoader 3: the drive loaded from slot 6, whose slot reads empty', () => {
    const inventory = parseMtxStatus(fixture('quantum-superloader3.txt'));
    expect(inventory.drives).toEqual([{ index: 0, full: true, sourceSlot: 6, barcode: 'NDD311L3' }]);
    expect(inventory.slots.filter((s) => s.full)).toEqual([{ slot: 8, full: true, barcode: 'NDD312L3' }]);
    expect(inventory.slots.find((s) => s.slot === 6)).toEqual({ slot: 6, full: false });
  });

  it('no barcode reader: full slots and drives without barcodes, a drive whose source the library does not know', () => {
    const inventory = parseMtxStatus(fixture('format-no-barcode-reader.txt'));
    expect(inventory.drives).toEqual([
      { index: 0, full: true },
      { index: 1, full: true, sourceSlot: 2 },
    ]);
    expect(inventory.slots).toEqual([
      { slot: 1, full: true },
      { slot: 2, full: false },
      { slot: 3, full: true },
      { slot: 4, full: false },
      { slot: 5, full: true },
    ]);
    expect(inventory.mailSlots).toEqual([{ slot: 6, full: false }]);
  });

  it('alternate volume tags: kept apart from the barcode, on drives (" = ") and slots ("="), also alone', () => {
    const inventory = parseMtxStatus(fixture('format-alternate-volume-tags.txt'));
    expect(inventory.drives[0]).toEqual({ index: 0, full: true, sourceSlot: 1, barcode: 'A00001L5', alternateBarcode: 'B00001' });
    expect(inventory.slots).toEqual([
      { slot: 1, full: false },
      { slot: 2, full: true, barcode: 'A00002L5', alternateBarcode: 'B00002' },
      { slot: 3, full: true, alternateBarcode: 'B00003' },
    ]);
    expect(inventory.mailSlots).toEqual([{ slot: 4, full: true, barcode: 'A00004L5' }]);
  });
});

describe('mtx status parsing: what it refuses and what it tolerates', () => {
  const refused = (text: string): CairnError => {
    try {
      parseMtxStatus(text);
    } catch (error) {
      expect(error).toBeInstanceOf(CairnError);
      expect((error as CairnError).statusCode).toBe(StatusCode.SYSTEM_ERROR_DURING_RESTORE);
      return error as CairnError;
    }
    throw new Error('expected the output to be refused');
  };

  it('refuses an output cut short: fewer elements than its header counts', () => {
    const text = fixture('hera-lto9-2-drives-24-slots.txt').split('\n').slice(0, 10).join('\n');
    expect(refused(text).message).toMatch(/the header says 2 drives, 24 slots \(1 import\/export\) but 2 drives, 7 slots \(0 import\/export\) are listed/);
  });

  it('refuses an element line it cannot read rather than dropping the element', () => {
    expect(refused('  Storage Changer /dev/sg0:1 Drives, 1 Slots ( 0 Import/Export )\nData Transfer Element 0:Empty\n      Storage Element 1:Unknown\n').message).toMatch(
      /cannot read the slot line "Storage Element 1:Unknown"/,
    );
  });

  it('refuses output with no status at all (an error message on stdout, an empty output)', () => {
    expect(refused('mtx: cannot open SCSI device /dev/sg9 - No such file or directory\n').message).toMatch(/no "Storage Changer" header and no element lines/);
    expect(refused('').message).toMatch(/\(empty output\)/);
  });

  it('takes mtx 1.2\'s "Data Transfer Element:Empty" (no index) as drive 0, and a header without counts', () => {
    expect(parseMtxStatus('  Storage Changer /dev/tape/by-id/REPLACE_ME\nData Transfer Element:Empty\n      Storage Element 1:Full :VolumeTag=X1\n')).toEqual({
      drives: [{ index: 0, full: false }],
      slots: [{ slot: 1, full: true, barcode: 'X1' }],
      mailSlots: [],
    });
  });

  it('ignores a tag on an empty slot and CRLF line ends', () => {
    expect(parseMtxStatus('  Storage Changer /dev/sg0:1 Drives, 1 Slots ( 0 Import/Export )\r\nData Transfer Element 0:Empty\r\n      Storage Element 1:Empty:VolumeTag=OLD001\r\n').slots).toEqual([
      { slot: 1, full: false },
    ]);
  });
});
