/**
 * Time comes from outside so that rules can be tested at any instant. The
 * wall clock itself is an adapter (lambdas/system-clock.ts): core/ never reads it.
 */
export interface Clock {
  now(): Date;
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
