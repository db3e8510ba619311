import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Header } from 'tar-stream';

const run = promisify(execFile);

/**
 * Creates a FIFO or a device node at `absolute` (which must not exist),
 * owner-only until the caller sets its mode, owner and times.
 *
 * Node has no mknod or mkfifo, so the `mknod` and `mkfifo` commands make
 * them, one process per node: such files are rare (a handful in /dev-like
 * trees), so batching them would not pay for its complexity. Making a
 * device needs root (CAP_MKNOD); the command's error is the reason given.
 */
export async function makeSpecialNode(absolute: string, header: Header): Promise<void> {
  const args =
    header.type === 'fifo'
      ? ['mkfifo', ['-m', '600', '--', absolute]]
      : ['mknod', ['-m', '600', '--', absolute, header.type === 'character-device' ? 'c' : 'b', String(header.devmajor ?? 0), String(header.devminor ?? 0)]];
  try {
    await run(args[0] as string, args[1] as string[]);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new SpecialNodeError(stderr ? stderr.split('\n')[0]! : (error as Error).message);
  }
}

/** The node could not be made (no CAP_MKNOD, a file system without devices): that member is refused, the rest go on. */
export class SpecialNodeError extends Error {}
