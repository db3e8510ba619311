import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChangerError } from '#core/ports/changer.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { MtxChanger } from '#agent/tape/changers/mtx-changer.ts';
import { describeChangerContract } from '#test/contracts/changer-contract.ts';
import { tempDir } from '../helpers.ts';

const FIXTURES = path.join(import.meta.dirname, '../../fixtures/mtx');
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name), 'utf8');

// The contract on a real library: it MOVES CARTRIDGES (and puts them back). Point it at a changer you may use.
const device = process.env.CAIRN_TEST_CHANGER_DEVICE;
describeChangerContract(`mtx on ${device ?? 'a SCSI changer'}`, async () => ({ store: new MtxChanger({ device: device! }) }), {
  skipReason: device ? undefined : 'no SCSI medium changer here: set CAIRN_TEST_CHANGER_DEVICE=/dev/sgN to run it on a real library (it moves cartridges)',
});

/**
 * What these tests check: the argv MtxChanger gives mtx and how it maps
 * mtx's answers and failures. The `mtx` first on PATH here is a recording
 * shell script that answers with canned output (captures from real
 * libraries, test/fixtures/mtx); it is not a library and moves nothing.
 * The changer itself is tested against a real library only through the
 * contract above (CAIRN_TEST_CHANGER_DEVICE); this machine has no SCSI
 * medium changer (scsi_debug emulates none).
 */
