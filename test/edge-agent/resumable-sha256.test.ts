import { describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { ResumableSha256 } from '#agent/verify/resumable-sha256.ts';

/** The resumable SHA-256 a tape verify carries between volumes agrees with node:crypto, however the bytes are cut and the state saved. */
describe('ResumableSha256', () => {
  it('matches node:crypto on the FIPS vectors and on every length around the block and padding boundaries', () => {
    expect(ResumableSha256.create().digest('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(ResumableSha256.create().update(Buffer.from('abc')).digest('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    for (let n = 0; n < 200; n++) {
      const data = randomBytes(n);
      expect(ResumableSha256.create().update(data).digest('hex'), `${n} bytes`).toBe(createHash('sha256').update(data).digest('hex'));
    }
  });

  it('saved after any cut and taken up again (through the string), it gives the whole input’s digest', () => {
    const data = randomBytes(300_000);
    const whole = createHash('sha256').update(data).digest('hex');
    let seed = 7;
    const next = (max: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % max;
    for (let round = 0; round < 40; round++) {
      let hash = ResumableSha256.create();
      for (let at = 0; at < data.length; ) {
        const take = Math.min(data.length - at, 1 + next(70_000));
        hash.update(data.subarray(at, at + take));
        at += take;
        if (next(2) === 0) hash = ResumableSha256.restore(hash.save());
      }
      expect(hash.length).toBe(data.length);
      expect(hash.digest('hex')).toBe(whole);
    }
  });

  it('refuses a saved state that is not one (2001)', () => {
    const good = ResumableSha256.create().update(randomBytes(70)).save();
    for (const bad of ['', 'sha256-state-1:zz', good.replace(':70:', ':71:'), good.replace(/^sha256-state-1/, 'sha256-state-2')]) {
      expect(() => ResumableSha256.restore(bad), bad).toThrow(expect.objectContaining({ statusCode: 2001 }) as Error);
    }
  });
});
