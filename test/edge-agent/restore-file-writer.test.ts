import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pack as createPack, type Pack } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileWriter, type SmallFileOutcome } from '#agent/restore/file-writer.ts';
import { extractTarStream, type DecideMember } from '#agent/restore/tar-extractor.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { patterned, tempDir } from './helpers.ts';

type Member = { name: string; type?: 'file' | 'directory' | 'link'; linkname?: string; content?: Buffer };

/** A tar archive of exactly these members, in order. */
async function* craftedTar(members: Member[]): AsyncGenerator<Uint8Array> {
  const pack: Pack = createPack();
  // A consumer that stops early (a cancelled restore) ends the pack: its entries then fail, which is not this test's concern.
  const writing = (async () => {
    for (const m of members) {
      await new Promise<void>((resolve, reject) => {
        const type = m.type ?? 'file';
        const header = { name: m.name, type, linkname: m.linkname, mode: type === 'directory' ? 0o755 : 0o640, mtime: new Date(1_600_000_000_000) };
        if (type === 'file') pack.entry(header, m.content ?? Buffer.alloc(0), (error) => (error ? reject(error) : resolve()));
        else pack.entry(header, (error) => (error ? reject(error) : resolve()));
      });
    }
    pack.finalize();
  })().catch(() => undefined);
  for await (const chunk of pack as AsyncIterable<Uint8Array>) yield chunk;
  await writing;
}

function content(i: number): Buffer {
  return patterned(100 + ((i * 977) % 9000), i + 1);
}

/** Every name under `root` (recursively) that is a restore's temporary file. */
function tempFiles(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((name) => path.basename(name).startsWith('.cairn-restore-'));
}

/**
 * Makes a directory unwritable even for root (chattr +i; chmod for anyone
 * else), or undoes it. A writer thread's open then fails as a disk error would.
 */
function setUnwritable(dir: string, on: boolean): void {
  if (process.getuid?.() === 0) spawnSync('chattr', [on ? '+i' : '-i', dir]);
  else chmodSync(dir, on ? 0o555 : 0o755);
}

function canMakeUnwritable(scratch: string): boolean {
  const dir = path.join(scratch, 'probe');
  mkdirSync(dir);
  setUnwritable(dir, true);
  let writable = true;
  try {
    writeFileSync(path.join(dir, 'x'), '');
  } catch {
    writable = false;
  }
  setUnwritable(dir, false);
  rmSync(dir, { recursive: true });
  return !writable;
}

/** Lets `decide` run `action` when it sees the member named `name`, and restores everything. */
function onMember(name: string, action: () => void): DecideMember {
  return (member) => {
    if (member.name === name) action();
    return { restore: true };
  };
}

