import { afterEach, describe, expect, it, vi } from 'vitest';
import { reportError } from '#cli/report-error.ts';
import { withoutErrnoText } from '#cli/errno-text.ts';
import { ValidationError } from '#core/errors.ts';

function captured(stream: NodeJS.WriteStream): () => string {
  const spy = vi.spyOn(stream, 'write').mockImplementation(() => true);
  return () => spy.mock.calls.map(([chunk]) => String(chunk)).join('');
}

describe('how the CLI prints an error', () => {
  afterEach(() => vi.restoreAllMocks());

  it('prints an unexpected error as status 2000 with its message, never a stack', () => {
    const stderr = captured(process.stderr);
    reportError(new TypeError('cannot read properties of undefined'), { json: false });
    expect(stderr()).toBe('cairn: status 2000 (unexpected internal error): cannot read properties of undefined\n');
  });

  it('names the path and a short reason for a Node errno error', () => {
    const stderr = captured(process.stderr);
    reportError(Object.assign(new Error("EACCES: permission denied, open '/srv/x'"), { code: 'EACCES', syscall: 'open', path: '/srv/x' }), { json: false });
    expect(stderr()).toBe('cairn: status 2000 (unexpected internal error): /srv/x: permission denied (EACCES)\n');
  });

  it('prints a ValidationError summary and each detail once, as text and as JSON', () => {
    const error = new ValidationError('invalid thing', ['a: too small', 'b: too big']);
    const stderr = captured(process.stderr);
    reportError(error, { json: false });
    expect(stderr()).toBe('cairn: status 20 (invalid command parameter): invalid thing\n  a: too small\n  b: too big\n');
    const stdout = captured(process.stdout);
    reportError(error, { json: true });
    expect(JSON.parse(stdout())).toMatchObject({ statusCode: 20, message: 'invalid thing', details: ['a: too small', 'b: too big'] });
  });

  it('rewrites errno text built into a message elsewhere', () => {
    expect(withoutErrnoText("media write error: ENOSPC: no space left on device, write '/stu/f1'")).toBe('media write error: /stu/f1: no space left on device (ENOSPC)');
    expect(withoutErrnoText("writing c_1: ENOTDIR: not a directory, mkdir '/etc/passwd/stu/images'")).toBe('writing c_1: /etc/passwd/stu/images: a part of the path is not a directory (ENOTDIR)');
  });
});
