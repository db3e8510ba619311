import type { MediaErrorKind } from '../model/tape-media.ts';
import type { TapeFault } from '../ports/tape-drive.ts';

/**
 * What failed on tape, as the agent reports it to the media manager (bptm's
 * line in NetBackup's media `errors` file: time, media id, drive, kind).
 * `tapeFile` / `block` are where the tape was, when the drive could say.
 */
export interface TapeFaultReport {
  kind: MediaErrorKind;
  drive: string;
  mediaId?: string;
  tapeFile?: number;
  block?: number;
}

/**
 * The faults the media manager counts against a drive and a volume: medium
 * and drive errors while writing, reading and positioning. Blank tape (a
 * blank check: the drive read fine, nothing is written there), end of
 * media, a write-protected cartridge and a drive that is not ready are not:
 * a new or wrong tape, a full one, an operator's tab, nothing loaded.
 */
export function countedKind(fault: TapeFault): MediaErrorKind | undefined {
  switch (fault) {
    case 'write-error':
      return 'write';
    case 'read-error':
      return 'read';
    case 'position-error':
      return 'position';
    default:
      return undefined;
  }
}

/*
 * How a report travels. A job's failure reaches the workflow as an error
 * name (`Status84`) and one string, its cause (Step Functions' SendTaskFailure
 * and the local interpreter alike), and wrappers on the way may prefix the
 * message with their own words. So the report rides inside the message as
 * a tag that reads as text and parses back: `[tape-fault kind=write
 * drive=d0 media=CRN001L6 file=3 block=120]`. Drive names and media ids
 * hold no spaces or brackets (core/model/names.ts, MediaId), so the tag
 * needs no escaping. Hand-written: it is five fields in one string.
 */
const TAG = /\[tape-fault kind=(write|read|position) drive=([^\s\]]+)(?: media=([^\s\]]+))?(?: file=(\d+))?(?: block=(\d+))?\]/g;

/** The tag for a report, appended to the error message that carries it. */
export function tapeFaultTag(report: TapeFaultReport): string {
  return [
    `[tape-fault kind=${report.kind} drive=${report.drive}`,
    ...(report.mediaId === undefined ? [] : [` media=${report.mediaId}`]),
    ...(report.tapeFile === undefined ? [] : [` file=${report.tapeFile}`]),
    ...(report.block === undefined ? [] : [` block=${report.block}`]),
    ']',
  ].join('');
}

/** Whether `message` carries a tag already (a wrapper does not tag twice). */
export function hasTapeFaultTag(message: string): boolean {
  return tapeFaultsIn(message).length > 0;
}

/** Every report tagged in `text`, in order. */
export function tapeFaultsIn(text: string): TapeFaultReport[] {
  return [...text.matchAll(TAG)].map((m) => ({
    kind: m[1] as MediaErrorKind,
    drive: m[2]!,
    ...(m[3] === undefined ? {} : { mediaId: m[3] }),
    ...(m[4] === undefined ? {} : { tapeFile: Number(m[4]) }),
    ...(m[5] === undefined ? {} : { block: Number(m[5]) }),
  }));
}

/** The message without its tags: what a person reads in the error history. */
export function withoutTapeFaultTags(text: string): string {
  return text.replace(TAG, '').replace(/\s+$/, '');
}
