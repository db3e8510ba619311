/**
 * File names that are not valid UTF-8 (docs/image-format.md, Names that are
 * not UTF-8).
 *
 * A Linux file name is bytes; Cairn's paths are strings. A name's bytes
 * become a string by decoding UTF-8, with each byte that is not part of a
 * valid UTF-8 sequence kept as the lone surrogate U+DC00 + byte (U+DC80 to
 * U+DCFF; Python's "surrogateescape"). Valid UTF-8 never decodes to a lone
 * surrogate, so the string stands for exactly one byte sequence and every
 * UTF-8 name is its plain string, as before. Index lines keep such strings
 * (JSON writes a lone surrogate as `\udcff`), and the agent opens such
 * names by their bytes (`bytesOfName`).
 *
 * For people and command lines, where a lone surrogate cannot be typed,
 * `escapedName` writes each such byte as `\xHH` and a backslash as `\\`
 * (everything else as is); `unescapeName` reads that form back. Both are
 * hand-written: no library in the project does surrogateescape.
 */

/** With the `u` flag, so the low half of a surrogate pair (an emoji) is not taken for an escaped byte. */
const ESCAPED_BYTES = /[\uDC80-\uDCFF]/u;

/** Whether `name` holds bytes that are not UTF-8 (and must be opened by its bytes). */
export function hasRawBytes(name: string): boolean {
  return ESCAPED_BYTES.test(name);
}

/** The string for a name's bytes: UTF-8, with each invalid byte as U+DC00 + byte. */
export function nameFromBytes(bytes: Uint8Array): string {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = buffer.toString('utf8');
  // The common case: valid UTF-8 (no replacement character, or one that was really in the name).
  if (!text.includes('\uFFFD') || Buffer.from(text).equals(buffer)) return text;
  let out = '';
  for (let i = 0; i < buffer.length; ) {
    const length = validSequenceLength(buffer, i);
    if (length === 0) {
      out += String.fromCharCode(0xdc00 + buffer[i]!);
      i += 1;
    } else {
      out += buffer.toString('utf8', i, i + length);
      i += length;
    }
  }
  return out;
}

/** The bytes a name string stands for (inverse of nameFromBytes). */
export function bytesOfName(name: string): Buffer {
  if (!hasRawBytes(name)) return Buffer.from(name);
  const parts: Buffer[] = [];
  let run = '';
  for (const char of name) {
    const code = char.charCodeAt(0);
    if (char.length === 1 && code >= 0xdc80 && code <= 0xdcff) {
      if (run) parts.push(Buffer.from(run));
      run = '';
      parts.push(Buffer.from([code - 0xdc00]));
    } else {
      run += char;
    }
  }
  if (run) parts.push(Buffer.from(run));
  return Buffer.concat(parts);
}

/** What to hand the file system for a name: the string itself, or its bytes when it has bytes that are not UTF-8. */
export function fsPathOf(name: string): string | Buffer {
  return hasRawBytes(name) ? bytesOfName(name) : name;
}

/** The name for people and command lines: `\xHH` for each byte that is not UTF-8, `\\` for a backslash. */
export function escapedName(name: string): string {
  return name.replace(/[\\\uDC80-\uDCFF]/gu, (char) => (char === '\\' ? '\\\\' : `\\x${(char.charCodeAt(0) - 0xdc00).toString(16).toUpperCase()}`));
}

/** Reads `escapedName`'s form back; undefined when it is not that form (a lone `\`, `\x` not followed by 80 to FF). */
export function unescapeName(text: string): string | undefined {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char !== '\\') {
      out += char;
      continue;
    }
    if (text[i + 1] === '\\') {
      out += '\\';
      i += 1;
      continue;
    }
    const hex = /^x([89A-Fa-f][0-9A-Fa-f])/.exec(text.slice(i + 1, i + 4));
    if (!hex) return undefined;
    out += String.fromCharCode(0xdc00 + parseInt(hex[1]!, 16));
    i += 3;
  }
  return out;
}

/** Bytes of the valid UTF-8 sequence at `i` (1 to 4), or 0 when the byte there does not start one. */
function validSequenceLength(b: Uint8Array, i: number): number {
  const lead = b[i]!;
  if (lead < 0x80) return 1;
  const cont = (k: number): boolean => i + k < b.length && (b[i + k]! & 0xc0) === 0x80;
  if (lead >= 0xc2 && lead <= 0xdf) return cont(1) ? 2 : 0;
  if (lead >= 0xe0 && lead <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    const second = b[i + 1]!;
    if (lead === 0xe0 && second < 0xa0) return 0; // overlong
    if (lead === 0xed && second >= 0xa0) return 0; // a surrogate
    return 3;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const second = b[i + 1]!;
    if (lead === 0xf0 && second < 0x90) return 0; // overlong
    if (lead === 0xf4 && second >= 0x90) return 0; // above U+10FFFF
    return 4;
  }
  return 0;
}
