import { describe, expect, it } from 'vitest';
import { readAll } from '#core/ports/object-store.ts';
import { MemoryObjectStore } from '#test/memory/memory-object-store.ts';
import { withFaults } from './faults.ts';

describe('the fault-injecting wrapper', () => {
  it('fails exactly the Nth matching call, passes the rest through, and counts them all', async () => {
    const faults = withFaults(new MemoryObjectStore()).failOn('put', 2, new Error('disk full'));
    await faults.port.put('a', Buffer.from('1'));
    await expect(faults.port.put('b', Buffer.from('2'))).rejects.toThrow('disk full');
    await faults.port.put('c', Buffer.from('3'));
    expect(await faults.port.list('')).toEqual(['a', 'c']);
    expect(faults.calls('put')).toBe(3);
    expect(faults.calls('list')).toBe(1);
  });

  it('counts only the calls its condition picks, and fails every one from the Nth on', async () => {
    const faults = withFaults(new MemoryObjectStore()).failFrom('put', 2, new Error('gone'), (key) => key.startsWith('f/'));
    await faults.port.put('f/1', Buffer.from('1'));
    await faults.port.put('other', Buffer.from('x'));
    await expect(faults.port.put('f/2', Buffer.from('2'))).rejects.toThrow('gone');
    await expect(faults.port.put('f/3', Buffer.from('3'))).rejects.toThrow('gone');
    expect(await faults.port.list('')).toEqual(['f/1', 'other']);
  });

  it('delays a call, and hangs one until its signal aborts', async () => {
    const faults = withFaults(new MemoryObjectStore()).delay('head', 50);
    const started = performance.now();
    await faults.port.head('x');
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    await faults.port.put('k', Buffer.from('v'));
    const abort = new AbortController();
    faults.hang('get', { signal: abort.signal });
    const hung = faults.port.get('k');
    const raced = await Promise.race([hung.then(() => 'answered'), new Promise((resolve) => setTimeout(() => resolve('still waiting'), 30))]);
    expect(raced).toBe('still waiting');
    abort.abort(new Error('stop'));
    await expect(hung).rejects.toThrow('stop');
    expect((await readAll(await faults.port.get('k').catch(() => faults.port.get('k')).catch(() => (async function* () {})()))).length).toBe(0);
  });
});
