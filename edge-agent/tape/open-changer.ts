import type { Changer } from '#core/ports/changer.ts';
import type { Drive, Robot } from '#core/model/tape-media.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { ChangerScriptChanger } from './changers/changer-script.ts';
import { MtxChanger } from './changers/mtx-changer.ts';

/**
 * The robot of a library as the media manager records it (`cairn robot
 * add`): `mtx -f DEVICE`, or the changer script called with each drive's
 * path as its ARCHIVE-DEVICE, by drive index (for disk-changer, the
 * `BASE/driveN` link it makes on load). `drives` are the robot's drives
 * (MediaDatabase.listDrives(robot)); their indexes must be 0..n-1, as
 * `robot add` numbers them, because a changer script is given the device of
 * drive N as the N-th ARCHIVE-DEVICE.
 */
export function openChanger(robot: Robot, drives: readonly Pick<Drive, 'index' | 'path'>[]): Changer {
  switch (robot.changer.type) {
    case 'mtx':
      return new MtxChanger({ device: robot.changer.device });
    case 'changer-script': {
      const byIndex = [...drives].sort((a, b) => a.index - b.index);
      const gap = byIndex.findIndex((d, i) => d.index !== i);
      if (byIndex.length === 0 || gap >= 0) {
        const why = byIndex.length === 0 ? 'it has no drives' : `its drive indexes are ${byIndex.map((d) => d.index).join(', ')}, not 0 to ${byIndex.length - 1}`;
        throw new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `robot ${robot.name}: cannot drive its changer script: ${why}`);
      }
      return new ChangerScriptChanger({ script: robot.changer.script, changerDevice: robot.changer.changerDevice, drives: byIndex.map((d) => d.path) });
    }
  }
}
