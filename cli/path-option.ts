import { InvalidArgumentError } from 'commander';
import { unescapeName } from '#core/model/file-name.ts';

/**
 * A client path given on the command line, in the escaped form the CLI
 * prints (core/model/file-name.ts): `\\` for a backslash and `\xHH` for a
 * byte of a name that is not UTF-8 (HH from 80 to FF), everything else as
 * is. So every name an image holds can be typed, and a typed path means
 * one name only; a backslash followed by anything else is refused.
 */
export function parseClientPath(text: string): string {
  const name = unescapeName(text);
  if (name === undefined) throw new InvalidArgumentError(`${text}: a backslash in a path is written \\\\, and \\xHH (80 to FF) stands for a byte of a name that is not UTF-8`);
  return name;
}

/** For commander's variadic options: each value parsed, appended to the earlier ones. */
export function collectClientPaths(text: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), parseClientPath(text)];
}
