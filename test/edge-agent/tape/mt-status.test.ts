import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseMtStatus, parseMtTell } from '#agent/tape/drives/mt-status.ts';

const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/mt-status/${name}`, import.meta.url), 'utf8');
const flags = (name: string): string[] => [...parseMtStatus(fixture(name)).flags].sort();

describe('mt status output', () => {
  it('reads position, block size, density, errors and flags of a loaded tape at BOT', () => {
    expect(parseMtStatus(fixture('dds2-bot-fixed-512.txt'))).toEqual({
      driveType: 'SCSI 2',
      fileNumber: 0,
      blockNumber: 0,
      partition: 0,
      blockSize: 512,
      densityCode: 0x24,
      densityName: 'DDS-2',
      softErrors: 0,
      statusBits: 0x41010000,
      flags: new Set(['BOT', 'ONLINE', 'IM_REP_EN']),
    });
  });

  it('reads a write-protected cartridge, the flags line indented by two spaces', () => {
    expect(flags('dds3-bot-write-protected.txt')).toEqual(['BOT', 'IM_REP_EN', 'ONLINE', 'WR_PROT']);
  });

  it('reads -1 as an unknown position, and no ONLINE without a cartridge', () => {
    const status = parseMtStatus(fixture('no-tape-door-open.txt'));
    expect(status.fileNumber).toBeUndefined();
    expect(status.blockNumber).toBeUndefined();
    expect(status.flags.has('ONLINE')).toBe(false);
    expect(status.flags.has('DR_OPEN')).toBe(true);
    expect(flags('ejected-write-protected.txt')).toEqual(['DR_OPEN', 'IM_REP_EN', 'WR_PROT']);
    expect(flags('loading-no-position.txt')).toEqual(['IM_REP_EN']);
  });

  it('keeps a known file number when only the block is unknown', () => {
    const status = parseMtStatus(fixture('dds3-block-unknown.txt'));
    expect(status).toMatchObject({ fileNumber: 0, blockSize: 512, densityName: 'DDS-3' });
    expect(status.blockNumber).toBeUndefined();
    expect(parseMtStatus(fixture('lto4-after-reset-position-unknown.txt'))).toMatchObject({ fileNumber: undefined, blockNumber: undefined, densityCode: 0x46, flags: new Set(['ONLINE', 'IM_REP_EN']) });
  });

  it('reads a block number within the file and an empty flags line', () => {
    expect(parseMtStatus(fixture('ide-tape-after-tar.txt'))).toMatchObject({ fileNumber: 0, blockNumber: 16841, statusBits: 0, flags: new Set() });
  });

  it("reads GNU mt's format, with the flag after a filemark", () => {
    expect(parseMtStatus(fixture('gnu-mt-after-filemark.txt')).driveType).toBeUndefined();
    expect(parseMtStatus(fixture('gnu-mt-after-filemark.txt'))).toMatchObject({ fileNumber: 1, blockNumber: 0, blockSize: 512, densityName: 'unknown', flags: new Set(['EOF', 'ONLINE', 'IM_REP_EN']) });
  });

  it('reads another drive type line and a partition without a period', () => {
    expect(parseMtStatus(fixture('stk9840-bot.txt'))).toMatchObject({ driveType: 'STK 9840', fileNumber: 0, blockNumber: 0, partition: 0, blockSize: 0, densityName: 'LTO-4', flags: new Set(['BOT', 'ONLINE', 'IM_REP_EN']) });
    expect(parseMtStatus(fixture('lto6-bot-no-translation.txt'))).toMatchObject({ densityCode: 0x5a, densityName: 'no translation' });
  });

  it('decodes the flags from the hex bits when the names line is missing, end of data and early warning included', () => {
    const text = 'SCSI 2 tape drive:\nFile number=3, block number=-1, partition=0.\nTape block size 262144 bytes. Density code 0x58 (LTO-5).\nSoft error count since last status=0\nGeneral status bits on (29010000):\n';
    expect([...parseMtStatus(text).flags].sort()).toEqual(['EOD', 'EOT', 'IM_REP_EN', 'ONLINE']);
    expect(parseMtStatus(text)).toMatchObject({ fileNumber: 3, blockNumber: undefined, blockSize: 262144 });
  });
});

describe('mt tell output', () => {
  it('reads the logical block, and nothing from other text', () => {
    expect(parseMtTell('At block 0.\n')).toBe(0);
    expect(parseMtTell('At block 1093636.\n')).toBe(1093636);
    expect(parseMtTell('/dev/nst0: Input/output error\n')).toBeUndefined();
  });
});
