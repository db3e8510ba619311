import { bytesOfName, nameFromBytes } from '#core/model/file-name.ts';

/**
 * The text formats of the attr and acl tools (getfattr/setfattr `--dump` /
 * `--restore`, getfacl/setfacl `--restore`), parsed and written by hand:
 * they are line formats of a few rules, and no package in node_modules
 * knows them.
 *
 * Names are bytes throughout: a Cairn path string stands for its bytes
 * (core/model/file-name.ts, names that are not UTF-8), and tool output is
 * read as latin1 so every byte survives until it is unquoted. The tools
 * quote a path in their output only where a line would break (attr 2.5 /
 * acl 2.3 `libmisc/quote.c`, checked here): getfattr writes a newline as
 * `\012` and a backslash as `\134`, getfacl a backslash as `\\`; other
 * bytes (0xff, a tab, `=`) are written raw. Both read `\ooo` (three octal
 * digits) and `\\` back in their `--restore` input (`unquote.c`), so
 * quoting more than they would is safe.
 */

/** `\ooo` for every byte that is not a plain printable ASCII character of a path or a name (space included); a string by the bytes it stands for. */
export function quote(text: string | Buffer): string {
  const bytes = typeof text === 'string' ? bytesOfName(text) : text;
  let out = '';
  for (const byte of bytes) {
    const plain = byte > 0x20 && byte < 0x7f && byte !== 0x5c && byte !== 0x3d;
    out += plain ? String.fromCharCode(byte) : `\\${byte.toString(8).padStart(3, '0')}`;
  }
  return out;
}

/** The bytes of a quoted path or name, given as latin1 text (`\ooo` → the byte, `\\` → a backslash; anything else as it is). */
export function unquote(text: string): Buffer {
  const bytes: number[] = [];
  const raw = Buffer.from(text, 'latin1');
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x5c && isOctal(raw[i + 1]) && isOctal(raw[i + 2]) && isOctal(raw[i + 3])) {
      bytes.push(((raw[i + 1]! - 48) << 6) | ((raw[i + 2]! - 48) << 3) | (raw[i + 3]! - 48));
      i += 3;
    } else if (raw[i] === 0x5c && raw[i + 1] === 0x5c) {
      bytes.push(0x5c);
      i += 1;
    } else bytes.push(raw[i]!);
  }
  return Buffer.from(bytes);
}

function isOctal(byte: number | undefined): boolean {
  return byte !== undefined && byte >= 48 && byte <= 55;
}

export interface DumpedFile {
  /** As given to the tool (quoted form undone; bytes that are not UTF-8 as file-name.ts keeps them). */
  path: string;
  /** `name=value` lines of getfattr, or ACL entry lines of getfacl, in order. */
  lines: string[];
}

/**
 * Splits a `--dump`-style output into its files: each starts with
 * `# file: PATH` and ends at an empty line; other `#` lines (getfacl's
 * owner and group) are dropped. The output is read as latin1 so that every
 * byte survives until `unquote` (the tools quote what is not ASCII).
 */
export function parseDump(output: string): DumpedFile[] {
  const files: DumpedFile[] = [];
  let current: DumpedFile | undefined;
  for (const line of output.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = { path: nameFromBytes(unquote(line.slice('# file: '.length))), lines: [] };
      files.push(current);
    } else if (line === '') current = undefined;
    else if (!line.startsWith('#') && current) current.lines.push(line);
  }
  return files;
}

/**
 * The paths named in a tool's error lines (`getfattr: PATH: reason`), with
 * the reason. `stderr` is latin1 text (every byte kept). The tools print
 * the path raw or quoted (getfattr quotes a backslash), so a candidate is
 * matched by its bytes either way against the paths asked about (Cairn
 * path strings), and a path holding `: ` is matched rather than split.
 * Paths and reasons come back as Cairn strings; `other` lines as UTF-8.
 */
export function errorsByPath(stderr: string, tool: string, paths: readonly string[]): { byPath: Map<string, string>; other: string[] } {
  const byPath = new Map<string, string>();
  const other: string[] = [];
  const known = new Map(paths.map((p) => [bytesOfName(p).toString('latin1'), p]));
  const match = (text: string): string | undefined => known.get(text) ?? known.get(unquote(text).toString('latin1'));
  for (const line of stderr.split('\n')) {
    if (line.trim() === '') continue;
    const rest = line.startsWith(`${tool}: `) ? line.slice(tool.length + 2) : line;
    const cut = [...rest.matchAll(/: /g)].map((m) => m.index).find((at) => match(rest.slice(0, at)) !== undefined);
    if (cut === undefined) other.push(Buffer.from(line, 'latin1').toString());
    else byPath.set(match(rest.slice(0, cut))!, Buffer.from(rest.slice(cut + 2), 'latin1').toString());
  }
  return { byPath, other };
}