describe('small files written in batches by the writer thread', () => {
  let sandbox: ReturnType<typeof tempDir>;
  let target: string;
  let outside: string;

  beforeEach(() => {
    sandbox = tempDir('file-writer');
    target = path.join(sandbox.dir, 'target');
    outside = path.join(sandbox.dir, 'outside');
    mkdirSync(target);
    mkdirSync(outside);
    writeFileSync(path.join(outside, 'precious'), 'original\n');
  });

  afterEach(() => sandbox.cleanup());

  it('stops at a file the writer cannot write: the files before it are complete, the ones after absent, and the error names it', async (context) => {
    if (!canMakeUnwritable(sandbox.dir)) return context.skip();
    // a/f0..f4, then b/f5 and c/g0..g2, all small enough to travel in one batch; b/ is made unwritable before the batch is sent.
    const members: Member[] = [
      ...[0, 1, 2, 3, 4].map((i) => ({ name: `a/f${i}`, content: content(i) })),
      { name: 'b/f5', content: content(5) },
      ...[0, 1, 2].map((i) => ({ name: `c/g${i}`, content: content(10 + i) })),
    ];
    const rejection = await extractTarStream(craftedTar(members), { targetDir: target, decide: onMember('c/g0', () => setUnwritable(path.join(target, 'b'), true)) }).catch((error: unknown) => error);
    setUnwritable(path.join(target, 'b'), false);

    expect(rejection).toBeInstanceOf(CairnError);
    expect((rejection as CairnError).statusCode).toBe(StatusCode.SYSTEM_ERROR_DURING_RESTORE);
    expect((rejection as CairnError).message).toMatch(new RegExp(`^cannot restore b/f5 under ${target}: permission denied \\((EPERM|EACCES)\\)$`));
    expect(readdirSync(path.join(target, 'b'))).toEqual([]);
    for (let i = 0; i < 5; i++) expect(readFileSync(path.join(target, `a/f${i}`)).equals(content(i)), `a/f${i}`).toBe(true);
    expect(readdirSync(path.join(target, 'c'))).toEqual([]);
    expect(tempFiles(target)).toEqual([]);
  });

  it('begins no file after a cancel: a batch not yet sent writes nothing, and what was written is complete', async () => {
    const members: Member[] = Array.from({ length: 300 }, (_, i) => ({ name: `d/f${String(i).padStart(3, '0')}`, content: content(i) }));
    const controller = new AbortController();
    // The first batch (128 files) is sent when the 129th is read; the cancel comes while the second is being gathered.
    const rejection = await extractTarStream(craftedTar(members), { targetDir: target, signal: controller.signal, decide: onMember('d/f200', () => controller.abort()) }).catch((error: unknown) => error);

    expect((rejection as CairnError).statusCode).toBe(StatusCode.TERMINATED_BY_ADMINISTRATOR);
    const present = readdirSync(path.join(target, 'd')).sort();
    expect(tempFiles(target)).toEqual([]);
    expect(present.every((name) => Number(name.slice(1)) < 128), present.join(' ')).toBe(true);
    for (const name of present) {
      const i = Number(name.slice(1));
      expect(readFileSync(path.join(target, 'd', name)).equals(content(i)), name).toBe(true);
      expect(statSync(path.join(target, 'd', name)).mode & 0o7777).toBe(0o640);
    }
  });

  it('does not follow a symlink planted at a file’s name or in place of its directory between parse and write', async () => {
    const members: Member[] = [
      { name: 'x/at-name', content: Buffer.from('replaces the planted link\n') },
      { name: 'y/under-dir', content: Buffer.from('must not go through the planted directory link\n') },
      { name: 'z/trigger', content: Buffer.from('z\n') },
    ];
    // Both files sit in the unsent batch when z/trigger is decided: then the target is tampered with.
    const result = await extractTarStream(craftedTar(members), {
      targetDir: target,
      decide: onMember('z/trigger', () => {
        symlinkSync(path.join(outside, 'precious'), path.join(target, 'x/at-name'));
        rmSync(path.join(target, 'y'), { recursive: true });
        symlinkSync(outside, path.join(target, 'y'));
      }),
    });

    expect(readFileSync(path.join(outside, 'precious'), 'utf8')).toBe('original\n');
    expect(readdirSync(outside)).toEqual(['precious']);
    expect(lstatSync(path.join(target, 'x/at-name')).isFile()).toBe(true);
    expect(readFileSync(path.join(target, 'x/at-name'), 'utf8')).toBe('replaces the planted link\n');
    expect(result.refused).toEqual(['y/under-dir: parent y is a symbolic link']);
    expect(readFileSync(path.join(target, 'z/trigger'), 'utf8')).toBe('z\n');
    expect(tempFiles(target)).toEqual([]);
  });

  it('restores many files with hard links to files of earlier batches and of the batch still being gathered', async () => {
    const members: Member[] = [];
    for (let i = 0; i < 600; i++) {
      const name = `h/${String(Math.floor(i / 100))}/f${i}`;
      members.push({ name, content: content(i) });
      // Right after its file (still unsent: the link waits for it), and to a file several batches back.
      if (i % 7 === 0) members.push({ name: `${name}-next`, type: 'link', linkname: name });
      if (i % 11 === 0 && i >= 300) members.push({ name: `h/back-${i}`, type: 'link', linkname: `h/${String(Math.floor((i - 300) / 100))}/f${i - 300}` });
    }
    const result = await extractTarStream(craftedTar(members), { targetDir: target });

    expect(result.refused).toEqual([]);
    expect(result.files).toBe(members.length);
    for (const m of members) {
      const file = path.join(target, m.name);
      const linkedTo = m.type === 'link' ? members.find((other) => other.name === m.linkname)! : m;
      expect(readFileSync(file).equals(linkedTo.content!), m.name).toBe(true);
      if (m.type === 'link') expect(statSync(file).ino, m.name).toBe(statSync(path.join(target, m.linkname!)).ino);
    }
    const links = members.filter((m) => m.type === 'link');
    for (const m of members.filter((f) => f.type === undefined)) expect(statSync(path.join(target, m.name)).nlink, m.name).toBe(1 + links.filter((l) => l.linkname === m.name).length);
    expect(links.some((l) => members.some((other) => other.linkname === l.linkname && other !== l))).toBe(true);
    expect(tempFiles(target)).toEqual([]);
  });

  it('checks each file’s sha256 before writing it: a mismatch is never written, the rest of the batch is', async () => {
    const members: Member[] = [0, 1, 2].map((i) => ({ name: `s/f${i}`, content: content(i) }));
    const rejection = await extractTarStream(craftedTar(members), {
      targetDir: target,
      decide: (member) => ({ restore: true, sha256: member.name === 's/f1' ? '0'.repeat(64) : sha256Of(members.find((m) => m.name === member.name)!.content!) }),
    }).catch((error: unknown) => error);

    expect((rejection as CairnError).statusCode).toBe(StatusCode.CORRUPT_IMAGE);
    expect((rejection as CairnError).message).toBe(`corrupt member: /s/f1: content sha256 ${sha256Of(content(1))} does not match the index (${'0'.repeat(64)})`);
    expect(readdirSync(path.join(target, 's')).sort()).toEqual(['f0', 'f2']);
    expect(tempFiles(target)).toEqual([]);
  });
});

