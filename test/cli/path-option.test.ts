import { describe, expect, it } from 'vitest';
import { collectClientPaths, parseClientPath } from '#cli/path-option.ts';

describe('client paths on the command line', () => {
  it('read the escaped form cairn ls prints: \\\\ for a backslash, \\xHH for a byte that is not UTF-8', () => {
    expect(parseClientPath('/home/a\\\\b/caf\\xe9')).toBe('/home/a\\b/caf\uDCE9');
    expect(collectClientPaths('/b', ['/a'])).toEqual(['/a', '/b']);
  });

  it('refuse a backslash followed by anything else, naming the form', () => {
    expect(() => parseClientPath('/home/a\\b')).toThrow(/a backslash in a path is written/);
  });
});
