/**
 * Exclude lists as administrators write them: shell-style globs matched
 * against a path's basename and against the whole absolute path.
 *
 * `*` and `?` never match `/`, `**` matches across directories, `[abc]`,
 * `[a-z]` and `[!abc]` are character classes, `\x` matches `x` literally.
 * So `*.tmp` drops every `.tmp` file wherever it is, `core` every file or
 * directory named core, and `/var/cache/**` everything under /var/cache.
 *
 * We carry our own small matcher because Node 20's `path.matchesGlob` is
 * experimental (it prints a warning on every process start).
 */
export type ExcludeMatcher = (absolutePath: string) => boolean;

export function excludeMatcher(patterns: readonly string[]): ExcludeMatcher {
  const regexes = patterns.filter((p) => p.length > 0).map((p) => globToRegExp(p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p));
  if (regexes.length === 0) return () => false;
  return (absolutePath) => {
    const basename = absolutePath.slice(absolutePath.lastIndexOf('/') + 1);
    return regexes.some((re) => re.test(basename) || re.test(absolutePath));
  };
}

export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        // `**/` also matches no directory at all, as in `a/**/b` ≈ `a/b`.
        if (glob[i + 2] === '/') {
          source += '(?:.*/)?';
          i += 2;
        } else {
          source += '.*';
          i += 1;
        }
      } else {
        source += '[^/]*';
      }
    } else if (c === '?') {
      source += '[^/]';
    } else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close === -1) {
        source += '\\[';
      } else {
        let body = glob.slice(i + 1, close);
        const negate = body.startsWith('!') || body.startsWith('^');
        if (negate) body = body.slice(1);
        source += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
        i = close;
      }
    } else if (c === '\\' && i + 1 < glob.length) {
      source += escapeRegExp(glob[i + 1]!);
      i += 1;
    } else {
      source += escapeRegExp(c);
    }
  }
  return new RegExp(`^${source}$`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}
