import { describe, expect, it } from 'vitest';
import { countedKind, hasTapeFaultTag, tapeFaultTag, tapeFaultsIn, withoutTapeFaultTags } from '#core/media/tape-fault.ts';
import { TapeError } from '#core/ports/tape-drive.ts';
import { StatusCode } from '#core/status-codes.ts';

describe('tape fault reports', () => {
  it('read back from the failure cause they ride in, through wrappers and JSON', () => {
    const tag = tapeFaultTag({ kind: 'write', drive: 'd0', mediaId: 'CRN001L6', tapeFile: 3, block: 120 });
    expect(tag).toBe('[tape-fault kind=write drive=d0 media=CRN001L6 file=3 block=120]');
    const wrapped = `media write error writing fragment 2: /tmp/drive0: injected write error at record 5 ${tag}`;
    expect(tapeFaultsIn(wrapped)).toEqual([{ kind: 'write', drive: 'd0', mediaId: 'CRN001L6', tapeFile: 3, block: 120 }]);
    // A Lambda-style cause is JSON: the tag has nothing JSON escapes.
    expect(tapeFaultsIn(JSON.stringify({ errorMessage: wrapped }))).toHaveLength(1);
    expect(withoutTapeFaultTags(wrapped)).toBe('media write error writing fragment 2: /tmp/drive0: injected write error at record 5');
  });

  it('keeps only what is known: a drive that cannot say where it is gives no file or block', () => {
    const tag = tapeFaultTag({ kind: 'position', drive: 'd1' });
    expect(tag).toBe('[tape-fault kind=position drive=d1]');
    expect(tapeFaultsIn(`x ${tag} y`)).toEqual([{ kind: 'position', drive: 'd1' }]);
    expect(hasTapeFaultTag('media write error')).toBe(false);
  });

  it('counts write, read and position errors, not blank tape, end of media or a write-protect tab', () => {
    expect(countedKind('write-error')).toBe('write');
    expect(countedKind('read-error')).toBe('read');
    expect(countedKind('position-error')).toBe('position');
    expect(countedKind('blank-check')).toBeUndefined();
    expect(countedKind('end-of-media')).toBeUndefined();
    expect(countedKind('write-protected')).toBeUndefined();
    expect(countedKind('not-ready')).toBeUndefined();
  });

  it('a position error ends a job with 86, NetBackup\'s media position error', () => {
    expect(new TapeError('position-error', 'x').statusCode).toBe(StatusCode.MEDIA_POSITION_ERROR);
    expect(StatusCode.MEDIA_POSITION_ERROR).toBe(86);
  });
});
