import { createHash } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { partialPathOf, reopenPartial } from '#agent/restore/partial-file.ts';

/** The partial file a Read of a tape restore job keeps for the next: only the one it kept, of exactly the bytes expected, is continued. */
describe('a partial file carried between Reads', () => {
  mkdirSync('/tmp/pieced-reads', { recursive: true });
  const dir = mkdtempSync('/tmp/pieced-reads/partial-');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const bytes = Buffer.from('x'.repeat(3000));
  const make = (name: string, content: Buffer = bytes, mode = 0o600): string => {
    const file = path.join(dir, name);
    writeFileSync(file, content, { mode });
    chmodSync(file, mode);
    return file;
  };

  it('is named after the job and the path, next to the file, and says what it is', () => {
    const name = partialPathOf(path.join(dir, 'a', 'big.bin'), 'a/big.bin', '42');
    expect(path.dirname(name)).toBe(path.join(dir, 'a'));
    expect(path.basename(name)).toMatch(/^\.cairn-partial-42-[0-9a-f]{16}$/);
    expect(partialPathOf(path.join(dir, 'a', 'other.bin'), 'a/other.bin', '42')).not.toBe(name);
  });

  it('is reopened with the sha256 state of its bytes when it holds exactly the bytes expected', async () => {
    const reopened = await reopenPartial(make('good'), bytes.length);
    if ('problem' in reopened) throw new Error(reopened.problem);
    reopened.hash.update('tail');
    expect(reopened.hash.digest('hex')).toBe(createHash('sha256').update(bytes).update('tail').digest('hex'));
    await reopened.handle.close();
  });

  it('is refused, with why, when missing, of another size, not private, linked twice, or a symlink', async () => {
    expect(await reopenPartial(path.join(dir, 'missing'), 10)).toEqual({ problem: expect.stringMatching(/missing, the pieces before file byte 10 from the Read before, is not there$/), remove: false });
    expect(await reopenPartial(make('short'), bytes.length + 1)).toEqual({ problem: `its partial file ${path.join(dir, 'short')} holds 3000 bytes, and the index places the pieces on this volume from file byte 3001`, remove: true });
    expect(await reopenPartial(make('open', bytes, 0o644), bytes.length)).toEqual({ problem: expect.stringContaining('has mode 644, not private'), remove: false });
    const twice = make('twice');
    linkSync(twice, path.join(dir, 'twice-link'));
    expect(await reopenPartial(twice, bytes.length)).toEqual({ problem: expect.stringContaining('has 2 links'), remove: false });
    symlinkSync(make('pointed'), path.join(dir, 'link'));
    expect(await reopenPartial(path.join(dir, 'link'), bytes.length)).toEqual({ problem: expect.stringContaining('is a symbolic link'), remove: false });
    expect(existsSync(path.join(dir, 'pointed'))).toBe(true);
  });
});
