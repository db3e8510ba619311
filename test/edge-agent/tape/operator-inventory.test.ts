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

    const answered = await runOperatorCommand(JSON.stringify({ kind: 'inventory', task: { robot } }));

    const result = InventoryResult.parse(answered);
    expect(result).toEqual(answered);
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
    await expect(runOperatorCommand(JSON.stringify({ kind: 'mount', task: {} }))).rejects.toMatchObject({ statusCode: 20 });
    const robot = { name: 'lib1', changer: { type: 'changer-script' as const, script: '/nonexistent/changer', changerDevice: '/nonexistent/conf' }, drives: [{ index: 0, path: '/nonexistent/drive0' }] };
    await expect(runOperatorCommand(JSON.stringify({ kind: 'inventory', task: { robot } }))).rejects.toMatchObject({ statusCode: 174 });
  });

  it('unloads a drive on the cloud scheduler\'s idle unload (its volume back to its slot) and says so; an empty drive is left alone', async () => {
    library = diskChangerLibrary({ slots: 2, drives: 1, barcodes: { 1: 'OPS001' } });
    await library.changer.load(1, 0);
    const robot = { name: 'lib1', changer: { type: 'changer-script' as const, script: DISK_CHANGER, changerDevice: library.changerDevice }, drives: [{ index: 0, path: library.drives[0]! }] };
    const unmount = { kind: 'unmount', task: { jobId: 77, robot, drive: { name: 'lib1-d0', index: 0, path: library.drives[0]!, blockSize: 65536 }, mediaId: 'OPS001', slot: 1, keepLoaded: false } };

    expect(await runOperatorCommand(JSON.stringify(unmount))).toEqual({ drive: 'lib1-d0', unloaded: true });
    expect((await library.changer.loaded(0)).full).toBe(false);
    expect(await runOperatorCommand(JSON.stringify(unmount))).toEqual({ drive: 'lib1-d0', unloaded: false });
  });
});
