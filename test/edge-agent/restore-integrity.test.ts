import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { chainRefusal, restorePointInTime } from '#agent/restore/point-in-time.ts';
import { restoreImage, type RestoreOptions } from '#agent/restore/restore.ts';
import type { Image } from '#core/model/image.ts';
import type { IndexEntry } from '#core/model/task.ts';
import { StatusCode } from '#core/status-codes.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { copy1, forgeImage, keyOf, headerOffset, indexLines, objectBytes, rewriteFragment, rewriteIndex, rewriteManifest, setHeaderSize, sha256 } from './forge.ts';
import { backupTask, catalogImage, failureOf, patterned, recordingReporter, tempDir } from './helpers.ts';

const MiB = 1024 * 1024;

/**
 * A tree whose image has three fragments with the 1 MiB fragment size:
 *   1: root/, a/, a/one.bin (past 1 MiB)
 *   2: a/small.txt, b/, b/note.txt, b/two.bin (past 1 MiB)
 *   3: c/, c/three.txt
 * Directories have distinct modes, so a test sees that they are set.
 */
function buildTree(root: string): void {
  for (const dir of ['a', 'b', 'c']) mkdirSync(path.join(root, dir));
  writeFileSync(path.join(root, 'a/one.bin'), patterned(MiB + 100_000, 1));
  writeFileSync(path.join(root, 'a/small.txt'), 'small\n');
  writeFileSync(path.join(root, 'b/note.txt'), 'note\n');
  writeFileSync(path.join(root, 'b/two.bin'), patterned(MiB + 100_000, 2));
  writeFileSync(path.join(root, 'c/three.txt'), 'three\n');
  chmodSync(root, 0o755);
  chmodSync(path.join(root, 'a'), 0o755);
  chmodSync(path.join(root, 'b'), 0o750);
  chmodSync(path.join(root, 'c'), 0o711);
}

interface Fixture {
  /** The storage unit's directory. */
  unit: string;
  store: FsObjectStore;
  image: Image;
  lines: IndexEntry[];
  /** The restore target: sandbox/target. Nothing else may appear in the sandbox. */
  target: string;
  sandbox: string;
  /** `relative` in the source tree → where restore puts it. */
  restored: (relative: string) => string;
  /** The index line of `relative`. */
  line: (relative: string) => IndexEntry;
}

const modeOf = (p: string): string => (lstatSync(p).mode & 0o7777).toString(8);

