import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, lstatSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pack as createPack, type Pack } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractTarStream } from '#agent/restore/tar-extractor.ts';
import { parseMemberPath } from '#agent/restore/safe-path.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { tempDir } from './helpers.ts';

type Member = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; linkname?: string; content?: string };

/** A tar archive made by tar-stream, holding exactly the members given, in order. */
async function* craftedTar(members: Member[]): AsyncGenerator<Uint8Array> {
  const pack: Pack = createPack();
  const writing = (async () => {
    for (const m of members) {
      await new Promise<void>((resolve, reject) => {
        const header = { name: m.name, type: m.type ?? 'file', linkname: m.linkname, mode: m.type === 'directory' ? 0o755 : 0o644, mtime: new Date(1_600_000_000_000) };
        if ((m.type ?? 'file') === 'file') pack.entry(header, m.content ?? '', (error) => (error ? reject(error) : resolve()));
        else pack.entry(header, (error) => (error ? reject(error) : resolve()));
      });
    }
    pack.finalize();
  })();
  for await (const chunk of pack as AsyncIterable<Uint8Array>) yield chunk;
  await writing;
}

/** Every path under `root`, relative, sorted. */
function listAll(root: string): string[] {
  const out: string[] = [];
  const visit = (relative: string): void => {
    for (const name of readdirSync(path.join(root, relative)).sort()) {
      const child = relative ? `${relative}/${name}` : name;
      out.push(child);
      if (lstatSync(path.join(root, child)).isDirectory()) visit(child);
    }
  };
  visit('');
  return out;
}

describe('member names', () => {
  it('accepts plain relative paths and refuses the ones that could escape', () => {
    expect(parseMemberPath('home/a/b.txt')).toEqual({ segments: ['home', 'a', 'b.txt'], relative: 'home/a/b.txt' });
    expect(parseMemberPath('./home//a/')).toEqual({ segments: ['home', 'a'], relative: 'home/a' });
    expect(parseMemberPath('/etc/passwd')).toEqual({ refused: 'absolute path' });
    expect(parseMemberPath('../evil')).toEqual({ refused: 'path contains a ".." segment' });
    expect(parseMemberPath('a/../../evil')).toEqual({ refused: 'path contains a ".." segment' });
    expect(parseMemberPath('a\0b')).toEqual({ refused: 'name contains a NUL byte' });
  });
});

describe('extracting a hostile archive', () => {
  // sandbox/target is the restore target; sandbox/ and outside/ must not change.
  let sandbox: ReturnType<typeof tempDir>;
  let outside: ReturnType<typeof tempDir>;
  let target: string;

  beforeEach(() => {
    sandbox = tempDir('sandbox');
    outside = tempDir('outside');
    target = path.join(sandbox.dir, 'target');
    mkdirSync(target);
    writeFileSync(path.join(outside.dir, 'precious'), 'original\n');
  });

  afterEach(() => {
    sandbox.cleanup();
    outside.cleanup();
  });

  it('writes nothing outside the target and reports every refused member', async () => {
    // Prepare: a pre-existing symlink in the target that points outside it.
    symlinkSync(outside.dir, path.join(target, 'preexisting'));
    const members: Member[] = [
      { name: 'ok.txt', content: 'fine\n' },
      { name: '../evil', content: 'escaped\n' },
      { name: `${outside.dir}/abs-evil`, content: 'absolute\n' },
      { name: 'a/../../evil2', content: 'climbed\n' },
      { name: 'link', type: 'symlink', linkname: outside.dir },
      { name: 'link/file', content: 'through a symlink\n' },
      { name: 'link/deeper/file', content: 'through a symlink, deeper\n' },
      { name: 'preexisting/file', content: 'through an existing symlink\n' },
      { name: 'hl-out', type: 'link', linkname: '../outside-file' },
      { name: 'hl-abs', type: 'link', linkname: `${outside.dir}/precious` },
      { name: 'hl-via-link', type: 'link', linkname: 'link/precious' },
      { name: 'dir/', type: 'directory' },
      { name: 'dir/kept.txt', content: 'kept\n' },
    ];

    // Act
    const result = await extractTarStream(craftedTar(members), { targetDir: target });

    // Assess: the outside world is untouched ...
    expect(readdirSync(outside.dir)).toEqual(['precious']);
    expect(readFileSync(path.join(outside.dir, 'precious'), 'utf8')).toBe('original\n');
    expect(readdirSync(sandbox.dir)).toEqual(['target']);
    // ... the harmless members are restored, the symlink itself too (it is never followed) ...
    expect(listAll(target)).toEqual(['dir', 'dir/kept.txt', 'link', 'ok.txt', 'preexisting']);
    expect(readlinkSync(path.join(target, 'link'))).toBe(outside.dir);
    // ... and each refusal names the member and why.
    expect(result.refused).toEqual([
      '../evil: path contains a ".." segment',
      `${outside.dir}/abs-evil: absolute path`,
      'a/../../evil2: path contains a ".." segment',
      'link/file: parent link is a symbolic link',
      'link/deeper/file: parent link is a symbolic link',
      'preexisting/file: parent preexisting is a symbolic link',
      'hl-out: hard link target "../outside-file": path contains a ".." segment',
      `hl-abs: hard link target ${JSON.stringify(`${outside.dir}/precious`)}: absolute path`,
      'hl-via-link: hard link target link/precious: parent link is a symbolic link',
    ]);
    expect(result.files).toBe(4);
  });

  it('replaces a symlink in the way of a file or directory instead of following it', async () => {
    const members: Member[] = [
      { name: 'trap', type: 'symlink', linkname: `${outside.dir}/precious` },
      { name: 'trap', content: 'replaces the link\n' },
      { name: 'trapdir', type: 'symlink', linkname: outside.dir },
      { name: 'trapdir/', type: 'directory' },
      { name: 'trapdir/inside.txt', content: 'inside a real directory\n' },
    ];
    const result = await extractTarStream(craftedTar(members), { targetDir: target });
    expect(result.refused).toEqual([]);
    expect(readFileSync(path.join(outside.dir, 'precious'), 'utf8')).toBe('original\n');
    expect(readdirSync(outside.dir)).toEqual(['precious']);
    expect(lstatSync(path.join(target, 'trap')).isFile()).toBe(true);
    expect(lstatSync(path.join(target, 'trapdir')).isDirectory()).toBe(true);
    expect(readFileSync(path.join(target, 'trapdir/inside.txt'), 'utf8')).toBe('inside a real directory\n');
  });

  it('links hard links to files already restored inside the target', async () => {
    const members: Member[] = [
      { name: 'data/first', content: 'shared\n' },
      { name: 'data/second', type: 'link', linkname: 'data/first' },
      { name: 'self', type: 'link', linkname: 'self' },
      { name: 'missing', type: 'link', linkname: 'nowhere' },
    ];
    const result = await extractTarStream(craftedTar(members), { targetDir: target });
    expect(lstatSync(path.join(target, 'data/second')).ino).toBe(lstatSync(path.join(target, 'data/first')).ino);
    expect(result.refused).toEqual(['self: hard link to itself', 'missing: hard link target nowhere is not a regular file in the target directory']);
  });

  it('rejects an archive that is not tar with CORRUPT_IMAGE', async () => {
    async function* garbage(): AsyncGenerator<Uint8Array> {
      yield Buffer.alloc(1024, 0x41);
    }
    const failure = await extractTarStream(garbage(), { targetDir: target }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CairnError);
    expect((failure as CairnError).statusCode).toBe(StatusCode.CORRUPT_IMAGE);
    expect(existsSync(path.join(target, 'AAAA'))).toBe(false);
  });
});
