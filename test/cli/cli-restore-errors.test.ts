import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCairn, type CliResult } from './cli-process.ts';

const isRoot = process.getuid?.() === 0;

interface Context {
  work: string;
  source: string;
  /** An intact image of client cli-host. */
  backupId: string;
  /** An image of client cli-broken with one byte of file data flipped. */
  brokenId: string;
  /** A fresh path for this row, not created. */
  target: string;
}

interface Row {
  name: string;
  args: (c: Context) => string[];
  prepare?: (c: Context) => void;
  code: number;
  /** Matched against stderr and stdout together. */
  message: RegExp;
  assess?: (c: Context) => void;
  skip?: string;
}

const restored = (c: Context, relative: string): string => join(c.target, c.source, relative);

/** `cairn restore` cases an operator meets when something is wrong: each ends with a status, an exit code and a message that says what. */
const rows: Row[] = [
  {
    name: 'restores an image into a new directory',
    args: (c) => ['--backup-id', c.backupId, '--to', c.target],
    code: 0,
    message: /restored 4 entries, .*; 2 checksums verified/,
    assess: (c) => expect(readFileSync(restored(c, 'docs/a.txt'), 'utf8')).toBe('alpha\n'),
  },
  {
    name: 'refuses a --path that matches nothing in the image (227), writing nothing',
    args: (c) => ['--backup-id', c.backupId, '--to', c.target, '--path', '/no/such/path'],
    code: 2,
    message: /status 227 .*: nothing in image cli-host_\d{10} matches \/no\/such\/path; nothing was restored/,
    assess: (c) => expect(existsSync(c.target)).toBe(false),
  },
  {
    name: 'refuses a --path that matches nothing in the point-in-time tree (227)',
    args: (c) => ['--client', 'cli-host', '--to', c.target, '--path', join(c.source, 'docs'), join(c.source, 'nope')],
    code: 2,
    message: /status 227 .*: nothing in image cli-host_\d{10} matches \/.*\/source\/nope; nothing was restored/,
    assess: (c) => expect(existsSync(c.target)).toBe(false),
  },
  {
    name: 'answers a --path that matches nothing with JSON under --json',
    args: (c) => ['--backup-id', c.backupId, '--to', c.target, '--path', '/no/such/path', '--json'],
    code: 2,
    message: /"statusCode": 227,[\s\S]*"message": "nothing in image cli-host_\d{10} matches \/no\/such\/path; nothing was restored"/,
  },
  {
    name: 'refuses a non-empty target, naming it, an entry in it and the flags, and writes nothing',
    prepare: (c) => {
      mkdirSync(c.target);
      writeFileSync(join(c.target, 'keep.txt'), 'mine\n');
    },
    args: (c) => ['--backup-id', c.backupId, '--to', c.target],
    code: 2,
    message: /status 20 .*: restore target \/.* is not empty \(it holds "keep\.txt"\); nothing was restored\. .*--overwrite .*--rename-existing/,
    assess: (c) => expect(readdirSync(c.target)).toEqual(['keep.txt']),
  },
  {
    name: 'replaces existing files with --overwrite',
    prepare: (c) => {
      mkdirSync(join(restored(c, 'docs')), { recursive: true });
      writeFileSync(restored(c, 'docs/a.txt'), 'old\n');
    },
    args: (c) => ['--backup-id', c.backupId, '--to', c.target, '--overwrite'],
    code: 0,
    message: /restored 4 entries/,
    assess: (c) => {
      expect(readFileSync(restored(c, 'docs/a.txt'), 'utf8')).toBe('alpha\n');
      expect(readdirSync(restored(c, 'docs')).sort()).toEqual(['a.txt', 'b.txt']);
    },
  },
  {
    name: 'keeps each replaced entry as NAME.cairn-old with --rename-existing, and lists it',
    prepare: (c) => {
      mkdirSync(join(restored(c, 'docs')), { recursive: true });
      writeFileSync(restored(c, 'docs/a.txt'), 'old\n');
    },
    args: (c) => ['--backup-id', c.backupId, '--to', c.target, '--rename-existing'],
    code: 0,
    message: /renamed: \/.*\/docs\/a\.txt: kept as \/.*\/docs\/a\.txt\.cairn-old/,
    assess: (c) => {
      expect(readFileSync(`${restored(c, 'docs/a.txt')}.cairn-old`, 'utf8')).toBe('old\n');
      expect(readFileSync(restored(c, 'docs/a.txt'), 'utf8')).toBe('alpha\n');
    },
  },
  {
    name: 'lists the renames in the JSON result',
    prepare: (c) => {
      mkdirSync(join(restored(c, 'docs')), { recursive: true });
      writeFileSync(restored(c, 'docs/b.txt'), 'old\n');
    },
    args: (c) => ['--backup-id', c.backupId, '--to', c.target, '--rename-existing', '--json'],
    code: 0,
    message: /"statusCode": 0,[\s\S]*"renamed": \[\s*"\/.*\/docs\/b\.txt: kept as \/.*\/docs\/b\.txt\.cairn-old"\s*\]/,
  },
  {
    name: 'refuses --overwrite together with --rename-existing (20)',
    args: (c) => ['--backup-id', c.backupId, '--to', c.target, '--overwrite', '--rename-existing'],
    code: 2,
    message: /status 20 .*: give --overwrite or --rename-existing, not both/,
  },
  {
    name: 'refuses a --to that is a regular file (20), naming it without errno text',
    prepare: (c) => writeFileSync(c.target, 'a file\n'),
    args: (c) => ['--backup-id', c.backupId, '--to', c.target],
    code: 2,
    message: /status 20 .*: restore target \/.*\/target-\d+ is a regular file, not a directory\n$/,
  },
  {
    name: 'refuses a --to under a regular file (20), naming the file',
    prepare: (c) => writeFileSync(c.target, 'a file\n'),
    args: (c) => ['--backup-id', c.backupId, '--to', join(c.target, 'below', 'deeper')],
    code: 2,
    message: /status 20 .*: restore target \/.*\/target-\d+\/below\/deeper is under \/.*\/target-\d+, which is a regular file, not a directory\n$/,
  },
  {
    name: 'refuses a --to it may not write (174)',
    skip: isRoot ? 'root may write anywhere' : undefined,
    prepare: (c) => mkdirSync(c.target, { mode: 0o500 }),
    args: (c) => ['--backup-id', c.backupId, '--to', join(c.target, 'inside')],
    code: 2,
    message: /status 174 .*: cannot create restore target \/.*\/inside: \/.* is not writable: permission denied \(EACCES\)/,
  },
  {
    name: 'ends the restore of a corrupt image with status 2001 and exit 2, naming the file',
    args: (c) => ['--backup-id', c.brokenId, '--to', c.target],
    code: 2,
    message: /status 2001 .*: image cli-broken_\d{10} is corrupt: \/.*\/docs\/a\.txt: content sha256 [0-9a-f]{64} does not match the index/,
    assess: (c) => expect(existsSync(restored(c, 'docs/a.txt'))).toBe(false),
  },
  {
    name: 'with --continue-on-error restores the rest of a corrupt image and exits 1, listing the failures',
    args: (c) => ['--backup-id', c.brokenId, '--to', c.target, '--continue-on-error'],
    code: 1,
    message: /failed: \/.*\/docs\/a\.txt: content sha256 [\s\S]*failed: fragment 1 \(.*\): the fragment is \d+ bytes as expected[\s\S]*partial success \(status 1\): 0 refused, 2 failed/,
    assess: (c) => {
      expect(existsSync(restored(c, 'docs/a.txt'))).toBe(false);
      expect(readFileSync(restored(c, 'docs/b.txt'), 'utf8')).toBe('bravo\n');
    },
  },
];