describe('restore of a damaged or forged image', () => {
  let source: ReturnType<typeof tempDir>;
  const scratch: Array<ReturnType<typeof tempDir>> = [];

  beforeAll(() => {
    source = tempDir('integrity-src');
    buildTree(source.dir);
  });
  afterAll(() => source.cleanup());
  afterEach(() => {
    for (const dir of scratch.splice(0)) dir.cleanup();
  });

  /** A fresh backup of the tree in a unit of its own, and an empty sandbox. */
  async function backedUp(overrides: { backupId?: string; client?: string; base?: Image; selections?: string[] } = {}, unitDir?: string): Promise<Fixture> {
    const unit = unitDir ?? track(tempDir('integrity-unit')).dir;
    const sandbox = track(tempDir('integrity-sandbox')).dir;
    const store = new FsObjectStore(unit);
    const { base, selections, ...ids } = overrides;
    const task = backupTask(unit, selections ?? [source.dir], {
      ...ids,
      ...(base ? { level: 'differential-incremental', base: { backupId: base.backupId, indexKey: copy1(base).indexKey, indexSha256: copy1(base).indexSha256, storageUnit: { name: 'disk1', kind: 'disk', path: unit, fragmentSizeBytes: MiB } } } : {}),
    });
    const result = await runBackup(task, { store, openStore: openStorageUnit, reporter: recordingReporter(), now: () => new Date() });
    const image = catalogImage(task, result);
    const lines = await indexLines(store, image);
    return {
      unit,
      store,
      image,
      lines,
      sandbox,
      target: path.join(sandbox, 'target'),
      restored: (relative) => path.join(sandbox, 'target', source.dir, relative),
      line: (relative) => lines.find((l) => l.path === path.join(source.dir, relative))!,
    };
  }

  function track<T extends ReturnType<typeof tempDir>>(dir: T): T {
    scratch.push(dir);
    return dir;
  }

  function expectNothingOutside(f: Fixture): void {
    expect(readdirSync(f.sandbox).filter((name) => name !== 'target')).toEqual([]);
  }

  function restore(f: Fixture, image: Image, options: Partial<RestoreOptions> = {}): ReturnType<typeof restoreImage> {
    return restoreImage({ store: f.store, image, targetDir: f.target, ...options });
  }

  describe('the catalog is the root of trust', () => {
    it('refuses an image whose manifest and index were swapped with another image’s, and writes nothing', async () => {
      // Prepare: a second image of the same client in the same unit; its manifest and index replace the first one's.
      const f = await backedUp();
      const other = await backedUp({ backupId: 'host1_1700000100' }, f.unit);
      await f.store.put(copy1(f.image).manifestKey, await objectBytes(f.store, copy1(other.image).manifestKey));
      await f.store.put(copy1(f.image).indexKey, await objectBytes(f.store, copy1(other.image).indexKey));

      // Act
      const failure = await failureOf(restore(f, f.image));

      // Assess
      expect(failure.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      expect(failure.message).toBe(`image host1_1700000000 is corrupt: manifest ${copy1(f.image).manifestKey} disagrees with the catalog: backupId: the manifest has "host1_1700000100", the catalog "host1_1700000000"`);
      expect(failure.details).toContain(`indexKey: the manifest has "${copy1(other.image).indexKey}", the catalog "${copy1(f.image).indexKey}"`);
      expect(failure.details).toContain(`fragments[0].location: the manifest has ${JSON.stringify(copy1(other.image).fragments[0]!.location)}, the catalog ${JSON.stringify(copy1(f.image).fragments[0]!.location)}`);
      expect(existsSync(f.target)).toBe(false);
      expectNothingOutside(f);
    });

    it('refuses an index that is not the one the catalog vouches for, and writes nothing', async () => {
      const f = await backedUp();
      const other = await backedUp({ backupId: 'host1_1700000100', selections: [path.join(source.dir, 'c')] }, f.unit);
      await f.store.put(copy1(f.image).indexKey, await objectBytes(f.store, copy1(other.image).indexKey));

      const failure = await failureOf(restore(f, f.image));

      expect(failure.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      expect(failure.message).toMatch(new RegExp(`^image host1_1700000000 is corrupt: index ${copy1(f.image).indexKey} has sha256 [0-9a-f]{64}, expected ${copy1(f.image).indexSha256}`));
      expect(existsSync(f.target)).toBe(false);
    });

    it('refuses a manifest that is missing, naming it', async () => {
      const f = await backedUp();
      await f.store.delete(copy1(f.image).manifestKey);

      const failure = await failureOf(restore(f, f.image));

      expect(failure.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      expect(failure.message).toBe(`image host1_1700000000 is corrupt: its manifest ${copy1(f.image).manifestKey} is missing from storage unit disk1`);
    });

    it('refuses a manifest that says a fragment has the older whole-byte checksum where the catalog says tar-members-1', async () => {
      // Prepare: a forger swaps fragment 1 and rewrites its manifest entry as a stored-bytes sha256, which is easier to forge for a whole file.
      const f = await backedUp();
      const fragment = copy1(f.image).fragments[0]!;
      expect(fragment.checksum).toBe('tar-members-1');
      const bytes = await objectBytes(f.store, keyOf(fragment));
      await rewriteManifest(f.store, f.image, (m) => {
        m.fragments[0] = { ...m.fragments[0]!, checksum: 'stored-bytes', sha256: sha256(bytes) };
      });

      const failure = await failureOf(restore(f, f.image));

      expect(failure.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      expect(failure.details).toContain('fragments[0].checksum: the manifest has "stored-bytes", the catalog "tar-members-1"');
      expect(existsSync(f.target)).toBe(false);
    });

    it('refuses a file whose index line has no sha256, before anything is written', async () => {
      const f = await backedUp();
      const image = await rewriteIndex(f.store, f.image, (lines) => lines.map((l) => (l.path === f.line('a/small.txt').path ? { ...l, sha256: undefined } : l)));

      const failure = await failureOf(restore(f, image));

      expect(failure.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      expect(failure.message).toBe(`image host1_1700000000 is corrupt: ${f.line('a/small.txt').path}: the index of image host1_1700000000 lists it as a file without a sha256`);
      expect(existsSync(f.target)).toBe(false);
    });

    const ghost = (f: Fixture, offset: number): IndexEntry => ({ ...f.line('a/small.txt'), path: path.join(source.dir, 'a/ghost.txt'), fragment: 1, offset });
    it.each([
      {
        case: 'a line after the last member of its fragment',
        edit: (f: Fixture) => (lines: IndexEntry[]) => {
          const at = lines.findIndex((l) => l.path === f.line('a/one.bin').path) + 1;
          return [...lines.slice(0, at), ghost(f, copy1(f.image).fragments[0]!.bytes - 1024), ...lines.slice(at)];
        },
        expected: (f: Fixture) => `${path.join(source.dir, 'a/ghost.txt')}: the index places it in fragment 1 (${keyOf(copy1(f.image).fragments[0]!)}) at byte ${copy1(f.image).fragments[0]!.bytes - 1024}, where there is no such member`,
      },
      {
        case: 'a line between two members',
        edit: (f: Fixture) => (lines: IndexEntry[]) => {
          const at = lines.findIndex((l) => l.path === f.line('a/one.bin').path);
          return [...lines.slice(0, at), ghost(f, f.line('a/one.bin').offset - 1), ...lines.slice(at)];
        },
        expected: (f: Fixture) => `${path.join(source.dir, 'a/ghost.txt')}: the index places it in fragment 1 (${keyOf(copy1(f.image).fragments[0]!)}) at byte ${f.line('a/one.bin').offset - 1}, where there is no such member`,
      },
      {
        case: 'a member without its line',
        edit: (f: Fixture) => (lines: IndexEntry[]) => lines.filter((l) => l.path !== f.line('a/small.txt').path),
        expected: (f: Fixture) => `${f.line('a/small.txt').path}: fragment 2 (${keyOf(copy1(f.image).fragments[1]!)}) holds it (header at byte ${headerOffsetOf(f, 'a/small.txt')}) where the index does not list it`,
      },
    ])('names the disagreement between index and fragment: $case (status 2001), keeping directory modes', async ({ edit, expected }) => {
      // Prepare
      const f = await backedUp();
      headerOffsets.set(f, await headerOffsetsOf(f));
      const image = await rewriteIndex(f.store, f.image, edit(f));

      // Act
      const failure = await failureOf(restore(f, image));

      // Assess: named, what came before is restored with its directory modes, nothing after.
      expect(failure.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      expect(failure.message).toBe(`image host1_1700000000 is corrupt: ${expected(f)}`);
      expect(modeOf(f.restored(''))).toBe('755');
      expect(modeOf(f.restored('a'))).toBe('755');
      expect(existsSync(f.restored('c'))).toBe(false);
      expectNothingOutside(f);
    });
  });

  describe('a point-in-time chain', () => {
    it('follows no image of another client: an index line naming one fails the restore before anything is written', async () => {
      // Prepare: host1's image claims an unchanged file whose data is in host2's image.
      const theirs = await backedUp({ backupId: 'host2_1699990000', client: 'host2' });
      const ours = await backedUp({}, theirs.unit);
      const stolen = { ...theirs.line('b/note.txt'), path: path.join(source.dir, 'a/stolen.txt'), fragment: 0, offset: 0, fromBackupId: theirs.image.backupId };
      const final = await rewriteIndex(ours.store, ours.image, (lines) => [...lines, stolen]);
      const images = new Map([final, theirs.image].map((i) => [i.backupId, i]));
      const openImage = async (backupId: string) => ({ image: images.get(backupId)!, store: ours.store });

      // Act
      const failure = await failureOf(restorePointInTime({ image: final, openImage, targetDir: ours.target }));

      // Assess
      expect(failure.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      expect(failure.message).toBe(
        'the point-in-time image chain of host1_1700000000 is corrupt: image host2_1699990000, which the index of host1_1700000000 names as holding 1 unchanged file(s): ' +
          'it is an image of client host2, and a point-in-time chain follows images of client host1 only; not followed',
      );
      expect(existsSync(ours.target)).toBe(false);

      // With best effort, the refused link is listed and the rest of the tree is restored.
      const partial = await restorePointInTime({ image: final, openImage, targetDir: ours.target, continueOnError: true });
      expect(partial.failures).toEqual([failure.message.slice(failure.message.indexOf(': ') + 2)]);
      expect(partial.images).toEqual(['host1_1700000000']);
      expect(readFileSync(ours.restored('b/note.txt'), 'utf8')).toBe('note\n');
      expect(existsSync(ours.restored('a/stolen.txt'))).toBe(false);
    });

    it('checks a file taken from an earlier image against the sha256 in the final image’s index', async () => {
      // Prepare: a full and an incremental in which nothing changed; the incremental's line for one file is forged.
      const full = await backedUp();
            const incremental = await backedUp({ backupId: 'host1_1700003600', base: full.image }, full.unit);
      expect(incremental.line('b/note.txt').fromBackupId).toBe(full.image.backupId);
      const forgedSha = sha256(Buffer.from('something else\n'));
      const final = await rewriteIndex(incremental.store, incremental.image, (lines) => lines.map((l) => (l.path === incremental.line('b/note.txt').path ? { ...l, sha256: forgedSha } : l)));
      const images = new Map([final, full.image].map((i) => [i.backupId, i]));
      const openImage = async (backupId: string) => ({ image: images.get(backupId)!, store: full.store });

      // Act
      const failure = await failureOf(restorePointInTime({ image: final, openImage, targetDir: incremental.target }));

      // Assess
      expect(failure.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      expect(failure.message).toBe(
        `the point-in-time image chain of host1_1700003600 is corrupt: ${incremental.line('b/note.txt').path} (from image host1_1700000000): ` +
          `the index of image host1_1700000000 has 5 bytes with sha256 ${full.line('b/note.txt').sha256}; image host1_1700003600 expects 5 bytes with sha256 ${forgedSha}`,
      );
      expect(existsSync(incremental.target)).toBe(false);
    });

    const at = (backupId: string, overrides: Partial<Image> = {}): Image => ({ ...sampleImage, backupId, createdAt: new Date(Number(backupId.split('_')[1]) * 1000).toISOString(), ...overrides });
    const sampleImage = { client: 'host1', policy: 'daily' } as Image;
    it.each([
      { case: 'an older image of the same client', candidate: at('host1_1700000000'), policy: undefined, refusal: undefined },
      { case: 'an image of another client', candidate: at('host2_1700000000', { client: 'host2' }), policy: undefined, refusal: /client host2.*client host1 only/ },
      { case: 'an image of another policy, when a policy was asked for', candidate: at('host1_1700000000', { policy: 'weekly' }), policy: 'daily', refusal: /policy weekly, not daily/ },
      { case: 'an image of another policy, when none was asked for', candidate: at('host1_1700000000', { policy: 'weekly' }), policy: undefined, refusal: undefined },
      { case: 'an image newer than the final one', candidate: at('host1_1800000000'), policy: undefined, refusal: /not before host1_1700086400/ },
      { case: 'the final image itself', candidate: at('host1_1700086400'), policy: undefined, refusal: /not before/ },
    ])('may follow $case: $refusal', ({ candidate, policy, refusal }) => {
      const refused = chainRefusal(candidate, candidate.backupId, at('host1_1700086400'), policy);
      if (refusal === undefined) expect(refused).toBeUndefined();
      else expect(refused).toMatch(refusal);
    });
  });

  describe('a corrupt tar', () => {
    it('names a truncated fragment and the member being read (2001), and keeps directory modes', async () => {
      // Prepare: fragment 2 loses its last 100 000 bytes, inside b/two.bin.
      const f = await backedUp();
      const fragment = copy1(f.image).fragments[1]!;
      await rewriteFragment(f.store, f.image, 2, (bytes) => bytes.subarray(0, bytes.length - 100_000), { reseal: false });

      // Act
      const failure = await failureOf(restore(f, f.image));

      // Assess
      expect(failure.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      const member = f.line('b/two.bin').path.slice(1);
      expect(failure.message).toMatch(
        new RegExp(`^image host1_1700000000 is corrupt: fragment 2 \\(${keyOf(fragment)}\\) is not a readable tar archive in the data of member ${escape(member)} \\(header at byte \\d+\\): the archive ends before the data its headers promise .*; the fragment is truncated: ${fragment.bytes - 100_000} of ${fragment.bytes} bytes`),
      );
      expect(failure.details).toHaveLength(1);
      expect([modeOf(f.restored('')), modeOf(f.restored('a')), modeOf(f.restored('b'))]).toEqual(['755', '755', '750']);
      expect(readFileSync(f.restored('b/note.txt'), 'utf8')).toBe('note\n');
      expect(readdirSync(f.restored('b'))).toEqual(['note.txt']);
      expect(existsSync(f.restored('c'))).toBe(false);
      expectNothingOutside(f);
    });

    it('names a size field larger than the data (2001), even with the fragment checksum resealed', async () => {
      const f = await backedUp();
      const three = f.line('c/three.txt');
      const image = await rewriteFragment(f.store, f.image, 3, (bytes) => {
        setHeaderSize(bytes, headerOffset(bytes, three), 5000);
        return bytes;
      });

      const failure = await failureOf(restore(f, image));

      expect(failure.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      const label = `fragment 3 (${keyOf(copy1(image).fragments[2]!)})`;
      expect(failure.message).toBe(`image host1_1700000000 is corrupt: ${three.path}: ${label}: the member's size is 5000, the index says 6`);
      expect(failure.details[1]).toMatch(new RegExp(`^${escape(label)} is not a readable tar archive in the data of member ${escape(three.path.slice(1))} .*: the archive ends before the data its headers promise`));
      expect(existsSync(f.restored('c/three.txt'))).toBe(false);
      expect(modeOf(f.restored('c'))).toBe('711');
      expectNothingOutside(f);
    });

    it('restores a directory whose header has a size field, as POSIX says (no data follows a directory header)', async () => {
      const f = await backedUp();
      const image = await rewriteFragment(f.store, f.image, 2, (bytes) => {
        setHeaderSize(bytes, headerOffset(bytes, f.line('b')), 1000);
        return bytes;
      });

      const restored = await restore(f, image);

      expect(restored).toMatchObject({ refused: [], failures: [], files: f.lines.length });
      expect(modeOf(f.restored('b'))).toBe('750');
      expect(readFileSync(f.restored('b/note.txt'), 'utf8')).toBe('note\n');
    });

    it('names data after a directory header as a corrupt fragment (2001), and keeps directory modes', async () => {
      const f = await backedUp();
      const image = await rewriteFragment(f.store, f.image, 2, (bytes) => {
        const at = headerOffset(bytes, f.line('b')) + 512;
        setHeaderSize(bytes, at - 512, 512);
        return Buffer.concat([bytes.subarray(0, at), Buffer.alloc(512, 0x41), bytes.subarray(at)]);
      });

      const failure = await failureOf(restore(f, image));

      expect(failure.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      expect(failure.message).toMatch(
        new RegExp(`^image host1_1700000000 is corrupt: fragment 2 \\(${escape(keyOf(copy1(image).fragments[1]!))}\\) is not a readable tar archive after member ${escape(f.line('b').path.slice(1))}/ \\(header at byte \\d+\\): a header block fails its checksum$`),
      );
      expect(modeOf(f.restored('b'))).toBe('750');
      expectNothingOutside(f);
    });

    it('refuses a member whose name the file system cannot hold (ENAMETOOLONG) and restores the others', async () => {
      // Prepare: a tar made by tar-stream, with an index, manifest and catalog record that agree with it.
      const f = await backedUp();
      const long = `forged/${'x'.repeat(300)}.txt`;
      const image = await forgeImage(f.store, 'forger_1700000000', [
        { name: 'forged/', type: 'directory', mode: 0o750 },
        { name: 'forged/before.txt', content: 'before\n' },
        { name: long, content: 'too long\n' },
        { name: 'forged/after.txt', content: 'after\n' },
      ]);

      // Act
      const restored = await restore(f, image);

      // Assess
      expect(restored.refused).toEqual([`${long}: path too long (ENAMETOOLONG)`]);
      expect(restored.failures).toEqual([]);
      expect(readdirSync(path.join(f.target, 'forged')).sort()).toEqual(['after.txt', 'before.txt']);
      expect(modeOf(path.join(f.target, 'forged'))).toBe('750');
      expectNothingOutside(f);
    });

    it('names a fragment missing from the storage unit, and with continueOnError restores the others', async () => {
      const f = await backedUp();
      const fragment = copy1(f.image).fragments[2]!;
      await f.store.delete(keyOf(fragment));

      const failure = await failureOf(restore(f, f.image));
      const partial = await restore(f, f.image, { continueOnError: true, existing: 'overwrite' });

      expect(failure.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      expect(failure.message).toBe(`image host1_1700000000 is corrupt: fragment 3 (${keyOf(fragment)}) of image host1_1700000000 is missing from storage unit disk1`);
      expect(partial.failures).toEqual([
        `fragment 3 (${keyOf(fragment)}) of image host1_1700000000 is missing from storage unit disk1`,
        `${f.line('c').path}: not restored: fragment 3 (${keyOf(fragment)}) is missing`,
        `${f.line('c/three.txt').path}: not restored: fragment 3 (${keyOf(fragment)}) is missing`,
      ]);
      expect(readFileSync(f.restored('b/note.txt'), 'utf8')).toBe('note\n');
      expect(existsSync(f.restored('c'))).toBe(false);
    });

    it('sets directory modes when the restore is aborted (150)', async () => {
      const f = await backedUp();
      const stop = new AbortController();

      const failure = await failureOf(restore(f, f.image, { signal: stop.signal, onProgress: (p) => p.currentPath.endsWith('one.bin') && stop.abort() }));

      expect(failure.statusCode).toBe(StatusCode.TERMINATED_BY_ADMINISTRATOR);
      expect([modeOf(f.restored('')), modeOf(f.restored('a'))]).toEqual(['755', '755']);
      expect(existsSync(f.restored('b'))).toBe(false);
    });
  });

  describe('best effort', () => {
    it('with continueOnError restores the intact fragments around a corrupt one and lists what it could not restore', async () => {
      // Prepare: a flipped bit in b/note.txt's header breaks fragment 2 from there on.
      const f = await backedUp();
      const fragment = copy1(f.image).fragments[1]!;
      await rewriteFragment(
        f.store,
        f.image,
        2,
        (bytes) => {
          const at = headerOffset(bytes, f.line('b/note.txt')) + 10;
          bytes[at] = bytes[at]! ^ 0x01;
          return bytes;
        },
        { reseal: false },
      );

      // Act
      const restored = await restore(f, f.image, { continueOnError: true });

      // Assess: fragments 1 and 3 whole, fragment 2 up to the damage; the rest listed.
      expect(restored.failures).toEqual([
        expect.stringMatching(new RegExp(`^fragment 2 \\(${escape(keyOf(fragment))}\\) is not a readable tar archive after member ${escape(f.line('b').path.slice(1))}/ .*: a header block fails its checksum$`)),
        `${f.line('b/note.txt').path}: not restored: fragment 2 (${keyOf(fragment)}) is unreadable from there on`,
        `${f.line('b/two.bin').path}: not restored: fragment 2 (${keyOf(fragment)}) is unreadable from there on`,
      ]);
      expect(readFileSync(f.restored('a/one.bin')).equals(patterned(MiB + 100_000, 1))).toBe(true);
      expect(readFileSync(f.restored('a/small.txt'), 'utf8')).toBe('small\n');
      expect(readFileSync(f.restored('c/three.txt'), 'utf8')).toBe('three\n');
      expect(readdirSync(f.restored('b'))).toEqual([]);
      expect([modeOf(f.restored('b')), modeOf(f.restored('c'))]).toEqual(['750', '711']);
    });

    it('without it, a file that fails its sha256 ends the restore at the end of its fragment, naming the file and the fragment', async () => {
      const f = await backedUp();
      await rewriteFragment(
        f.store,
        f.image,
        1,
        (bytes) => {
          const at = headerOffset(bytes, f.line('a/one.bin')) + 512 + 1000;
          bytes[at] = bytes[at]! ^ 0xff;
          return bytes;
        },
        { reseal: false },
      );

      const failure = await failureOf(restore(f, f.image));

      expect(failure.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      expect(failure.message).toMatch(new RegExp(`^image host1_1700000000 is corrupt: ${escape(f.line('a/one.bin').path)}: content sha256 [0-9a-f]{64} does not match the index \\(${f.line('a/one.bin').sha256}\\)$`));
      expect(failure.details[1]).toMatch(/^fragment 1 \(.*\): the fragment is \d+ bytes as expected, with sha256 [0-9a-f]{64} where the catalog says [0-9a-f]{64}$/);
      expect(existsSync(f.restored('a/one.bin'))).toBe(false);
      expect(existsSync(f.restored('a/small.txt'))).toBe(false);
      expect(modeOf(f.restored('a'))).toBe('755');
    });
  });

  describe('what is already in the target', () => {
    it('refuses a non-empty target unless told, and keeps each replaced entry as NAME.cairn-old[.N] when told to rename', async () => {
      const f = await backedUp();
      const paths = [path.join(source.dir, 'c')];
      await restore(f, f.image, { paths });
      writeFileSync(f.restored('c/three.txt'), 'changed since\n');

      const refusal = await failureOf(restore(f, f.image, { paths }));
      const first = await restore(f, f.image, { paths, existing: 'rename' });
      const second = await restore(f, f.image, { paths, existing: 'rename' });

      expect(refusal.statusCode).toBe(StatusCode.INVALID_COMMAND_USAGE);
      expect(refusal.message).toMatch(new RegExp(`^restore target ${escape(f.target)} is not empty \\(it holds "${escape(source.dir.split('/')[1]!)}"\\); nothing was restored`));
      const three = f.line('c/three.txt').path;
      expect(first.renamed).toEqual([`${three}: kept as ${three}.cairn-old`]);
      expect(second.renamed).toEqual([`${three}: kept as ${three}.cairn-old.1`]);
      expect(readFileSync(`${f.restored('c/three.txt')}.cairn-old`, 'utf8')).toBe('changed since\n');
      expect(readFileSync(`${f.restored('c/three.txt')}.cairn-old.1`, 'utf8')).toBe('three\n');
      expect(readFileSync(f.restored('c/three.txt'), 'utf8')).toBe('three\n');
    });

    it('names the paths that match nothing in the image (227), before anything is written', async () => {
      const f = await backedUp();

      const failure = await failureOf(restore(f, f.image, { paths: [path.join(source.dir, 'a'), '/no/such', 'nor/this'] }));

      expect(failure.statusCode).toBe(StatusCode.IMAGE_NOT_FOUND);
      expect(failure.message).toBe('nothing in image host1_1700000000 matches /no/such, nor/this; nothing was restored');
      expect(existsSync(f.target)).toBe(false);
    });
  });
});

/** Offsets of members' own headers, for messages that quote them. */
const headerOffsets = new WeakMap<Fixture, Map<string, number>>();
async function headerOffsetsOf(f: Fixture): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const fragment of copy1(f.image).fragments) {
    const bytes = await objectBytes(f.store, keyOf(fragment));
    for (const line of f.lines.filter((l) => l.fragment === fragment.number)) out.set(line.path, headerOffset(bytes, line));
  }
  return out;
}
function headerOffsetOf(f: Fixture, relative: string): number {
  return headerOffsets.get(f)!.get(f.line(relative).path)!;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
