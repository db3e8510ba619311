import type { Command } from 'commander';
import { CairnError, NotFoundError } from '#core/errors.ts';
import { describePlace } from '#core/media/inventory.ts';
import type { Robot } from '#core/model/tape-media.ts';
import type { InventoryResult } from '#core/ports/media-manager.ts';
import { StatusCode } from '#core/status-codes.ts';
import { requireAgentInstance } from '#core/clients/agent-instance.ts';
import { type GlobalOptions, withBackend } from '../backend.ts';
import { formatBytes, printJson, table } from '../output.ts';
import { robotDefinition, type RobotAddOptions } from '../robot-definition.ts';
import { parseSize } from '../size-option.ts';
import { UsageError } from '../usage-errors.ts';
import { inventoryThroughAgent } from '../robot-inventory-agent.ts';
import { listRobotRows } from '../storage-listing.ts';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** How the robot's changer is reached, as the list shows it. */
export function changerLabel(robot: Robot): string {
  return robot.changer.type === 'mtx' ? `mtx -f ${robot.changer.device}` : `${robot.changer.script} ${robot.changer.changerDevice}`;
}

/** `cairn robot` (tpconfig for robots, vmupdate for the inventory). */
export function registerRobots(program: Command): void {
  const robot = program.command('robot').description('tape libraries: their changer and drives (like tpconfig), and their inventory (vmupdate)');
  robot
    .command('add')
    .description('record a tape library: its changer and its drives, in drive index order (drive N is named NAME-dN)')
    .argument('<name>', 'robot name')
    .option('--mtx <device>', 'the changer\'s SCSI generic device, driven with mtx (/dev/sgN; lsscsi -g lists it as mediumx)')
    .option('--changer-script <path>', 'a Bacula/Bareos changer script (mtx-changer, a vendor\'s script, disk-changer)')
    .option('--changer-device <file>', 'the script\'s CHANGER-DEVICE argument (/dev/sgN for mtx-changer, the configuration file for disk-changer)')
    .option('--drive <path>', 'a drive, once per drive, in index order: /dev/nstN is an st drive, any other path a file tape (disk-changer: BASE/driveN)', collect, [])
    .option('--block-size <size>', 'record size written to its drives, a multiple of 512 (default 256K)', parseSize)
    .option('--file-tape-capacity <size>', 'capacity of each volume of a virtual library (file tapes): its end of media', parseSize)
    .option('--client <name>', 'the client whose agent drives the library (required with --aws; default: this machine, the standalone runtime)')
    .option('--json', 'print JSON')
    .action(async (name: string, o: RobotAddOptions & { json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const definition = robotDefinition(name, o, command, { local: !globals.aws });
      if (globals.aws && o.client === undefined) throw new UsageError('on a deployed stack, name the client whose agent drives the library with --client NAME', command);
      await withBackend(globals, async (backend) => {
        // The cloud reaches a library only through its client's agent: that client must be mapped to an instance (48 otherwise).
        if (backend.kind === 'aws') await requireAgentInstance(backend.config, o.client!, undefined);
        const added = await backend.emm.addRobot(definition.robot, backend.clock.now());
        const drives = [];
        try {
          for (const drive of definition.drives) drives.push(await backend.emm.addDrive(drive));
        } catch (error) {
          // A drive name taken by another robot: the robot is not left half recorded.
          await backend.emm.removeRobot(added.name).catch(() => undefined);
          throw error;
        }
        if (o.json ?? globals.json) return printJson({ ...added, drives });
        console.log(`robot ${added.name} added (${changerLabel(added)}), ${drives.length} drive${drives.length === 1 ? '' : 's'}: ${drives.map((d) => `${d.name} ${d.path}`).join(', ')}; block size ${formatBytes(drives[0]!.blockSize)}`);
        console.log(`next: cairn robot inventory ${added.name}`);
      });
    });
  robot
    .command('list')
    .description('tape libraries, their changer, drives and volumes')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        const rows = await listRobotRows(backend.emm);
        if (o.json ?? globals.json) return printJson(rows);
        console.log(
          table(
            ['NAME', 'CHANGER', 'DRIVES', 'VOLUMES', 'CLIENT', 'FILE TAPE CAPACITY'],
            rows.map((r) => [r.name, changerLabel(r), r.drives.length, r.volumes, r.client ?? '(this host)', r.fileTapeCapacityBytes === undefined ? '' : formatBytes(r.fileTapeCapacityBytes)]),
          ),
        );
      });
    });
  robot
    .command('remove')
    .description('forget a tape library and its drives; its volumes stay, outside any robot')
    .argument('<name>', 'robot name')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        if ((await backend.emm.getRobot(name)) === undefined) throw new NotFoundError('robot', name);
        const units = (await backend.config.listStorageUnits()).filter((u) => u.kind === 'tape' && u.robot === name).map((u) => u.name);
        if (units.length > 0) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `robot ${name} is used by storage unit${units.length === 1 ? '' : 's'} ${units.join(', ')}: change or remove ${units.length === 1 ? 'it' : 'them'} first`);
        const volumes = (await backend.emm.listMedia({ robot: name })).map((m) => m.mediaId);
        await backend.emm.removeRobot(name);
        if (o.json ?? globals.json) return printJson({ robot: name, removed: true, volumesOutside: volumes });
        console.log(`robot ${name} removed${volumes.length > 0 ? `; ${volumes.length} volume${volumes.length === 1 ? ' is' : 's are'} now outside any robot` : ''}`);
      });
    });
  robot
    .command('inventory')
    .description('read the library\'s slots and barcodes and update the media database (vmupdate): new volumes to scratch, moved ones, ones that left')
    .argument('<name>', 'robot name')
    .option('--on-this-host', 'with --aws: run the changer on this machine (the host the library is attached to) instead of on the robot\'s agent through SSM')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { json?: boolean; onThisHost?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        // With --aws the changer is where the library is attached: the robot's agent reads it (SSM), or this host does.
        const result =
          backend.kind === 'aws' && !o.onThisHost
            ? await inventoryThroughAgent(backend, globals, name)
            : await (await import('#agent/tape/robot-inventory.ts')).takeInventory(backend.emm, name, backend.clock.now());
        if (o.json ?? globals.json) return printJson(inventoryJson(result));
        printInventory(result);
      });
    });
}

function inventoryJson(result: InventoryResult): Record<string, unknown> {
  const { plan } = result;
  return { robot: plan.robot, added: plan.add, moved: plan.move, left: plan.leave, unchanged: plan.unchanged, problems: plan.problems };
}

function printInventory(result: InventoryResult): void {
  const { plan } = result;
  const rows = [
    ...plan.add.map((a) => ['added', a.mediaId, describePlace(a.place), a.reason]),
    ...plan.move.map((m) => ['moved', m.mediaId, describePlace(m.place), m.reason]),
    ...plan.leave.map((l) => ['left', l.mediaId, 'outside', l.reason]),
    ...plan.problems.map((p) => ['problem', '', p.where, p.reason]),
  ];
  if (rows.length > 0) console.log(table(['CHANGE', 'MEDIA', 'WHERE', 'WHY'], rows));
  const n = (count: number, word: string) => `${count} ${word}`;
  console.log(`robot ${plan.robot}: ${n(plan.add.length, 'added')}, ${n(plan.move.length, 'moved')}, ${n(plan.leave.length, 'left the robot')}, ${n(plan.unchanged.length, 'unchanged')}, ${n(plan.problems.length, plan.problems.length === 1 ? 'problem' : 'problems')}`);
}
