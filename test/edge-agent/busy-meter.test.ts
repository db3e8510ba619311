import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { BusyMeter, metered } from '#agent/transport/busy-meter.ts';

/** A clock that moves only when the test says, in milliseconds. */
function fakeClock(): { clock: () => number; advance: (ms: number) => void } {
  let now = 0;
  return { clock: () => now, advance: (ms) => void (now += ms) };
}

describe('BusyMeter', () => {
  it('counts overlapping operations once, as the time anything was in flight', () => {
    // Prepare
    const { clock, advance } = fakeClock();
    const meter = new BusyMeter(clock);

    // Act: A runs 0–30 ms, B 10–50 ms, then nothing for 20 ms, then C 70–75 ms.
    meter.start();
    advance(10);
    meter.start();
    advance(20);
    meter.stop();
    advance(20);
    meter.stop();
    advance(20);
    meter.start();
    advance(5);
    meter.stop();

    // Assess: 0–50 and 70–75.
    expect(meter.ms).toBe(55);
  });

  it('includes an operation still in flight and ignores a stop without a start', () => {
    const { clock, advance } = fakeClock();
    const meter = new BusyMeter(clock);
    meter.stop();
    meter.start();
    advance(7);
    expect(meter.ms).toBe(7);
    meter.stop();
    meter.stop();
    advance(100);
    expect(meter.ms).toBe(7);
  });

  it('times work that fails as well as work that succeeds', async () => {
    const { clock, advance } = fakeClock();
    const meter = new BusyMeter(clock);
    await expect(
      meter.track(async () => {
        advance(3);
        throw new Error('read failed');
      }),
    ).rejects.toThrow('read failed');
    await expect(
      meter.track(async () => {
        advance(4);
        return 'ok';
      }),
    ).resolves.toBe('ok');
    expect(meter.ms).toBe(7);
  });

  it('counts the time a source takes to produce each item, and ends the source when the consumer stops', async () => {
    const { clock, advance } = fakeClock();
    const meter = new BusyMeter(clock);
    let ended = false;
    async function* slow(): AsyncGenerator<number> {
      try {
        for (let i = 0; ; i++) {
          await sleep(0);
          advance(2);
          yield i;
        }
      } finally {
        ended = true;
      }
    }
    const seen: number[] = [];
    for await (const n of metered(slow(), meter)) {
      advance(50); // the consumer's time is not the source's
      seen.push(n);
      if (seen.length === 3) break;
    }
    expect(seen).toEqual([0, 1, 2]);
    expect(meter.ms).toBe(6);
    expect(ended).toBe(true);
  });
});
