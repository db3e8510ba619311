import { describe, expect, it } from 'vitest';
import { reconcileInventory } from '#core/media/inventory.ts';
import { newMedia, type Media } from '#core/model/tape-media.ts';

const at = new Date('2026-11-01T02:00:00Z');
const drives = [
  { name: 'd0', index: 0 },
  { name: 'd1', index: 1 },
];
const media = (id: string, where: { robot?: string; slot?: number; pool?: string; drive?: string } = {}): Media => ({ ...newMedia(id, at, where), ...(where.drive ? { drive: where.drive } : {}) });

describe('inventory reconciliation (vmupdate)', () => {
  it('adds barcodes the media manager does not know to scratch, at their slot', () => {
    const plan = reconcileInventory('lib1', [], drives, { slots: [{ slot: 1, barcode: 'A00001' }, { slot: 2 }], drives: [] });
    expect(plan.add).toEqual([{ mediaId: 'A00001', place: { slot: 1 }, reason: 'new volume at slot 1: added to the scratch pool' }]);
    expect(plan).toMatchObject({ move: [], leave: [], unchanged: [], problems: [] });
  });

  it('leaves volumes that are where the media manager has them unchanged', () => {
    const plan = reconcileInventory('lib1', [media('A00001', { robot: 'lib1', slot: 1 })], drives, { slots: [{ slot: 1, barcode: 'A00001' }], drives: [] });
    expect(plan).toMatchObject({ add: [], move: [], leave: [], unchanged: ['A00001'] });
  });

  it('moves known volumes to their new slot, into a drive (keeping the home slot), and from outside or another robot', () => {
    const known = [media('A00001', { robot: 'lib1', slot: 1 }), media('A00002', { robot: 'lib1', slot: 2 }), media('A00003'), media('A00004', { robot: 'lib2', slot: 9 })];
    const plan = reconcileInventory('lib1', known, drives, {
      slots: [{ slot: 3, barcode: 'A00001' }, { slot: 4, barcode: 'A00003' }, { slot: 5, barcode: 'A00004' }],
      drives: [{ index: 1, barcode: 'A00002', sourceSlot: 2 }],
    });
    expect(plan.move).toEqual([
      { mediaId: 'A00001', place: { slot: 3 }, reason: 'found at slot 3, recorded slot 1: moved' },
      { mediaId: 'A00003', place: { slot: 4 }, reason: 'found at slot 4, recorded outside the robot: moved' },
      { mediaId: 'A00004', place: { slot: 5 }, reason: 'found at slot 5, recorded robot lib2: moved' },
      { mediaId: 'A00002', place: { slot: 2, drive: 'd1' }, reason: 'found at drive d1 (home slot 2), recorded slot 2: moved' },
    ]);
  });

  it('sends volumes of this robot the library no longer holds outside, and leaves other robots alone', () => {
    const known = [media('A00001', { robot: 'lib1', slot: 1 }), media('B00001', { robot: 'lib2', slot: 1 }), media('C00001')];
    const plan = reconcileInventory('lib1', known, drives, { slots: [{ slot: 1 }], drives: [{ index: 0 }] });
    expect(plan.leave).toEqual([{ mediaId: 'A00001', reason: 'is no longer in the library (recorded at slot 1): moved outside robot lib1' }]);
  });

  it('reports full slots without a barcode, bad and duplicate barcodes, and changes nothing for them', () => {
    const known = [media('A00001', { robot: 'lib1', slot: 1 })];
    const plan = reconcileInventory('lib1', known, drives, {
      slots: [{ slot: 1, barcode: 'A00001' }, { slot: 2, full: true }, { slot: 3, barcode: 'not-a-barcode!' }, { slot: 4, barcode: 'A00001' }, { slot: 5 }],
      drives: [{ index: 0, full: true }],
    });
    expect(plan.problems).toEqual([
      { where: 'slot 2', reason: 'holds a volume without a barcode: not added (label it, or add it by hand)' },
      { where: 'slot 3', reason: 'barcode "not-a-barcode!" is not a media id (1 to 16 letters or digits): not added' },
      { where: 'slot 4', reason: 'barcode A00001 is reported more than once: left as it is' },
      { where: 'drive d0 (index 0)', reason: 'holds a volume without a barcode: not added (label it, or add it by hand)' },
    ]);
    expect(plan).toMatchObject({ add: [], move: [], leave: [], unchanged: [] });
  });

  it('does not add a volume in an import/export slot, and a known one leaves the robot', () => {
    const plan = reconcileInventory('lib1', [media('A00001', { robot: 'lib1', slot: 1 })], drives, { slots: [], drives: [], importExport: [{ slot: 10, barcode: 'A00001' }, { slot: 11, barcode: 'N00001' }] });
    expect(plan.add).toEqual([]);
    expect(plan.leave).toEqual([{ mediaId: 'A00001', reason: 'is in an import/export slot (recorded at slot 1): moved outside robot lib1' }]);
    expect(plan.problems.map((p) => p.where)).toEqual(['import/export slot 10', 'import/export slot 11']);
  });

  it('reports a loaded drive the media manager does not have, and still places its volume by home slot', () => {
    const plan = reconcileInventory('lib1', [], drives, { slots: [], drives: [{ index: 7, barcode: 'A00001', sourceSlot: 3 }] });
    expect(plan.problems).toEqual([{ where: 'drive index 7', reason: 'the media manager has no drive with index 7 in robot lib1: its volume is not recorded in a drive' }]);
    expect(plan.add).toEqual([{ mediaId: 'A00001', place: { slot: 3 }, reason: 'new volume at slot 3: added to the scratch pool' }]);
  });
});
