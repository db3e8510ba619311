import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { TarExtractor } from '#agent/restore/tar-extractor.ts';
import type { MemberDigests } from '#agent/image/fragment-digest.ts';
import { pack as tarPack } from 'tar-stream';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import type { Image } from '#core/model/image.ts';
import type { IndexEntry } from '#core/model/task.ts';
import { StatusCode } from '#core/status-codes.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { copy1, headerOffset, indexLines, rewriteFragment, sha256 } from './forge.ts';
import { backupTask, catalogImage, failureOf, patterned, recordingReporter, tempDir } from './helpers.ts';

const MiB = 1024 * 1024;

/**
 * Restore checks each file against the index with the digest the fragment
 * check (`tar-members-1`) computes of the same bytes, instead of hashing
 * them again: whichever way a file is written (small ones by the writer
 * thread, large ones streamed, one at a time with `existing: 'rename'`), a
 * flipped byte in its data must still keep it out of the target and be
 * named, with the sha256 of the bytes actually read.
 */
describe('restore checks every file with the fragment check’s digest of its bytes', () => {
  const contents = new Map<string, Buffer>([
    ['small.txt', patterned(1000, 1)],
    ['mid.bin', patterned(300_000, 2)],
    ['big.bin', patterned(5 * MiB + 123, 3)],
    ['after.txt', patterned(700, 4)],
  ]);
  let source: ReturnType<typeof tempDir>;
  const scratch: Array<ReturnType<typeof tempDir>> = [];

  beforeAll(() => {
    source = tempDir('one-hash-src');
    for (const [name, bytes] of contents) writeFileSync(path.join(source.dir, name), bytes);
  });
  afterAll(() => {
    source.cleanup();
    for (const dir of scratch.splice(0)) dir.cleanup();
  });

  async function backedUp(): Promise<{ store: FsObjectStore; image: Image; lines: IndexEntry[]; target: string }> {
    const unit = tempDir('one-hash-unit');
    const sandbox = tempDir('one-hash-target');
    scratch.push(unit, sandbox);
    const store = new FsObjectStore(unit.dir);
    // One fragment holds every file.
    const task = backupTask(unit.dir, [source.dir], { storageUnit: { name: 'disk1', kind: 'disk', path: unit.dir, fragmentSizeBytes: 64 * MiB } });
    const image = catalogImage(task, await runBackup(task, { store, openStore: openStorageUnit, reporter: recordingReporter(), now: () => new Date() }));
    return { store, image, lines: await indexLines(store, image), target: path.join(sandbox.dir, 'target') };
  }

  const restoredPath = (target: string, name: string): string => path.join(target, source.dir, name);

  it('restores every file byte for byte, each counted as verified', async () => {
    const f = await backedUp();
    expect(copy1(f.image).fragments.map((fragment) => fragment.checksum)).toEqual(['tar-members-1']);

    const result = await restoreImage({ store: f.store, image: f.image, targetDir: f.target });

    for (const [name, bytes] of contents) expect(readFileSync(restoredPath(f.target, name)).equals(bytes), name).toBe(true);
    expect(result.verified).toBe(contents.size);
  });

  for (const existing of ['refuse', 'rename'] as const) {
    for (const name of ['small.txt', 'mid.bin', 'big.bin']) {
      it(`keeps ${name} out of the target when a byte of its data is flipped, naming the sha256 of what was read (existing: ${existing})`, async () => {
        const f = await backedUp();
        const line = f.lines.find((l) => l.path === path.join(source.dir, name))!;
        const flipped = Buffer.from(contents.get(name)!);
        const at = Math.floor(flipped.length / 2);
        flipped[at] = flipped[at]! ^ 0x01;
        await rewriteFragment(
          f.store,
          f.image,
          1,
          (bytes) => {
            const offset = headerOffset(bytes, line) + 512 + at;
            bytes[offset] = bytes[offset]! ^ 0x01;
            return bytes;
          },
          { reseal: false },
        );

        const failure = await failureOf(restoreImage({ store: f.store, image: f.image, targetDir: f.target, existing }));
        const best = await restoreImage({ store: f.store, image: f.image, targetDir: `${f.target}-best`, existing, continueOnError: true });

        expect(failure.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
        expect(failure.message).toBe(`image ${f.image.backupId} is corrupt: ${line.path}: content sha256 ${sha256(flipped)} does not match the index (${line.sha256})`);
        expect(failure.details[1]).toMatch(/^fragment 1 \(.*\): the fragment is \d+ bytes as expected, with sha256 [0-9a-f]{64} where the catalog says [0-9a-f]{64}$/);
        expect(readdirSync(path.join(f.target, source.dir)).sort()).not.toContain(name);
        expect(readdirSync(path.join(f.target, source.dir)).filter((entry) => entry.startsWith('.cairn-restore-'))).toEqual([]);
        // Best effort: the other files are restored and verified, the damaged one is listed and absent.
        expect(best.failures[0]).toBe(`${line.path}: content sha256 ${sha256(flipped)} does not match the index (${line.sha256})`);
        expect(readdirSync(path.join(`${f.target}-best`, source.dir)).sort()).toEqual([...contents.keys()].filter((n) => n !== name).sort());
        for (const [other, bytes] of contents) if (other !== name) expect(readFileSync(restoredPath(`${f.target}-best`, other)).equals(bytes), other).toBe(true);
        expect(best.verified).toBe(contents.size - 1);
      });
    }
  }

  describe('the extractor', () => {
    /** A one-file archive: `f` with `content`. */
    async function oneFile(content: Buffer): Promise<Buffer> {
      const pack = tarPack();
      pack.entry({ name: 'f', size: content.length, mode: 0o644 }, content);
      pack.finalize();
      const chunks: Buffer[] = [];
      for await (const chunk of pack) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    }

    async function extractWith(digests: MemberDigests | undefined, content: Buffer, existing: 'overwrite' | 'rename'): Promise<{ corrupt: string[]; target: string }> {
      const sandbox = tempDir('one-hash-extract');
      scratch.push(sandbox);
      const extractor = await TarExtractor.open({ targetDir: sandbox.dir, existing });
      const tar = await oneFile(content);
      await extractor.extract((async function* () { yield tar; })(), () => ({ restore: true, sha256: sha256(content) }), 'the archive', 0, digests);
      return { corrupt: (await extractor.finish()).corrupt, target: sandbox.dir };
    }

    /** Digests that vouch for the member at byte 512 (data of the first member) with `sha256`, or for nothing. */
    const vouching = (sha: string | undefined): MemberDigests => ({
      covers: (start) => sha !== undefined && start === 512,
      take: (start) => (start === 512 ? sha : undefined),
      passed: () => undefined,
    });

    for (const size of [1000, 5 * MiB]) {
      for (const existing of ['overwrite', 'rename'] as const) {
        it(`judges a ${size}-byte file by the digest the fragment check gives, and hashes it itself when there is none (existing: ${existing})`, async () => {
          const content = patterned(size, 9);

          const lied = await extractWith(vouching('0'.repeat(64)), content, existing);
          const none = await extractWith(vouching(undefined), content, existing);

          // A digest that disagrees with the index keeps even an intact file out: it is the digest that is checked.
          expect(lied.corrupt).toEqual([`/f: content sha256 ${'0'.repeat(64)} does not match the index (${sha256(content)})`]);
          expect(readdirSync(lied.target)).toEqual([]);
          expect(none.corrupt).toEqual([]);
          expect(readFileSync(path.join(none.target, 'f')).equals(content)).toBe(true);
        });
      }
    }
  });
});
