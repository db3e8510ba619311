import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { runCairn } from '../cli/cli-process.ts';

const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;

/** Every path under `root` (files and directories), root included. */
function pathsUnder(root: string): string[] {
  const out = [root];
  if (lstatSync(root).isDirectory()) for (const name of readdirSync(root)) out.push(...pathsUnder(join(root, name)));
  return out;
}

/**
 * Root backs up a tree holding a 0600 key under the usual umask 022: nothing
 * Cairn writes — the home, the catalog database, every fragment, index and
 * manifest, a disk storage unit on a shared path — may be readable by
 * another local user.
 */
describe('what Cairn stores is private', () => {
  let work: string;
  let home: string;
  let shared: string;
  let umask: number;
  beforeAll(async () => {
    umask = process.umask(0o022);
    work = mkdtempSync(join(tmpdir(), 'cairn-private-'));
    // A shared place: anyone may look into it, as on an NFS export.
    chmodSync(work, 0o755);
    home = join(work, 'home');
    shared = join(work, 'shared-unit');
    const source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 100_000 });
    writeFileSync(join(source, 'id_ed25519'), 'PRIVATE KEY\n', { mode: 0o600 });
    for (const args of [
      ['storage-unit', 'add', '--name', 'shared', '--kind', 'disk', '--path', shared],
      ['backup', '--client', 'host1', '--path', source],
      ['backup', '--client', 'host1', '--path', source, '--storage-unit', 'shared'],
    ]) {
      const result = await runCairn(home, args);
      expect(result.code, result.stderr).toBe(0);
    }
  }, 60_000);
  afterAll(() => {
    process.umask(umask);
    rmSync(work, { recursive: true, force: true });
  });

  it('creates every directory 0700 and every file 0600', () => {
    const paths = [...pathsUnder(home), ...pathsUnder(shared)];
    expect(paths.some((p) => p.endsWith('fragment-00001.tar'))).toBe(true);
    expect(paths.some((p) => p.endsWith('cairn.db'))).toBe(true);
    const open = paths.filter((p) => p !== shared && (lstatSync(p).mode & 0o077) !== 0).map((p) => `${p}: ${(lstatSync(p).mode & 0o7777).toString(8)}`);
    expect(open).toEqual([]);
  });

  it.skipIf(!isRoot)('lets another local user read nothing under the home or the storage unit', () => {
    const paths = [...pathsUnder(home), ...pathsUnder(shared)];
    // The other user tries to read each file and list each directory it is given by name.
    const probe = `
      const fs = require('node:fs');
      const readable = [];
      for (const p of JSON.parse(process.argv[1])) {
        try { fs.statSync(p).isDirectory() ? fs.readdirSync(p) : fs.readFileSync(p); readable.push(p); } catch {}
      }
      process.stdout.write(JSON.stringify(readable));`;
    const result = spawnSync(process.execPath, ['-e', probe, JSON.stringify(paths)], { uid: NOBODY, gid: NOBODY, encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    // The shared directory itself is the operator's; what Cairn put in it is not listable.
    expect((JSON.parse(result.stdout) as string[]).filter((p) => p !== shared)).toEqual([]);
  });
});
