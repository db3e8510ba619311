/**
 * Time comes from outside so that rules can be tested at any instant. The
 * wall clock itself is an adapter (lambdas/system-clock.ts): core/ never reads it.
 */
export interface Clock {
  now(): Date;
}

/**
 * Repeated work on the wall clock's time: `every(ms, tick)` calls `tick`
 * every `ms` until the function it returns is called. A running lifecycle
 * job looks at its record with it (core/jobs/lifecycle-job.ts). The
 * adapter is `systemTimer` (lambdas/system-clock.ts, setInterval, which
 * keeps no process alive); tests tick by hand.
 */
export interface Timer {
  every(ms: number, tick: () => void): () => void;
}

/** A clock tests move by hand. */
export class FakeClock implements Clock {
  #now: number;
  constructor(start: Date | string) {
    this.#now = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.#now);
  }
  advance(ms: number): void {
    this.#now += ms;
  }
  set(at: Date | string): void {
    this.#now = new Date(at).getTime();
  }
}
