import { createHash } from 'node:crypto';
import { pack as tarPack } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { fragmentChecksum, TAR_MEMBERS_CHECKSUM, TarMembersDigest, TarMembersVerifier } from '#agent/image/fragment-digest.ts';
import { patterned } from './helpers.ts';

const sha256 = (bytes: Uint8Array): Buffer => createHash('sha256').update(bytes).digest();

/** A small archive with what images hold: files (one empty, one with a pax long name), a directory, links. */
async function sampleTar(): Promise<{ tar: Buffer; contents: Buffer[] }> {
  const contents = [patterned(5, 1), patterned(1536, 2), patterned(70_001, 3)];
  const pack = tarPack();
  const done = (async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of pack) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  })();
  const entry = (header: Parameters<typeof pack.entry>[0], data?: Buffer): Promise<void> => new Promise((resolve, reject) => void pack.entry(header, data ?? '', (error) => (error ? reject(error) : resolve())));
  await entry({ name: 'd/', type: 'directory', mode: 0o755 });
  await entry({ name: 'd/a', size: 5 }, contents[0]);
  await entry({ name: 'd/empty', size: 0 });
  await entry({ name: `d/${'long-name-'.repeat(20)}`, size: 1536 }, contents[1]);
  await entry({ name: 'd/link', type: 'symlink', linkname: 'a' });
  await entry({ name: 'd/hard', type: 'link', linkname: 'd/a' });
  await entry({ name: 'd/b', size: 70_001, pax: { mtime: '1700000000.5' } }, contents[2]);
  pack.finalize();
  return { tar: await done, contents };
}

/** tar-members-1 by its definition, found independently of any tar parser: each (unique) content replaced by its sha256 where it sits. */
function expectedDigest(tar: Buffer, contents: Buffer[]): string {
  const hash = createHash('sha256');
  let at = 0;
  for (const content of contents) {
    const start = tar.indexOf(content, at);
    hash.update(tar.subarray(at, start));
    hash.update(sha256(content));
    at = start + content.length;
  }
  hash.update(tar.subarray(at));
  return hash.digest('hex');
}

describe('the fragment checksum tar-members-1', () => {
  it('is the sha256 of the tar stream with each file member’s data replaced by its sha256, however the stream is cut', async () => {
    const { tar, contents } = await sampleTar();
    const expected = expectedDigest(tar, contents);

    const whole = new TarMembersVerifier().update(tar).digest();
    const bytewise = new TarMembersVerifier();
    for (let i = 0; i < tar.length; i += 333) bytewise.update(tar.subarray(i, i + 333));

    expect(whole).toBe(expected);
    expect(bytewise.digest()).toBe(expected);
  });

  it('is what the writer computes from headers and the members’ sha256s alone', async () => {
    // Prepare: the writer sees raw bytes and, for each file's data, only its sha256 (as FragmentWriter does).
    const { tar, contents } = await sampleTar();
    const digest = new TarMembersDigest();
    let at = 0;
    for (const content of contents) {
      const start = tar.indexOf(content, at);
      digest.raw(tar.subarray(at, start));
      digest.member(sha256(content).toString('hex'));
      at = start + content.length;
    }
    digest.raw(tar.subarray(at));

    expect(digest.digest()).toBe(new TarMembersVerifier().update(tar).digest());
  });

  it('changes when any byte changes: in a header, a pax record, file data, padding or the end blocks', async () => {
    const { tar } = await sampleTar();
    const good = new TarMembersVerifier().update(tar).digest();
    const firstData = tar.indexOf(patterned(5, 1));
    const positions = [0, 100, 124, 156, 512, firstData, firstData + 4, firstData + 5, firstData + 200, Math.floor(tar.length / 2), tar.length - 1024, tar.length - 1];

    for (const at of positions) {
      const flipped = Buffer.from(tar);
      flipped[at]! ^= 0x01;
      expect(new TarMembersVerifier().update(flipped).digest(), `byte ${at}`).not.toBe(good);
    }
    expect(new TarMembersVerifier().update(tar.subarray(0, tar.length - 512)).digest()).not.toBe(good);
    expect(new TarMembersVerifier().update(Buffer.concat([tar, Buffer.alloc(512)])).digest()).not.toBe(good);
  });

  it('is recomputed for what the fragment records: tar-members-1, or the sha256 of every stored byte for older fragments', async () => {
    const { tar } = await sampleTar();
    const check = (fragment: Parameters<typeof fragmentChecksum>[0]): string => {
      const hash = fragmentChecksum(fragment);
      hash.update(tar);
      return hash.digest('hex');
    };

    expect(check({ checksum: TAR_MEMBERS_CHECKSUM })).toBe(new TarMembersVerifier().update(tar).digest());
    expect(check({})).toBe(createHash('sha256').update(tar).digest('hex'));
    expect(check({ checksum: 'stored-bytes' })).toBe(createHash('sha256').update(tar).digest('hex'));
  });

  it('offers each file member’s data sha256 by where its data starts, once all of it went through, when asked to keep them', async () => {
    // Prepare: the data offsets of the three files with data, found without a tar parser.
    const { tar, contents } = await sampleTar();
    const starts = contents.map((content) => tar.indexOf(content));
    const verifier = new TarMembersVerifier({ memberDigests: true });

    // Act: the stream arrives up to the middle of the last file's data.
    verifier.update(tar.subarray(0, starts[2]! + 100));

    // Assess: finished members are offered at their data offset and size only; the one under way is covered, not yet given.
    expect(verifier.covers(starts[0]!, 5)).toBe(true);
    expect(verifier.covers(starts[0]!, 6)).toBe(false);
    expect(verifier.covers(starts[0]! + 512, 5)).toBe(false);
    expect(verifier.covers(starts[2]!, 70_001)).toBe(true);
    expect(verifier.take(starts[1]!)).toBe(sha256(contents[1]!).toString('hex'));
    // Taking one forgets it and every earlier one.
    expect(verifier.covers(starts[0]!, 5)).toBe(false);
    expect(verifier.take(starts[1]!)).toBeUndefined();
    expect(verifier.take(starts[2]!)).toBeUndefined();
    verifier.update(tar.subarray(starts[2]! + 100));
    expect(verifier.take(starts[2]!)).toBe(sha256(contents[2]!).toString('hex'));
    expect(verifier.digest()).toBe(expectedDigest(tar, contents));
    // Without being asked, nothing is kept.
    const plain = new TarMembersVerifier().update(tar);
    expect([plain.covers(starts[0]!, 5), plain.take(starts[0]!)]).toEqual([false, undefined]);
  });
});
