/**
 * The one order every sorted list of names or keys comes in: Unicode code
 * point order, which is the UTF-8 byte order S3, DynamoDB and SQLite sort by
 * natively. JavaScript's default string order (UTF-16 code units) differs
 * from it only where a character above U+FFFF meets one in U+E000–U+FFFF,
 * and `localeCompare` depends on the locale: neither is used for stored lists.
 */
export function byCodePoint(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // A surrogate (U+D800–U+DFFF) stands for a code point above U+FFFF: it sorts after every BMP character.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}
