import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MAX_RESOURCE_RETRY_SECONDS, resourceRetrySeconds, waitingSince } from '#core/broker/resource-retry.ts';
import { reserveResources } from '#core/broker/broker.ts';
import { queueBackupJob } from '#core/jobs/job-service.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { memoryStores, withLocalDisk } from '#test/memory/memory-stores.ts';

/** Step Functions ends an execution at this many history events. */
const HISTORY_LIMIT = 25_000;
/** One turn of Reserve → Granted? → WaitForResources: a Task state (entered, scheduled, started, succeeded, exited), a Choice and a Wait (entered, exited each). */
const EVENTS_PER_TURN = 9;
const asl = JSON.parse(readFileSync(new URL('../../statemachines/backup-job.asl.json', import.meta.url), 'utf8')) as { TimeoutSeconds: number; States: Record<string, { Type: string; Next?: string; SecondsPath?: string }> };

/** How many times a job that is never granted asks for resources before the workflow times out. */
function turnsUntilTimeout(next: (waitedSeconds: number) => number): number {
  let turns = 0;
  for (let waited = 0; waited < asl.TimeoutSeconds; waited += next(waited)) turns += 1;
  return turns;
}

describe('backing off while a job waits for resources', () => {
  it('asks at the configured interval at first, then every eighth of the time waited, at most every 15 minutes', () => {
    expect(resourceRetrySeconds(30, 0)).toBe(30);
    expect(resourceRetrySeconds(30, 240)).toBe(30);
    expect(resourceRetrySeconds(30, 800)).toBe(100);
    expect(resourceRetrySeconds(30, 7200)).toBe(MAX_RESOURCE_RETRY_SECONDS);
    expect(resourceRetrySeconds(30, 30 * 86_400)).toBe(MAX_RESOURCE_RETRY_SECONDS);
    // A setting above the cap is the administrator's choice, kept.
    expect(resourceRetrySeconds(3600, 0)).toBe(3600);
    expect(resourceRetrySeconds(30, -5)).toBe(30);
  });

  it('keeps a job that is never granted inside the history limit until the workflow times out; a fixed 30 s did not', () => {
    // The loop is what this counts: Reserve's refusal goes to WaitForResources, which sleeps retryAfterSeconds and asks again.
    expect(asl.States.WaitForResources).toMatchObject({ Type: 'Wait', SecondsPath: '$.reservation.retryAfterSeconds', Next: 'Reserve' });

    const backedOff = turnsUntilTimeout((waited) => resourceRetrySeconds(30, waited));
    const fixed = turnsUntilTimeout(() => 30);

    expect(backedOff * EVENTS_PER_TURN).toBeLessThan(HISTORY_LIMIT / 3);
    expect(fixed * EVENTS_PER_TURN).toBeGreaterThan(HISTORY_LIMIT);
  });

  it('counts the wait from the last failed attempt when the job was retried', () => {
    expect(waitingSince({ queuedAt: '2026-11-23T02:00:00.000Z', attempts: [] }).toISOString()).toBe('2026-11-23T02:00:00.000Z');
    expect(waitingSince({ queuedAt: '2026-11-23T02:00:00.000Z', attempts: [{ endedAt: '2026-11-23T01:00:00.000Z' }, { endedAt: '2026-11-23T05:30:00.000Z' }] }).toISOString()).toBe('2026-11-23T05:30:00.000Z');
  });

  it('makes the broker answer a job that has waited two hours for a slot with the longest sleep', async () => {
    const clock = new FakeClock('2026-11-23T02:00:00Z');
    const rt = await withLocalDisk({ ...memoryStores(), clock });
    // The unit runs 4 jobs at once: a fifth waits for a slot.
    for (let i = 1; i <= 4; i++) {
      const ref = await queueBackupJob(rt, { client: `busy${i}`, selections: ['/a'] }, clock.now());
      expect((await reserveResources(rt, ref.jobId, clock.now())).granted).toBe(true);
    }
    const waiting = await queueBackupJob(rt, { client: 'late', selections: ['/a'] }, clock.now());

    expect(await reserveResources(rt, waiting.jobId, clock.now())).toMatchObject({ granted: false, retryAfterSeconds: 30 });
    clock.advance(2 * 3600 * 1000);
    expect(await reserveResources(rt, waiting.jobId, clock.now())).toMatchObject({ granted: false, retryAfterSeconds: MAX_RESOURCE_RETRY_SECONDS });
  });
});
