import { describe, expect, it } from 'vitest';
import { isPieceMember, pieceHeader, pieceLengths, pieceOf, piecesIndex } from '#agent/image/piece-member.ts';
import { realMemberName, realMemberSize } from '#agent/image/sparse-member.ts';

const spec = { path: '/data/vm/disk.img', type: 'file' as const, mode: 0o640, uid: 1000, gid: 1000, mtimeNs: 1_700_000_000_500_000_000n, size: 2500 };

describe('pieces of a file (piece-member.ts)', () => {
  it('cuts a file above the piece size into full pieces and a last shorter one; one that fits stays one member', () => {
    expect(pieceLengths(2500, 1000)).toEqual([1000, 1000, 500]);
    expect(pieceLengths(2000, 1000)).toEqual([1000, 1000]);
    expect(pieceLengths(1000, 1000)).toEqual([1000]);
    expect(pieceLengths(0, 1000)).toEqual([0]);
  });

  it("names piece k GNUFileParts/<base>.k with GNU's volume records, keeping the file's mode, owner and pax mtime", () => {
    // Act
    const header = pieceHeader(spec, 2, 1000, 1000);

    // Assess
    expect(header).toMatchObject({ name: 'data/vm/GNUFileParts/disk.img.2', type: 'file', size: 1000, uid: 1000, gid: 1000 });
    expect(header.mode! & 0o7777).toBe(0o640);
    expect(header.pax).toEqual({ mtime: '1700000000.5', 'GNU.volume.filename': 'data/vm/disk.img', 'GNU.volume.offset': '1000', 'GNU.volume.size': '1500' });
    const read = { name: header.name!, size: header.size, pax: header.pax };
    expect(isPieceMember(read)).toBe(true);
    expect(pieceOf(read)).toEqual({ filename: 'data/vm/disk.img', fileOffset: 1000, fileSize: 2500 });
    expect(realMemberName(read)).toBe('data/vm/disk.img');
    expect(realMemberSize(read)).toBe(2500);
  });

  it('refuses piece records that do not parse or run past the file', () => {
    const name = 'x/GNUFileParts/y.2';
    expect(pieceOf({ name, size: 10, pax: { 'GNU.volume.offset': '0', 'GNU.volume.size': '10' } })).toEqual({ problem: `piece ${name} has no GNU.volume.filename` });
    expect(pieceOf({ name, size: 10, pax: { 'GNU.volume.filename': 'x/y', 'GNU.volume.offset': '-1', 'GNU.volume.size': '10' } })).toEqual({ problem: `piece ${name} has no valid GNU.volume.offset ("-1")` });
    expect(pieceOf({ name, size: 11, pax: { 'GNU.volume.filename': 'x/y', 'GNU.volume.offset': '5', 'GNU.volume.size': '10' } })).toEqual({ problem: `piece ${name} holds 11 bytes from byte 5, past the file's 15` });
    expect(realMemberSize({ name, size: 10, pax: { 'GNU.volume.filename': 'x/y' } })).toBeNaN();
  });

  it("lists one index entry per fragment holding pieces: the first piece's place there and its file offset", () => {
    const places = [
      { fragment: 1, offset: 512 },
      { fragment: 1, offset: 512 + 2048 },
      { fragment: 2, offset: 0 },
      { fragment: 3, offset: 0 },
      { fragment: 3, offset: 2048 },
    ];
    expect(piecesIndex(places, [1000, 1000, 1000, 1000, 500])).toEqual([
      { fragment: 1, offset: 512, fileOffset: 0 },
      { fragment: 2, offset: 0, fileOffset: 2000 },
      { fragment: 3, offset: 0, fileOffset: 3000 },
    ]);
  });
});
