import type { Clock, Timer } from '#core/ports/clock.ts';

/**
 * The wall clock, for the processes that run outside tests: the Lambdas
 * (dynamo-deps.ts), the standalone runtime (local/runtime.ts) and the CLI.
 * It lives here rather than in core/, which never reads the wall clock, and
 * in lambdas/ because every runtime wires these handlers with it: local/ and
 * cli/ may import lambdas/, lambdas/ may not import local/.
 */
export const systemClock: Clock = { now: () => new Date() };

/** The wall clock's repeated work: an unref'd setInterval, so a timer left running never keeps a process alive. */
export const systemTimer: Timer = {
  every: (ms, tick) => {
    const interval = setInterval(tick, ms);
    interval.unref();
    return () => clearInterval(interval);
  },
};