describe('MtxChanger command lines and error mapping (a recording fake mtx, not a library)', () => {
  let dir: string;
  let cleanup: () => void;
  let changer: MtxChanger;
  // A device path a shell would mangle: execFile must pass it as one argument, untouched.
  const DEVICE = '/dev/tape/by-id/scsi-3500 $(touch pwned); x';

  const answer = (command: string, reply: { stdout?: string; stderr?: string; exit?: number; sleep?: number }) => {
    if (reply.stdout !== undefined) writeFileSync(path.join(dir, `${command}.stdout`), reply.stdout);
    if (reply.stderr !== undefined) writeFileSync(path.join(dir, `${command}.stderr`), reply.stderr);
    if (reply.exit !== undefined) writeFileSync(path.join(dir, `${command}.exit`), String(reply.exit));
    if (reply.sleep !== undefined) writeFileSync(path.join(dir, `${command}.sleep`), String(reply.sleep));
  };
  const calls = (): string[][] =>
    existsSync(path.join(dir, 'calls'))
      ? readFileSync(path.join(dir, 'calls'), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => line.split('\t').slice(0, -1))
      : [];

  beforeEach(() => {
    ({ dir, cleanup } = tempDir('fake-mtx'));
    const bin = path.join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(
      path.join(bin, 'mtx'),
      [
        '#!/bin/sh',
        '# Test double: records its argv (tab-separated) and answers canned output. Not a library.',
        'for a in "$@"; do printf "%s\\t" "$a"; done >> "$FAKE_MTX_DIR/calls"; echo >> "$FAKE_MTX_DIR/calls"',
        'c="$3"',
        '[ -f "$FAKE_MTX_DIR/$c.sleep" ] && sleep "$(cat "$FAKE_MTX_DIR/$c.sleep")"',
        '[ -f "$FAKE_MTX_DIR/$c.stdout" ] && cat "$FAKE_MTX_DIR/$c.stdout"',
        '[ -f "$FAKE_MTX_DIR/$c.stderr" ] && cat "$FAKE_MTX_DIR/$c.stderr" >&2',
        'exit "$(cat "$FAKE_MTX_DIR/$c.exit" 2>/dev/null || echo 0)"',
        '',
      ].join('\n'),
    );
    chmodSync(path.join(bin, 'mtx'), 0o755);
    changer = new MtxChanger({ device: DEVICE, env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, FAKE_MTX_DIR: dir }, cwd: dir, timeoutMs: 10_000 });
    answer('status', { stdout: fixture('hera-lto9-2-drives-24-slots.txt') });
  });
  afterEach(() => cleanup());

  it('runs `mtx -f DEVICE status` with the device as one argument, no shell, and parses the answer', async () => {
    const inventory = await changer.inventory();
    expect(calls()).toEqual([['-f', DEVICE, 'status']]);
    expect(existsSync(path.join(dir, 'pwned'))).toBe(false);
    expect(inventory.drives[1]).toEqual({ index: 1, full: true, sourceSlot: 8, barcode: 'HER002L9' });
    expect(changer.description).toBe(`mtx -f ${DEVICE}`);
  });

  it('forms load, unload and transfer as `load SLOT DRIVE`, `unload SLOT DRIVE`, `transfer FROM TO`', async () => {
    await changer.load(3, 1);
    await changer.unload(5, 1);
    await changer.transfer(2, 24);
    expect(calls()).toEqual([
      ['-f', DEVICE, 'load', '3', '1'],
      ['-f', DEVICE, 'unload', '5', '1'],
      ['-f', DEVICE, 'transfer', '2', '24'],
    ]);
  });

  it('unloads to the source slot by reading the status first and naming the slot (mtx would default to drive 0 otherwise)', async () => {
    await changer.unload('source', 1);
    expect(calls()).toEqual([
      ['-f', DEVICE, 'status'],
      ['-f', DEVICE, 'unload', '8', '1'],
    ]);
  });

  it('refuses to unload to the source slot when the library does not know it, and when the drive is empty', async () => {
    answer('status', { stdout: fixture('format-no-barcode-reader.txt') });
    await expect(changer.unload('source', 0)).rejects.toThrow(/does not know which slot its cartridge came from; name the slot/);
    answer('status', { stdout: fixture('tandberg-storageloader-unit-attention.txt') });
    await expect(changer.unload('source', 0)).rejects.toThrow(/drive 0.*the drive is empty/);
    expect(calls().filter((c) => c[2] === 'unload')).toEqual([]);
  });

  it("maps a failed move to a ChangerError (174) with mtx's argv, exit code and words", async () => {
    answer('load', { stdout: 'Loading media from Storage Element 2 into drive 2...', stderr: fixture('mhvtl-l700-load-hardware-error.txt').replace(/^Loading.*\n/, ''), exit: 1 });
    const error = await changer.load(2, 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChangerError);
    const failure = error as ChangerError;
    expect(failure.statusCode).toBe(StatusCode.SYSTEM_ERROR_DURING_RESTORE);
    expect(failure.command).toEqual(['mtx', '-f', DEVICE, 'load', '2', '1']);
    expect(failure.exitCode).toBe(1);
    expect(failure.output).toMatch(/Sense Key=Hardware Error[\s\S]*MOVE MEDIUM from Element Address 1001 to 502 Failed\nLoading media from Storage Element 2 into drive 2\.\.\.$/);
    expect(failure.message).toMatch(new RegExp(`^load slot 2 into drive 1 \\(mtx -f .*\\): \`mtx -f .* load 2 1\` failed \\(exit code 1\\): mtx: Request Sense`));
  });

  it('maps a status it cannot read to a ChangerError that says why and keeps the output', async () => {
    answer('status', { stdout: '  Storage Changer /dev/sg3:2 Drives, 24 Slots ( 1 Import/Export )\nData Transfer Element 0:Empty\n' });
    const error = (await changer.inventory().catch((e: unknown) => e)) as ChangerError;
    expect(error).toBeInstanceOf(ChangerError);
    expect(error.exitCode).toBe(0);
    expect(error.message).toMatch(/cannot read mtx status output: the header says 2 drives, 24 slots/);
  });

  it('kills mtx after the timeout and says so', async () => {
    const slow = new MtxChanger({ device: DEVICE, env: { ...process.env, PATH: `${path.join(dir, 'bin')}:${process.env.PATH ?? ''}`, FAKE_MTX_DIR: dir }, timeoutMs: 300 });
    answer('status', { sleep: 5 });
    const error = (await slow.inventory().catch((e: unknown) => e)) as ChangerError;
    expect(error).toBeInstanceOf(ChangerError);
    expect(error.signal).toBe('SIGKILL');
    expect(error.message).toMatch(/failed \(timed out after 300 ms, killed by SIGKILL\)/);
  });

  it('refuses a drive the library does not have with 20, and bad numbers before running mtx', async () => {
    const error = (await changer.loaded(2).catch((e: unknown) => e)) as CairnError;
    expect(error.statusCode).toBe(StatusCode.INVALID_COMMAND_USAGE);
    expect(error.message).toMatch(/drive 2 is not one of this library's 2 drives/);
    await expect(changer.load(0, 0)).rejects.toMatchObject({ statusCode: StatusCode.INVALID_COMMAND_USAGE });
    await expect(changer.transfer(1.5, 2)).rejects.toMatchObject({ statusCode: StatusCode.INVALID_COMMAND_USAGE });
    expect(calls()).toEqual([['-f', DEVICE, 'status']]);
  });

  it('answers loaded(drive) from the status', async () => {
    expect(await changer.loaded(0)).toEqual({ index: 0, full: true, sourceSlot: 8, barcode: '042142L9' });
  });
});
