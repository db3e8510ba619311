import type { Extract } from 'tar-stream';
import { nameFromBytes } from '#core/model/file-name.ts';

/** The pax records that hold names. */
const NAME_KEYS = new Set(['path', 'linkpath', 'GNU.sparse.name', 'GNU.volume.filename']);

/**
 * Makes `extract` keep the exact bytes of names in pax records: tar-stream
 * decodes every record as UTF-8, turning a byte that is not UTF-8 into
 * U+FFFD, so such a name (written by Cairn or GNU tar, as raw bytes in
 * `path`/`linkpath`) could not be restored as it was. After tar-stream has
 * decoded a pax header, its name records are decoded again from the same
 * bytes by nameFromBytes (core/model/file-name.ts), which keeps each such
 * byte as a lone surrogate.
 *
 * This wraps tar-stream 3's private `_decodeLongHeader(buf)` (the one place
 * that sees a pax header's bytes); test/edge-agent/special-files.test.ts
 * fails if an upgrade changes it, and without it names that are UTF-8 are
 * unaffected.
 */
export function keepRawPaxNames(extract: Extract): void {
  const target = extract as unknown as { _decodeLongHeader?: (buf: Buffer) => void; _header?: { type?: string } | null; _pax?: Record<string, string> | null };
  const original = target._decodeLongHeader;
  if (typeof original !== 'function') return;
  target._decodeLongHeader = function (this: typeof target, buf: Buffer): void {
    original.call(this, buf);
    if (this._header?.type !== 'pax-header' || !this._pax) return;
    for (const [key, value] of rawRecords(buf)) if (NAME_KEYS.has(key)) this._pax[key] = value;
  };
}

/** The records, each value decoded by nameFromBytes (a value that is UTF-8 comes out as tar-stream decoded it). */
function rawRecords(buf: Buffer): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let at = 0; at < buf.length; ) {
    const space = buf.indexOf(0x20, at);
    if (space < 0) break;
    const length = Number(buf.toString('latin1', at, space));
    if (!Number.isInteger(length) || length <= space - at || at + length > buf.length) break;
    const record = buf.subarray(space + 1, at + length - 1);
    const equals = record.indexOf(0x3d);
    if (equals > 0) out.push([record.toString('utf8', 0, equals), nameFromBytes(record.subarray(equals + 1))]);
    at += length;
  }
  return out;
}
