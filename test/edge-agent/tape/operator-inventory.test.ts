import { afterEach, describe, expect, it } from 'vitest';
import { runOperatorCommand } from '#agent/transport/run-command.ts';
import { InventoryResult } from '#core/model/tape-task.ts';
import { DISK_CHANGER, diskChangerLibrary, diskChangerSkipReason, type DiskChangerLibrary } from './disk-changer-library.ts';

const skip = diskChangerSkipReason();

/** The agent's side of `cairn --aws robot inventory`: the `inventory` command run on the library's host, here Debian's disk-changer. */
describe.skipIf(Boolean(skip))(`the inventory command on the agent${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let library: DiskChangerLibrary | undefined;
  afterEach(async () => {
    await library?.cleanup();
    library = undefined;
  });

  it('reports the slots, drives and barcodes the changer holds (a loaded drive names its slot), in the shape the CLI checks, and moves nothing', async () => {
    library = diskChangerLibrary({ slots: 4, drives: 2, barcodes: { 1: 'OPS001', 2: 'OPS002', 4: 'OPS004' } });
    await library.changer.load(2, 1);
    const robot = { name: 'lib1', changer: { type: 'changer-script' as const, script: DISK_CHANGER, changerDevice: library.changerDevice }, drives: library.drives.map((path, index) => ({ index, path })) };

    const result = await runOperatorCommand(JSON.stringify({ kind: 'inventory', task: { robot } }));

    expect(InventoryResult.parse(result)).toEqual(result);
    expect(result.robot).toBe('lib1');
    expect(result.report.slots.filter((s) => s.full).map((s) => [s.slot, s.barcode])).toEqual([
      [1, 'OPS001'],
      [4, 'OPS004'],
    ]);
    expect(result.report.drives).toEqual([
      { index: 0, full: false },
      expect.objectContaining({ index: 1, full: true, barcode: 'OPS002', sourceSlot: 2 }),
    ]);
    expect((await library.changer.loaded(1)).full).toBe(true);
  });

  it('refuses a workflow\'s command (20) and reports a changer that cannot run with 174', async () => {
    await expect(runOperatorCommand(JSON.stringify({ kind: 'unmount', task: {} }))).rejects.toMatchObject({ statusCode: 20 });
    const robot = { name: 'lib1', changer: { type: 'changer-script' as const, script: '/nonexistent/changer', changerDevice: '/nonexistent/conf' }, drives: [{ index: 0, path: '/nonexistent/drive0' }] };
    await expect(runOperatorCommand(JSON.stringify({ kind: 'inventory', task: { robot } }))).rejects.toMatchObject({ statusCode: 174 });
  });
});
