import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const bin = new URL('../../bin/cairn.js', import.meta.url).pathname;

/**
 * One row per way an operator can get the command line or its input wrong.
 * Each runs the real `cairn` process with its own `--home` (so rows run
 * concurrently), and checks the exit code and what it printed: human rows
 * match stderr (stdout stays empty), `--json` rows match stdout, which must
 * be one JSON object. `{work}` in an argument is the test's temp directory.
 */
interface Row {
  name: string;
  args: string[];
  exit: number;
  expected: RegExp;
  /** Printed exactly once (a problem is not repeated by the message and the details). */
  once?: string;
  /** Never printed, on either stream. */
  never?: RegExp;
}

// Node's errno text (`ENOTDIR: not a directory, mkdir '...'`) and stack frames never reach the operator.
const RAW = /\b[A-Z]+: [a-z ]+, [a-z_]+ '|\n\s+at \S+ \(/;
const USAGE = 'status 20 \\(invalid command parameter\\)';
const FEB_30 = "'--at <time>' argument '2026-02-30T00:00:00Z' is invalid\\. February 2026 has 28 days";
const POLICY = 'status 230 \\(the specified policy does not exist or is invalid\\): policy file rejected, nothing was changed\\n';

const rows: Row[] = [
  { name: 'no command at all is a usage error listing the commands', args: [], exit: 2, expected: new RegExp(`${USAGE}: missing command \\(one of: backup, jobs, .*\\)\\nUsage: cairn \\[options\\] \\[command\\]`) },
  { name: 'a missing --client is a usage error with the usage line of backup', args: ['backup'], exit: 2, expected: new RegExp(`^cairn: ${USAGE}: required option '--client <name>' not specified\\nUsage: cairn backup \\[options\\]  \\(cairn backup --help for details\\)\\n$`) },
  { name: 'an unknown flag is a usage error naming the flag', args: ['backup', '--client', 'c', '--bogus'], exit: 2, expected: new RegExp(`${USAGE}: unknown option '--bogus'\\nUsage: cairn backup \\[options\\]`) },
  { name: 'an unknown command is a usage error naming the command', args: ['frobnicate'], exit: 2, expected: new RegExp(`${USAGE}: unknown command 'frobnicate'\\nUsage: cairn \\[options\\] \\[command\\]`) },
  { name: 'restore without --to is a usage error', args: ['restore', '--backup-id', 'c_1700000000'], exit: 2, expected: new RegExp(`${USAGE}: required option '--to <dir>' not specified\\nUsage: cairn restore \\[options\\]`) },
  { name: 'restore with neither --backup-id nor --client is a usage error with the usage line', args: ['restore', '--to', '{work}/r'], exit: 2, expected: new RegExp(`^cairn: ${USAGE}: give either --backup-id ID, or --client C \\[--at TIME\\]\\nUsage: cairn restore \\[options\\]`) },
  { name: 'a setting of the wrong shape names the setting and the rule', args: ['config', 'set', 'backupTries', '1'], exit: 2, expected: /^cairn: status 20 \(invalid command parameter\): invalid setting backupTries 1\n {2}backupTries: Invalid input: expected object, received number\n$/ },
  { name: 'an unknown setting names the known ones', args: ['config', 'set', 'bogus', '1'], exit: 2, expected: /unknown setting\n {2}bogus: not a setting \(known: defaultStorageUnit, .*buffers, .*reportWebhookUrl\)/ },
  { name: 'a job id that is not a number is a usage error', args: ['jobs', 'show', 'seven'], exit: 2, expected: new RegExp(`${USAGE}: .*'seven' is invalid for argument 'jobId'\\. not a whole number\\nUsage: cairn jobs show \\[options\\] <jobId>`) },
  {
    name: '--home under a regular file names the directory and the reason, not the errno text',
    args: ['--home', '{work}/a-file/home', 'jobs'],
    exit: 2,
    expected: /^cairn: status 20 \(invalid command parameter\): --home \S+\/a-file\/home: cannot be used as the state directory: a part of the path is not a directory \(ENOTDIR\)\n$/,
    never: /mkdir/,
  },
  {
    name: 'a backup of a missing path ends 71, names what was missing and prints no image id',
    args: ['backup', '--client', 'c', '--path', '{work}/nothing-here'],
    exit: 2,
    expected: /DONE: status 71 \(none of the files in the file list exist\)\n {2}not found on client c: \S+\/nothing-here\n$/,
    never: /c_\d{10}|image /,
  },
  {
    name: 'a backup of a missing path puts no image id in --json',
    args: ['backup', '--client', 'c', '--path', '{work}/nothing-here', '--json'],
    exit: 2,
    expected: /"statusCode": 71,[\s\S]*"missing": \[\s*"\S+\/nothing-here"\s*\]/,
    never: /c_\d{10}|"backupId"/,
  },
  { name: 'restore --at an impossible date is refused, not rolled over to March', args: ['restore', '--client', 'c', '--at', '2026-02-30T00:00:00Z', '--to', '{work}/restore'], exit: 2, expected: new RegExp(`${USAGE}: option ${FEB_30}\\nUsage: cairn restore`), never: /2026-03-02/ },
  { name: 'ls --at an impossible date is refused', args: ['ls', '--client', 'c', '--at', '2026-02-30T00:00:00Z', '/etc'], exit: 2, expected: new RegExp(`${USAGE}: option ${FEB_30}\\nUsage: cairn ls`), never: /2026-03-02/ },
  { name: 'schedule due --at an impossible date is refused', args: ['schedule', 'due', '--at', '2026-02-30T00:00:00Z'], exit: 2, expected: new RegExp(`${USAGE}: option ${FEB_30}\\nUsage: cairn schedule due`), never: /2026-03-02/ },
  {
    name: 'a negative duration names the file, the field and the rule, once',
    args: ['policy', 'apply', '-f', '{work}/negative.yaml'],
    exit: 2,
    expected: new RegExp(`^cairn: ${POLICY} {2}\\S+/negative\\.yaml: document 1 \\(p\\): schedules\\[0\\]\\.frequency: -1h: a duration must be positive\\n$`),
    once: 'a duration must be positive',
  },
  { name: 'a fractional number of seconds is refused as such', args: ['policy', 'apply', '-f', '{work}/fraction.yaml'], exit: 2, expected: new RegExp(`${POLICY} {2}\\S+/fraction\\.yaml: document 1 \\(p\\): schedules\\[0\\]\\.frequency: 3600\\.5: whole seconds`), once: '3600.5' },
  { name: 'a YAML alias bomb ends with status 230, the file and the rule', args: ['policy', 'apply', '-f', '{work}/bomb.yaml'], exit: 2, expected: new RegExp(`^cairn: ${POLICY} {2}\\S+/bomb\\.yaml: aliases expand more than 100 times \\(a YAML alias bomb\\)\\n$`) },
  { name: '100,000 nested brackets end with status 230, the file and the rule', args: ['policy', 'apply', '-f', '{work}/deep.yaml'], exit: 2, expected: new RegExp(`^cairn: ${POLICY} {2}\\S+/deep\\.yaml: line 1, column 65: nested more than 64 levels deep`), never: /RangeError|call stack/ },
  { name: 'a schema problem is printed once, not in the message and again in the details', args: ['storage-unit', 'add', '--name', '../bad', '--kind', 'disk', '--path', '{work}'], exit: 2, expected: /^cairn: status 20 \(invalid command parameter\): invalid storage unit\n {2}name: /, once: 'name: ' },
  { name: '--json: a missing option is a JSON error with status 20 and the usage', args: ['backup', '--json'], exit: 2, expected: /^\{\s*"error": "UsageError",\s*"statusCode": 20,[\s\S]*"message": "required option '--client <name>' not specified",[\s\S]*"usage": "cairn backup \[options\]"/ },
  { name: '--json: an unknown command is a JSON error with status 20', args: ['frobnicate', '--json'], exit: 2, expected: /"statusCode": 20,[\s\S]*"message": "unknown command 'frobnicate'"/ },
  { name: '--json: an impossible --at is a JSON error with status 20', args: ['schedule', 'due', '--at', '2026-02-30T00:00:00Z', '--json'], exit: 2, expected: /"statusCode": 20,[\s\S]*"message": "option '--at <time>' argument '2026-02-30T00:00:00Z' is invalid\. February 2026 has 28 days"/ },
  { name: '--json: a rejected policy file lists each problem once, in details', args: ['policy', 'apply', '-f', '{work}/negative.yaml', '--json'], exit: 2, expected: /"statusCode": 230,[\s\S]*"message": "policy file rejected, nothing was changed",\s*"details": \[\s*"\S+negative\.yaml: document 1 \(p\): schedules\[0\]\.frequency: -1h: a duration must be positive"\s*\]/, once: 'a duration must be positive' },
  { name: 'an inventory of a robot that does not exist is 219 naming it', args: ['robot', 'inventory', 'lib9'], exit: 2, expected: /^cairn: status 219 \(the required storage unit is unavailable\): robot lib9 not found\n$/ },
  { name: '--mtx and --changer-script together is a usage error', args: ['robot', 'add', 'lib', '--mtx', '/dev/sg3', '--changer-script', '{work}/changer.sh', '--changer-device', '/dev/sg3', '--drive', '/dev/nst0'], exit: 2, expected: new RegExp(`^cairn: ${USAGE}: give either --mtx DEVICE or --changer-script PATH --changer-device FILE, not both\\nUsage: cairn robot add \\[options\\] <name>`) },
  { name: 'a size that is not one is a usage error naming the option', args: ['robot', 'add', 'lib', '--mtx', '/dev/sg3', '--drive', '/dev/nst0', '--block-size', '64Q'], exit: 2, expected: new RegExp(`^cairn: ${USAGE}: option '--block-size <size>' argument '64Q' is invalid\\. not a size`) },
  { name: 'a block size that is not a multiple of 512 is refused', args: ['robot', 'add', 'lib', '--mtx', '/dev/sg3', '--drive', '/dev/nst0', '--block-size', '1000'], exit: 2, expected: new RegExp(`^cairn: ${USAGE}: --block-size 1000: must be a multiple of 512 bytes`) },
  { name: 'a block size beyond the st driver is refused', args: ['robot', 'add', 'lib', '--mtx', '/dev/sg3', '--drive', '/dev/nst0', '--block-size', '16M'], exit: 2, expected: new RegExp(`^cairn: ${USAGE}: --block-size 16777216: at most 16776704 bytes \\(the st driver's 24-bit block size\\)`) },
  { name: 'a drive given twice is refused', args: ['robot', 'add', 'lib', '--mtx', '/dev/sg3', '--drive', '/dev/nst0', '--drive', '/dev/nst0'], exit: 2, expected: new RegExp(`^cairn: ${USAGE}: --drive /dev/nst0 is given twice`) },
  { name: 'a relative drive path is refused', args: ['robot', 'add', 'lib', '--mtx', '/dev/sg3', '--drive', 'nst0'], exit: 2, expected: new RegExp(`^cairn: ${USAGE}: --drive nst0: give an absolute path`) },
  { name: 'a changer script that is not executable is refused', args: ['robot', 'add', 'lib', '--changer-script', '{work}/changer.sh', '--changer-device', '{work}/a-file', '--drive', '{work}/drive0'], exit: 2, expected: new RegExp(`^cairn: ${USAGE}: --changer-script \\S+/changer\\.sh: not executable`) },
  { name: 'an mtx device missing on this host is refused naming it', args: ['robot', 'add', 'lib', '--mtx', '{work}/sg9', '--drive', '/dev/nst0'], exit: 2, expected: new RegExp(`^cairn: ${USAGE}: --mtx \\S+/sg9: does not exist \\(ENOENT\\)\\n$`) },
  { name: 'a capacity for st drives only is refused', args: ['robot', 'add', 'lib', '--mtx', '/dev/sg3', '--drive', '/dev/nst0', '--file-tape-capacity', '1G'], exit: 2, expected: new RegExp(`^cairn: ${USAGE}: --file-tape-capacity is for file tapes`) },
  { name: 'a robot without a changer is a usage error', args: ['robot', 'add', 'lib', '--drive', '/dev/nst0'], exit: 2, expected: new RegExp(`^cairn: ${USAGE}: name the robot's changer`) },
  { name: '--json: a tape unit on a pool that does not exist is 219', args: ['storage-unit', 'add', '--name', 't', '--kind', 'tape', '--robot', 'lib9', '--pool', 'scratch2', '--json'], exit: 2, expected: /"statusCode": 219,[\s\S]*"message": "tape unit t: pool scratch2 does not exist \(cairn pool add scratch2\)"/ },
  { name: 'a media state that is not one is a usage error listing the states', args: ['media', 'list', '--state', 'broken'], exit: 2, expected: new RegExp(`^cairn: ${USAGE}: --state broken: one of UNASSIGNED, ACTIVE, FULL, FROZEN, SUSPENDED`) },
  { name: 'freezing a volume that does not exist names it', args: ['media', 'freeze', 'NOPE01'], exit: 2, expected: /^cairn: status 96 \([^)]*\): media NOPE01 not found\n$/ },
  { name: 'a drive that does not exist is 219', args: ['drive', 'down', 'lib-d7'], exit: 2, expected: /^cairn: status 219 \(the required storage unit is unavailable\): drive lib-d7 not found\n$/ },
  { name: '--help still exits 0', args: ['backup', '--help'], exit: 0, expected: /^Usage: cairn backup \[options\]/ },
  { name: '--version still exits 0', args: ['--version'], exit: 0, expected: /^\d+\.\d+\.\d+\n$/ },
];

