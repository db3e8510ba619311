/**
 * The text formats of the attr and acl tools (getfattr/setfattr `--dump` /
 * `--restore`, getfacl/setfacl `--restore`), parsed and written by hand:
 * they are line formats of a few rules, and no package in node_modules
 * knows them.
 *
 * Both tools quote a path (and getfattr an attribute name) by writing
 * backslash, `=`, and bytes outside printable ASCII as `\ooo` (three octal
 * digits; attr/acl `libmisc/quote.c`), and read any `\ooo` back
 * (`unquote.c`): so quoting more than they would is safe.
 */

/** `\ooo` for every byte that is not a plain printable ASCII character of a path or a name (space included). */
export function quote(text: string | Buffer): string {
  const bytes = typeof text === 'string' ? Buffer.from(text) : text;
  let out = '';
  for (const byte of bytes) {
    const plain = byte > 0x20 && byte < 0x7f && byte !== 0x5c && byte !== 0x3d;
    out += plain ? String.fromCharCode(byte) : `\\${byte.toString(8).padStart(3, '0')}`;
  }
  return out;
}

/** The bytes of a quoted path or name (`\ooo` → the byte; anything else as it is). */
export function unquote(text: string): Buffer {
  const bytes: number[] = [];
  const raw = Buffer.from(text, 'latin1');
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x5c && i + 3 < raw.length + 0 && isOctal(raw[i + 1]) && isOctal(raw[i + 2]) && isOctal(raw[i + 3])) {
      bytes.push(((raw[i + 1]! - 48) << 6) | ((raw[i + 2]! - 48) << 3) | (raw[i + 3]! - 48));
      i += 3;
    } else bytes.push(raw[i]!);
  }
  return Buffer.from(bytes);
}

function isOctal(byte: number | undefined): boolean {
  return byte !== undefined && byte >= 48 && byte <= 55;
}

export interface DumpedFile {
  /** As given to the tool (quoted form undone). */
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
      current = { path: unquote(line.slice('# file: '.length)).toString(), lines: [] };
      files.push(current);
    } else if (line === '') current = undefined;
    else if (!line.startsWith('#') && current) current.lines.push(line);
  }
  return files;
}

/**
 * The paths named in a tool's error lines (`getfattr: PATH: reason`), with
 * the reason. The tools print the path as given (unquoted), so a path
 * holding `: ` is matched against the paths asked about rather than split.
 */
export function errorsByPath(stderr: string, tool: string, paths: readonly string[]): { byPath: Map<string, string>; other: string[] } {
  const byPath = new Map<string, string>();
  const other: string[] = [];
  const known = new Set(paths);
  for (const line of stderr.split('\n')) {
    if (line.trim() === '') continue;
    const rest = line.startsWith(`${tool}: `) ? line.slice(tool.length + 2) : line;
    const cut = [...rest.matchAll(/: /g)].map((m) => m.index).find((at) => known.has(rest.slice(0, at)));
    if (cut === undefined) other.push(line);
    else byPath.set(rest.slice(0, cut), rest.slice(cut + 2));
  }
  return { byPath, other };
}
