import { beforeEach, expect, it } from 'vitest';
import { FakeClock } from '#core/ports/clock.ts';
import { newMedia } from '#core/model/tape-media.ts';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import { recordTapeError, type TapeErrorOccurrence } from '#core/media/tape-error-recording.ts';
import { MemoryConfigStore } from '#test/memory/memory-config-store.ts';
import { type OpenStore, describeContract } from './fixtures.ts';

const HOUR = 3_600_000;

/**
 * bptm's error handling (core/media/tape-error-recording.ts) on a media
 * manager adapter, with a fake clock: the history of each volume and drive,
 * the thresholds' window edges, a Release that runs twice. Run on SQLite
 * (test/local/tape-error-recording.test.ts) and DynamoDB
 * (test/aws/tape-error-recording-aws.test.ts): Release records through the
 * MediaDatabase port whichever runtime it runs in.
 */
export function describeTapeErrorRecording(adapter: string, open: OpenStore<MediaDatabase>, skipReason?: string): void {
  describeContract('Tape error recording', adapter, open, skipReason, (store) => {
    let config: MemoryConfigStore;
    const clock = new FakeClock('2026-12-03T00:00:00Z');

    beforeEach(async () => {
      config = new MemoryConfigStore();
      clock.set('2026-12-03T00:00:00Z');
      await store().addRobot({ name: 'lib1', changer: { type: 'changer-script', script: '/etc/bacula/scripts/disk-changer', changerDevice: '/tmp/lib1.conf' } }, clock.now());
      await store().addDrive({ name: 'd0', robot: 'lib1', index: 0, path: '/tmp/lib1/drive0', blockSize: 65_536 });
      await store().addMedia(newMedia('V1', clock.now(), { robot: 'lib1', slot: 1 }));
    });

    const occurrence = (jobId: number, attempt = 1, kind: 'write' | 'read' | 'position' = 'write'): TapeErrorOccurrence => ({
      report: { kind, drive: 'd0', mediaId: 'V1', tapeFile: 2, block: 40 },
      jobId,
      attempt,
      message: 'drive0: EIO',
      at: clock.now(),
    });

    it('freezes the volume at the third error within 12 hours, counting the window edges exactly', async () => {
      await config.putSetting('driveErrorDown', { errors: 100, withinHours: 12 });
      expect(await recordTapeError({ emm: store(), config }, occurrence(1))).toEqual([
        'write error on volume V1 in drive d0 (tape file 2, block 40): drive0: EIO',
        'volume V1 had 1 of 3 errors within 12 hours: suspect, so this job\'s retry is given another volume',
        'drive d0 had 1 of 100 errors within 12 hours',
      ]);
      clock.advance(6 * HOUR);
      await recordTapeError({ emm: store(), config }, occurrence(2, 1, 'read'));
      // Twelve hours and a second after the first: it has left the window, so two count.
      clock.advance(6 * HOUR + 1000);
      const third = await recordTapeError({ emm: store(), config }, occurrence(3, 1, 'position'));
      expect(third[1]).toBe('volume V1 had 2 of 3 errors within 12 hours: suspect, so this job\'s retry is given another volume');
      expect((await store().getMedia('V1'))?.state).toBe('UNASSIGNED');
      // Exactly 12 hours after the second error: the window includes its edge, so three count.
      clock.set(new Date(Date.parse('2026-12-03T00:00:00Z') + 18 * HOUR));
      const fourth = await recordTapeError({ emm: store(), config }, occurrence(4));
      expect(fourth[1]).toBe('volume V1 had 3 errors (1 read, 1 position, 1 write) within 12 hours (threshold 3): frozen');
      const volume = (await store().getMedia('V1'))!;
      expect(volume).toMatchObject({ state: 'FROZEN', heldFrom: 'UNASSIGNED' });
      expect(volume.errors.map((e) => [e.kind, e.drive, e.jobId])).toEqual([
        ['write', 'd0', 1],
        ['read', 'd0', 2],
        ['position', 'd0', 3],
        ['write', 'd0', 4],
      ]);
      expect(volume.errors[0]!.message).toBe('job 1 attempt 1: drive0: EIO');
    });

    it('takes the drive DOWN at its threshold, with the reason as its down reason', async () => {
      await config.putSetting('driveErrorDown', { errors: 2, withinHours: 1 });
      await recordTapeError({ emm: store(), config }, occurrence(1));
      expect((await store().getDrive('d0'))).toMatchObject({ state: 'UP', errorCount: 1 });
      clock.advance(HOUR);
      const lines = await recordTapeError({ emm: store(), config }, occurrence(2));
      expect(lines[2]).toBe('drive d0 had 2 errors (2 write) within 1 hours (threshold 2): DOWN');
      const drive = (await store().getDrive('d0'))!;
      expect(drive).toMatchObject({ state: 'DOWN', errorCount: 2, downReason: lines[2] });
      expect(drive.errors.map((e) => [e.kind, e.mediaId, e.jobId])).toEqual([
        ['write', 'V1', 1],
        ['write', 'V1', 2],
      ]);
    });

    it('records an attempt\'s error once however often Release runs, and the next attempt\'s again', async () => {
      await recordTapeError({ emm: store(), config }, occurrence(7, 1));
      clock.advance(1000);
      await recordTapeError({ emm: store(), config }, occurrence(7, 1));
      expect((await store().getMedia('V1'))?.errors).toHaveLength(1);
      expect((await store().getDrive('d0'))?.errorCount).toBe(1);
      await recordTapeError({ emm: store(), config }, occurrence(7, 2));
      expect((await store().getMedia('V1'))?.errors).toHaveLength(2);
      expect((await store().getDrive('d0'))?.errorCount).toBe(2);
    });

    it('names a volume or drive the media manager no longer knows, and counts what it can', async () => {
      await store().removeDrive('d0');
      const lines = await recordTapeError({ emm: store(), config }, occurrence(1));
      expect(lines[2]).toBe('drive d0 is not in the media manager: its error is not counted');
      expect((await store().getMedia('V1'))?.errors).toHaveLength(1);
    });
  });
}
