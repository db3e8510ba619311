import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CairnError } from '#core/errors.ts';
import type { ExecutionStarter } from '#core/ports/execution-starter.ts';
import { StatusCode } from '#core/status-codes.ts';

export interface ExecutionStarterFixture {
  starter: ExecutionStarter;
  /** A starter on the same backing as the next scheduler tick would hold it (a minute later, another process). */
  laterStarter: ExecutionStarter;
  /** The inputs of the executions of `name` that exist (after those started so far got going). */
  executions(name: string): Promise<unknown[]>;
  cleanup?(): Promise<void>;
}

/** Names are unique per fixture call; the SFN fixture shares one state machine between cases. */
let serial = 0;
const nameFor = (label: string): string => `${label}.c1.daily.${Date.now()}${++serial}`;
const INPUT = { request: { policy: 'nightly', client: 'c1', schedule: 'daily', level: 'full', windowStart: '2026-11-24T20:00:00.000Z', dueAt: '2026-11-24T21:00:00.000Z' } };

/** The ExecutionStarter port's contract (core/ports/execution-starter.ts), for every adapter. */
export function describeExecutionStarterContract(adapter: string, open: () => Promise<ExecutionStarterFixture>, skipReason?: string): void {
  describe.skipIf(Boolean(skipReason))(`ExecutionStarter contract: ${adapter}${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
    let fixture: ExecutionStarterFixture;
    beforeEach(async () => {
      fixture = await open();
    });
    afterEach(async () => {
      await fixture.cleanup?.();
    });

    it('starts one execution of a free name, with the input as JSON', async () => {
      const name = nameFor('free');

      expect(await fixture.starter.start(name, { ...INPUT, dropped: undefined })).toBe('started');

      expect(await fixture.executions(name)).toEqual([INPUT]);
    });

    it('answers a later start of the same name and input with already-started, and runs nothing more', async () => {
      const name = nameFor('again');
      await fixture.starter.start(name, INPUT);

      expect(await fixture.laterStarter.start(name, INPUT)).toBe('already-started');
      expect(await fixture.executions(name)).toEqual([INPUT]);
    });

    it('answers a start of the same name with another input with already-started, keeping the first', async () => {
      const name = nameFor('other');
      await fixture.starter.start(name, INPUT);

      expect(await fixture.starter.start(name, { request: { ...INPUT.request, level: 'differential-incremental' } })).toBe('already-started');
      expect(await fixture.executions(name)).toEqual([INPUT]);
    });

    it('runs one execution however many starts of one name race', async () => {
      const name = nameFor('race');

      const outcomes = await Promise.all([fixture.starter, fixture.laterStarter, fixture.starter, fixture.laterStarter, fixture.starter].map((s) => s.start(name, INPUT)));

      expect(outcomes).toContain('started');
      expect(await fixture.executions(name)).toHaveLength(1);
    });

    it('starts executions of different names side by side', async () => {
      const names = [nameFor('side1'), nameFor('side2'), nameFor('side3')];

      const outcomes = await Promise.all(names.map((name) => fixture.starter.start(name, INPUT)));

      expect(outcomes).toEqual(['started', 'started', 'started']);
      for (const name of names) expect(await fixture.executions(name)).toHaveLength(1);
    });

    it('refuses a name Step Functions would refuse with status 20, and starts nothing', async () => {
      const error = await fixture.starter.start('nightly c1 daily', INPUT).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(CairnError);
      expect((error as CairnError).statusCode).toBe(StatusCode.INVALID_COMMAND_USAGE);
      expect(await fixture.executions('nightly c1 daily')).toEqual([]);
    });
  });
}