function sha256Of(buffer: Buffer): string {
  return createHash('sha256').update(buffer).digest('hex');
}

describe('FileWriter', () => {
  it('leaves each file of a batch cut short (its thread stopped) complete under its name or absent, with no temporary file', async () => {
    const sandbox = tempDir('file-writer-cut');
    try {
      const writer = new FileWriter(sandbox.dir);
      const outcomes: Promise<SmallFileOutcome>[] = [];
      for (let i = 0; i < 120; i++) {
        const data = content(i);
        const view = writer.reserve(data.byteLength);
        view.set(data);
        outcomes.push(writer.add({ temp: path.join(sandbox.dir, `.cairn-restore-${i}`), absolute: path.join(sandbox.dir, `f${i}`), mode: 0o600, mtime: 1_600_000_000, uid: 0, gid: 0, chown: false }, view));
      }
      writer.flush();
      await writer.close();
      const settled = await Promise.all(outcomes);

      for (const [i, outcome] of settled.entries()) {
        const file = path.join(sandbox.dir, `f${i}`);
        if (outcome.status === 'placed') expect(readFileSync(file).equals(content(i)), `f${i}`).toBe(true);
        else expect(outcome).toMatchObject({ status: 'failed', error: { message: "the restore's file writer thread was stopped with files under way" } });
        // A file renamed into place just before the thread stopped is complete all the same.
        if (existsSync(file)) expect(readFileSync(file).equals(content(i)), `f${i}`).toBe(true);
      }
      expect(tempFiles(sandbox.dir)).toEqual([]);
    } finally {
      sandbox.cleanup();
    }
  });
});
