import { execFileSync } from 'node:child_process';
import { chownSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { escapedName, fsPathOf, nameFromBytes } from '#core/model/file-name.ts';

/** The tree of special files, times, owners and names (special-files.test.ts, full-tree.test.ts) and how two trees are compared. */

/**
 * A tree of the kinds of file the reader keeps besides data, directories
 * and links (issue 11, item 5): a FIFO, a character and a block device,
 * nanosecond, pre-1970 and post-2100 mtimes, owners with and without names,
 * and a socket, which is listed as skipped and makes the status 1 (as does
 * a device whose minor no tar header holds, left out with
 * `unkeepable: false`; the socket is made by whoever binds its path).
 */
export function buildTree(root: string, options: { unkeepable?: boolean } = {}): { socket: string } {
  const at = (relative: string): string => path.join(root, relative);
  const touch = (relative: string, time: string): void => void execFileSync('touch', ['-h', '-d', `@${time}`, '--', at(relative)]);
  mkdirSync(at('dev'));
  execFileSync('mkfifo', ['-m', '640', at('dev/fifo')]);
  execFileSync('mknod', ['-m', '620', at('dev/null-like'), 'c', '1', '3']);
  execFileSync('mknod', ['-m', '660', at('dev/loop-like'), 'b', '7', '0']);
  if (options.unkeepable !== false) execFileSync('mknod', ['-m', '600', at('dev/big-minor'), 'c', '136', '300000']);
  mkdirSync(at('times'));
  writeFileSync(at('times/ns'), 'nanoseconds\n');
  writeFileSync(at('times/before-1970'), 'pre-epoch\n');
  writeFileSync(at('times/year-2300'), 'far future\n');
  writeFileSync(at('times/whole-second'), 'whole\n');
  symlinkSync('ns', at('times/link-before-1970'));
  touch('times/ns', '1700000000.123456789');
  touch('times/before-1970', '-1234567890.987654321');
  touch('times/year-2300', '10413792000.000000001');
  touch('times/whole-second', '1600000000');
  touch('times/link-before-1970', '-86400.5');
  touch('dev/fifo', '1650000000.111111111');
  touch('dev/null-like', '-1.000000001');
  mkdirSync(at('owners'));
  writeFileSync(at('owners/daemon'), 'named owner\n');
  chownSync(at('owners/daemon'), 1, 1);
  writeFileSync(at('owners/nameless'), 'an id without a name\n');
  chownSync(at('owners/nameless'), 54321, 65432);
  execFileSync('mknod', ['-m', '600', at('owners/device-owned'), 'c', '1', '5']);
  chownSync(at('owners/device-owned'), 1, 2);
  // Names that are not UTF-8 (Latin-1 bytes, a cut UTF-8 sequence), a symlink whose target is not, a hard link to such a name.
  const latin1 = nameFromBytes(Buffer.from('names/caf\xe9-\xff', 'latin1'));
  const cut = nameFromBytes(Buffer.concat([Buffer.from('names/dir-'), Buffer.from([0xe2, 0x82])]));
  mkdirSync(at('names'));
  writeFileSync(fsPathOf(at(latin1)), 'latin-1 name\n');
  mkdirSync(fsPathOf(at(cut)));
  writeFileSync(fsPathOf(at(`${cut}/inside \\x41 \uFFFD.txt`)), 'inside a directory whose name is cut UTF-8\n');
  symlinkSync(fsPathOf(nameFromBytes(Buffer.from('caf\xe9-\xff', 'latin1'))), fsPathOf(at('names/link-to-latin1')));
  linkSync(fsPathOf(at(latin1)), fsPathOf(at(nameFromBytes(Buffer.from('names/hard-\xfe', 'latin1')))));
  touch('owners', '1500000000.5');
  touch('dev', '1400000000.000000999');
  touch('times', '-10.25');
  return { socket: at('socket') };
}

export interface Node {
  type: string;
  mode: bigint;
  uid: bigint;
  gid: bigint;
  rdev: bigint;
  mtimeNs: bigint;
  size: bigint;
  nlink: bigint;
  content?: string;
  target?: string;
}

/** Everything under `root` that a restore must give back exactly, sockets left out. */
export function snapshot(root: string): Map<string, Node> {
  const out = new Map<string, Node>();
  const visit = (relative: string): void => {
    const absolute = fsPathOf(path.join(root, relative));
    const stats: BigIntStats = lstatSync(absolute, { bigint: true });
    if (stats.isSocket()) return;
    const node: Node = { type: typeOf(stats), mode: stats.mode, uid: stats.uid, gid: stats.gid, rdev: stats.isCharacterDevice() || stats.isBlockDevice() ? stats.rdev : 0n, mtimeNs: stats.mtimeNs, size: stats.isFile() ? stats.size : 0n, nlink: stats.nlink };
    if (stats.isFile()) node.content = readFileSync(absolute, 'latin1');
    if (stats.isSymbolicLink()) node.target = escapedName(nameFromBytes(readlinkSync(absolute, { encoding: 'buffer' })));
    out.set(escapedName(relative) || '.', node);
    if (stats.isDirectory()) for (const name of readdirSync(absolute, { encoding: 'buffer' }).map(nameFromBytes).sort()) visit(relative ? `${relative}/${name}` : name);
  };
  visit('');
  return out;
}

function typeOf(stats: BigIntStats): string {
  if (stats.isFIFO()) return 'fifo';
  if (stats.isCharacterDevice()) return 'character-device';
  if (stats.isBlockDevice()) return 'block-device';
  if (stats.isSymbolicLink()) return 'symlink';
  return stats.isDirectory() ? 'directory' : 'file';
}

/** Both trees entry by entry, so a failure names the entry and the field. */
export function expectSameTree(actual: Map<string, Node>, expected: Map<string, Node>): void {
  expect([...actual.keys()]).toEqual([...expected.keys()]);
  for (const [relative, want] of expected) {
    expect({ relative, ...actual.get(relative) }).toEqual({ relative, ...want });
  }
}
