import { describe, expect, it } from 'vitest';
import { chooseSample, RehearsalSampler, type SampleCandidate } from '#core/jobs/rehearsal-sample.ts';

/** A tree of 10 directories × 30 files, sizes varying, with directories, symlinks and hard links in between. */
function tree(): SampleCandidate[] {
  const entries: SampleCandidate[] = [{ path: '/', type: 'directory', size: 0 }];
  for (let d = 0; d < 10; d += 1) {
    entries.push({ path: `/data/d${d}`, type: 'directory', size: 0 });
    for (let f = 0; f < 30; f += 1) entries.push({ path: `/data/d${d}/f${String(f).padStart(2, '0')}`, type: 'file', size: (d * 37 + f * 11) % 500, sha256: `sha-${d}-${f}` });
    entries.push({ path: `/data/d${d}/link`, type: 'symlink', size: 0 }, { path: `/data/d${d}/hard`, type: 'hardlink', size: 0 });
  }
  entries.push({ path: '/data/d7/huge.bin', type: 'file', size: 1_000_000, sha256: 'huge' });
  return entries;
}

describe('rehearsal sample: which files a rehearsal restores', () => {
  it('is deterministic for a seed, whatever order the index lines come in, and differs for another seed', () => {
    const entries = tree();
    const a = chooseSample(entries, 20, '17');
    expect(a).toHaveLength(20);
    expect(chooseSample([...entries].reverse(), 20, '17')).toEqual(a);
    expect(chooseSample(entries, 20, '18').map((f) => f.path)).not.toEqual(a.map((f) => f.path));
    // Path order: the order restore walks the index.
    expect(a.map((f) => f.path)).toEqual([...a.map((f) => f.path)].sort());
  });

  it('always includes the largest file, even in a sample of one', () => {
    for (const seed of ['1', '2', '3', '99']) expect(chooseSample(tree(), 5, seed).map((f) => f.path)).toContain('/data/d7/huge.bin');
    expect(chooseSample(tree(), 1, '5')).toEqual([{ path: '/data/d7/huge.bin', size: 1_000_000, sha256: 'huge' }]);
  });

  it('takes regular files only, and the last line of a path read twice', () => {
    const entries = tree();
    const all = chooseSample([...entries, { path: '/data/d0/f00', type: 'file', size: 1, changed: 'superseded' }], 'all', 'x');
    expect(all).toHaveLength(301);
    expect(all.every((f) => /\/f\d\d$|huge\.bin$/.test(f.path))).toBe(true);
    expect(all.filter((f) => f.path === '/data/d0/f00')).toHaveLength(1);
    const sampler = new RehearsalSampler(20, 'x');
    for (const entry of entries) sampler.add(entry);
    expect(sampler.population).toBe(301);
  });

  it('spreads over the tree: a sample of 60 of 300 files touches most directories', () => {
    const dirs = new Set(chooseSample(tree(), 60, '7').map((f) => f.path.split('/')[2]));
    expect(dirs.size).toBeGreaterThanOrEqual(8);
  });

  it('a sample larger than the tree is the whole tree', () => {
    const small = tree().slice(0, 10);
    expect(chooseSample(small, 1000, '1')).toEqual(chooseSample(small, 'all', '1'));
  });
});