describe('cairn restore when something is wrong', () => {
  const context = { targets: 0 } as Context & { targets: number };
  let home: string;
  const cairn = (...args: string[]): Promise<CliResult> => runCairn(home, args);
  const backUp = async (client: string): Promise<{ backupId: string; fragmentKey: string }> => {
    const backup = await cairn('backup', '--client', client, '--path', context.source, '--json');
    expect(backup.code, backup.stderr).toBe(0);
    const { backupId } = JSON.parse(backup.stdout) as { backupId: string };
    const [image] = JSON.parse((await cairn('images', '--client', client, '--json')).stdout) as Array<{ fragments: Array<{ key: string }> }>;
    return { backupId, fragmentKey: image!.fragments[0]!.key };
  };

  beforeAll(async () => {
    context.work = mkdtempSync(join(tmpdir(), 'cairn-cli-restore-'));
    home = join(context.work, 'home');
    context.source = join(context.work, 'source');
    mkdirSync(join(context.source, 'docs'), { recursive: true });
    writeFileSync(join(context.source, 'docs', 'a.txt'), 'alpha\n');
    writeFileSync(join(context.source, 'docs', 'b.txt'), 'bravo\n');
    context.backupId = (await backUp('cli-host')).backupId;
    // A second image whose stored data is damaged: one byte of docs/a.txt flipped on disk.
    const broken = await backUp('cli-broken');
    context.brokenId = broken.backupId;
    const [unit] = JSON.parse((await cairn('storage-unit', 'list', '--json')).stdout) as Array<{ path: string }>;
    const file = join(unit!.path, broken.fragmentKey);
    const bytes = readFileSync(file);
    const at = bytes.indexOf('alpha\n');
    bytes[at] = bytes[at]! ^ 0x20;
    writeFileSync(file, bytes);
  }, 60_000);
  afterAll(() => rmSync(context.work, { recursive: true, force: true }));

  for (const row of rows) {
    (row.skip ? it.skip : it)(`${row.name}${row.skip ? ` (skipped: ${row.skip})` : ''}`, async () => {
      // Prepare
      const c: Context = { ...context, target: join(context.work, `target-${(context.targets += 1)}`) };
      row.prepare?.(c);

      // Act
      const result = await cairn('restore', ...row.args(c));

      // Assess
      expect({ code: result.code, output: `${result.stderr}${result.stdout}` }).toEqual({ code: row.code, output: expect.stringMatching(row.message) });
      expect(`${result.stderr}${result.stdout}`).not.toMatch(/E[A-Z]+: [a-z]/); // no raw errno text
      row.assess?.(c);
    });
  }
});
