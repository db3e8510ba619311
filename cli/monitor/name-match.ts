/**
 * How the Images page's search matches a file name. A pattern holding `*`,
 * `?` or `[` is a shell glob matched against the whole name, case-sensitive
 * as the shell matches (`*.conf`, `report-202?.pdf`, `[Rr]eadme*`); any
 * other pattern matches names containing it, ignoring case (`readme`
 * finds `README.md`). The answer says which, so the page can show it.
 */
export interface NameMatch {
  kind: 'glob' | 'substring';
  matches(name: string): boolean;
}

export function nameMatcher(pattern: string): NameMatch {
  if (!/[*?[]/.test(pattern)) {
    const needle = pattern.toLowerCase();
    return { kind: 'substring', matches: (name) => name.toLowerCase().includes(needle) };
  }
  const regex = new RegExp(`^${globSource(pattern)}$`, 'u');
  return { kind: 'glob', matches: (name) => regex.test(name) };
}

const SPECIAL = /[\\^$.*+?()[\]{}|]/g;

/** A glob as a regular expression's source: `*` any run, `?` one character, `[...]` / `[!...]` a class (an unclosed `[` is itself). */
function globSource(pattern: string): string {
  let out = '';
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i += 1) {
    const c = chars[i]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      const close = chars.indexOf(']', i + 2);
      if (close === -1) {
        out += '\\[';
        continue;
      }
      let body = chars.slice(i + 1, close);
      const negate = body[0] === '!' || body[0] === '^';
      if (negate) body = body.slice(1);
      out += `[${negate ? '^' : ''}${body.map((b) => (b === '-' ? '-' : b.replace(SPECIAL, '\\$&'))).join('')}]`;
      i = close;
    } else out += c.replace(SPECIAL, '\\$&');
  }
  return out;
}
