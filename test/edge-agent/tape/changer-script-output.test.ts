import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCount, parseList, parseListall, type ListallLine } from '#agent/tape/changers/changer-script-output.ts';
import { parseMtxStatus } from '#agent/tape/changers/mtx-status-parser.ts';

const MTX_CHANGER = '/etc/bacula/scripts/mtx-changer';
const FIXTURES = path.join(import.meta.dirname, '../../fixtures/mtx');

describe('changer-script output parsing', () => {
  it('reads every kind of listall line, an unloaded disk-changer drive ("D:n:F:0:") as empty, and names lines it cannot read', () => {
    expect(parseListall('D:0:F:3:CRN003L6\nD:1:E\nD:2:F:0:\nS:1:F:CRN001L6\nS:2:F:\nS:3:E\nI:24:F:HER003L9  \nI:25:E\nslot 4 is jammed\n')).toEqual({
      lines: [
        { kind: 'drive', drive: 0, full: true, sourceSlot: 3, barcode: 'CRN003L6' },
        { kind: 'drive', drive: 1, full: false },
        { kind: 'drive', drive: 2, full: false },
        { kind: 'slot', slot: 1, full: true, barcode: 'CRN001L6' },
        { kind: 'slot', slot: 2, full: true },
        { kind: 'slot', slot: 3, full: false },
        { kind: 'mail', slot: 24, full: true, barcode: 'HER003L9' },
        { kind: 'mail', slot: 25, full: false },
      ],
      unreadable: ['slot 4 is jammed'],
    });
  });

  it('reads list lines (a cartridge without a barcode has none) and counts', () => {
    expect(parseList('1:VOL001\n3:\n')).toEqual({ entries: [{ slot: 1, barcode: 'VOL001' }, { slot: 3 }], unreadable: [] });
    expect(parseCount(' 24\n')).toBe(24);
    expect(parseCount('Element\n')).toBeUndefined();
    expect(parseCount('')).toBeUndefined();
  });
});

const skip = existsSync(MTX_CHANGER) ? undefined : `${MTX_CHANGER} is missing (install bacula-sd)`;

/**
 * Bacula's mtx-changer turns `mtx status` into `listall` lines with a perl
 * program; running that very program (taken from the installed script) over
 * the real captures gives the listall a real library would produce through
 * mtx-changer, and it must say what the mtx parser reads from the same text.
 */
describe.skipIf(Boolean(skip))(`listall as Bacula's mtx-changer prints it for real libraries${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const program = () => {
    const script = readFileSync(MTX_CHANGER, 'utf8');
    const match = /perl -ne '([\s\S]*?)' \$\{TMPFILE\}/.exec(script);
    if (!match) throw new Error(`no listall perl program found in ${MTX_CHANGER}`);
    return match[1]!;
  };

  for (const name of ['hera-lto9-2-drives-24-slots.txt', 'tandberg-storageloader-unit-attention.txt', 'quantum-superloader3.txt']) {
    it(`agrees with the mtx parser on ${name}`, () => {
      const listall = execFileSync('perl', ['-ne', program(), path.join(FIXTURES, name)], { encoding: 'utf8' });
      const { lines, unreadable } = parseListall(listall);
      expect(unreadable).toEqual([]);
      const inventory = parseMtxStatus(readFileSync(path.join(FIXTURES, name), 'utf8'));
      const expected: ListallLine[] = [
        ...inventory.drives.map((d): ListallLine => (d.full ? { kind: 'drive', drive: d.index, full: true, sourceSlot: d.sourceSlot!, ...(d.barcode ? { barcode: d.barcode } : {}) } : { kind: 'drive', drive: d.index, full: false })),
        ...inventory.slots.map((s): ListallLine => ({ kind: 'slot', slot: s.slot, full: s.full, ...(s.barcode ? { barcode: s.barcode } : {}) })),
        ...inventory.mailSlots.map((s): ListallLine => ({ kind: 'mail', slot: s.slot, full: s.full, ...(s.barcode ? { barcode: s.barcode } : {}) })),
      ];
      expect(lines).toEqual(expected);
    });
  }
});
