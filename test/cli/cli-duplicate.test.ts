import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCairn, type CliResult } from './cli-process.ts';

/** `cairn duplicate` as an operator runs it, and `cairn restore` falling back to the copy when the primary is gone. */
describe('cairn duplicate', () => {
  let work: string;
  let home: string;
  let source: string;
  const cairn = (...args: string[]): Promise<CliResult> => runCairn(home, args);

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'cairn-cli-duplicate-'));
    home = join(work, 'home');
    source = join(work, 'source');
    mkdirSync(join(source, 'docs'), { recursive: true });
    writeFileSync(join(source, 'docs', 'a.txt'), 'alpha\n');
    writeFileSync(join(source, 'docs', 'b.txt'), 'bravo\n');
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('copies an image to another unit as copy 2, lists both copies, and restores from the copy when the primary is gone, saying so', async () => {
    const backup = await cairn('backup', '--client', 'dhost', '--path', source, '--json');
    expect(backup.code, backup.stderr).toBe(0);
    const { backupId } = JSON.parse(backup.stdout) as { backupId: string };
    const added = await cairn('storage-unit', 'add', '--name', 'second', '--kind', 'disk', '--path', join(work, 'second'));
    expect(added.code, added.stderr).toBe(0);

    const dup = await cairn('duplicate', '--backup-id', backupId, '--to', 'second', '--retention-days', '90', '--json');
    expect(dup.code, dup.stderr).toBe(0);
    expect(JSON.parse(dup.stdout)).toMatchObject({ backupId, copyNumber: 2, storageUnit: 'second', fromCopy: 1 });
    const listed = await cairn('images', '--client', 'dhost');
    expect(listed.stdout).toMatch(new RegExp(`${backupId}: copy 1 on \\S+ \\(primary\\) until \\S+, copy 2 on second until `));
    const again = await cairn('duplicate', '--backup-id', backupId, '--to', 'second');
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already has copy 2 on storage unit second');

    const [image] = JSON.parse((await cairn('images', '--client', 'dhost', '--json')).stdout) as Array<{ storageUnit: string; fragments: Array<{ key: string }> }>;
    const units = JSON.parse((await cairn('storage-unit', 'list', '--json')).stdout) as Array<{ name: string; path: string }>;
    const primary = units.find((u) => u.name === image!.storageUnit)!;
    unlinkSync(join(primary.path, image!.fragments[0]!.key));
    const target = join(work, 'restored');
    const restored = await cairn('restore', '--backup-id', backupId, '--to', target);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stderr).toMatch(/copy 1 of image \S+ on storage unit \S+ cannot be read: fragment 1 .* is missing; trying copy 2 \(storage unit second\)/);
    expect(readFileSync(join(target, source, 'docs', 'a.txt'), 'utf8')).toBe('alpha\n');
    expect(readFileSync(join(target, source, 'docs', 'b.txt'), 'utf8')).toBe('bravo\n');
  }, 120_000);
});
