import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesOfName, escapedName, hasRawBytes, nameFromBytes, unescapeName } from '#core/model/file-name.ts';

describe('file names that are not UTF-8', () => {
  it('come back byte for byte from their string, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        expect(bytesOfName(nameFromBytes(bytes)).equals(Buffer.from(bytes))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('leave every UTF-8 name its plain string, U+FFFD and backslashes included', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }), (text) => {
        expect(nameFromBytes(Buffer.from(text))).toBe(text);
        expect(hasRawBytes(text)).toBe(false);
      }),
    );
    expect(nameFromBytes(Buffer.from('a\uFFFDb\\x41'))).toBe('a\uFFFDb\\x41');
  });

  it('keep each byte that is not part of valid UTF-8 as one lone surrogate, and valid sequences around it', () => {
    const name = nameFromBytes(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2d, 0xe2, 0x82, 0xac, 0xe2, 0x82, 0xed, 0xa0, 0x80, 0xc0, 0xaf]));
    expect(name).toBe('caf\uDCE9-€\uDCE2\uDC82\uDCED\uDCA0\uDC80\uDCC0\uDCAF');
    expect(escapedName(name)).toBe('caf\\xE9-€\\xE2\\x82\\xED\\xA0\\x80\\xC0\\xAF');
  });

  it('are typed in an escaped form that means one name only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 30 }), (bytes) => {
        const name = nameFromBytes(bytes);
        expect(unescapeName(escapedName(name))).toBe(name);
      }),
      { numRuns: 2000 },
    );
    expect(unescapeName('/home/a\\\\b/caf\\xe9')).toBe('/home/a\\b/caf\uDCE9');
    expect(unescapeName('/home/a\\b')).toBeUndefined();
    // \x41 is "A", which is UTF-8: it is written as itself, never escaped.
    expect(unescapeName('/x\\x41')).toBeUndefined();
  });
});

describe('file names with characters outside the BMP', () => {
  it('are UTF-8 like any other: the low half of a surrogate pair is not an escaped byte', () => {
    const name = '/home/\u{1F080}\u{1F0FF}';
    expect(hasRawBytes(name)).toBe(false);
    expect(escapedName(name)).toBe(name);
    expect(bytesOfName(name).equals(Buffer.from(name))).toBe(true);
  });
});
