import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';

/** One line of /proc/self/mountinfo (proc(5)), the fields the probe decides on. */
export interface MountEntry {
  mountId: number;
  parentId: number;
  /** `major:minor` of the file system's device (st_dev): two mounts with the same one show the same file system. */
  device: string;
  /** The directory of the file system this mount shows ('/' for the whole tree; a subdirectory for a bind mount or a btrfs subvolume). */
  root: string;
  mountPoint: string;
  mountOptions: string[];
  fsType: string;
  /** What was mounted: a device path, `server:/export`, a pool/dataset, or a name such as `tmpfs`. */
  source: string;
  superOptions: string[];
}

/**
 * Parses the text of /proc/<pid>/mountinfo. Hand-written rather than run
 * findmnt: the file is the kernel's own table (findmnt reads the same one
 * through libmount), its format is fixed by proc(5), the parse is a few lines,
 * and the agent then needs no util-linux on the host nor a child process per
 * probe. Fields: `id parent major:minor root mountpoint options [optional...]
 * - fstype source superoptions`; the optional fields end at a lone `-`, and
 * root, mount point and source escape space, tab, newline and backslash as
 * octal (`\040`). A line that does not have this shape is a fault of the
 * reader, not something to skip silently (status 2000, naming the line).
 */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    const [id, parent, device, root, mountPoint, options] = fields;
    const tail = separator < 0 ? [] : fields.slice(separator + 1);
    if (separator < 0 || tail.length < 2 || !/^\d+:\d+$/.test(device ?? '') || !/^\d+$/.test(id ?? '') || !/^\d+$/.test(parent ?? '')) {
      throw new CairnError(StatusCode.INTERNAL_ERROR, `mountinfo line ${index + 1} is not in the format of proc(5): ${JSON.stringify(line)}`);
    }
    entries.push({
      mountId: Number(id),
      parentId: Number(parent),
      device: device!,
      root: unescapeOctal(root!),
      mountPoint: unescapeOctal(mountPoint!),
      mountOptions: options!.split(','),
      fsType: tail[0]!,
      source: unescapeOctal(tail[1]!),
      superOptions: (tail[2] ?? '').split(',').filter((o) => o !== ''),
    });
  });
  return entries;
}

/** The kernel's escape (fs/proc_namespace.c, mangle()): `\ooo` for space, tab, newline and backslash. */
function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