function policy(frequency: string): string {
  return ['name: p', 'storageUnit: local-disk', 'clients: [{ name: c }]', 'selections: [/data]', 'schedules:', `  - { name: s, type: full, frequency: ${frequency}, windows: [{ days: [mon], start: "01:00", duration: 1h }] }`, ''].join('\n');
}

/** Billion laughs: nine levels of nine aliases each would expand to 9^9 strings. */
function aliasBomb(): string {
  const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 9; i++) {
    const name = String.fromCharCode(97 + i);
    levels.push(`${name}: &${name} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
  }
  return `${levels.join('\n')}\n`;
}

describe('cairn errors', () => {
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'cairn-cli-errors-'));
    writeFileSync(join(work, 'a-file'), 'not a directory\n');
    writeFileSync(join(work, 'changer.sh'), '#!/bin/sh\nexit 0\n', { mode: 0o644 });
    writeFileSync(join(work, 'negative.yaml'), policy('-1h'));
    writeFileSync(join(work, 'fraction.yaml'), policy('3600.5'));
    writeFileSync(join(work, 'bomb.yaml'), aliasBomb());
    writeFileSync(join(work, 'deep.yaml'), `${'['.repeat(100_000)}${']'.repeat(100_000)}\n`);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it.concurrent.each(rows.map((row, i) => ({ ...row, i })))('$name', async ({ args, exit, expected, once, never, i }) => {
    // Prepare: a home of its own (a later --home in args wins).
    const home = join(work, `home-${i}`);
    mkdirSync(home);
    const argv = ['--home', home, ...args.map((a) => a.replaceAll('{work}', work))];
    const json = args.includes('--json') || args.includes('--help') || args.includes('--version');

    // Act
    const { code, stdout, stderr } = await run(process.execPath, [bin, ...argv]).then(
      (done) => ({ code: 0, stdout: done.stdout, stderr: done.stderr }),
      (failed: { code: number; stdout: string; stderr: string }) => failed,
    );

    // Assess
    const out = json ? stdout : stderr;
    expect(code, `${stderr}${stdout}`).toBe(exit);
    expect(out).toMatch(expected);
    if (args.includes('--json')) expect(() => JSON.parse(stdout) as unknown).not.toThrow();
    else if (!json) expect(stdout).toBe('');
    expect(`${stdout}${stderr}`).not.toMatch(RAW);
    if (never) expect(`${stdout}${stderr}`).not.toMatch(never);
    if (once) expect(`${stdout}${stderr}`.split(once).length - 1).toBe(1);
  });
});
