import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '#core/ports/clock.ts';
import { LocalExecutionStarter, type ExecutionEnd } from '#local/local-execution-starter.ts';
import { openSqliteDatabase, type SqliteDatabase } from '#local/sqlite-database.ts';
import { describeExecutionStarterContract } from '../contracts/execution-starter-contract.ts';

/**
 * Two starters on one database file through two connections, as two
 * processes of one CAIRN_HOME hold it; every execution that runs is recorded
 * by name with the input it got.
 */
function openStarters<R>(execute: (input: unknown, name: string) => Promise<R>) {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-starter-'));
  const dbs: SqliteDatabase[] = [openSqliteDatabase(join(dir, 'cairn.db')), openSqliteDatabase(join(dir, 'cairn.db'))];
  const clock = new FakeClock('2026-11-24T21:00:00Z');
  const ran: { name: string; input: unknown }[] = [];
  const ended: { name: string; end: ExecutionEnd<R> }[] = [];
  const [first, second] = dbs.map(
    (db) =>
      new LocalExecutionStarter<R>({
        db,
        clock,
        execute: (input, name) => {
          ran.push({ name, input });
          return execute(input, name);
        },
        onEnded: (name, end) => ended.push({ name, end }),
      }),
  ) as [LocalExecutionStarter<R>, LocalExecutionStarter<R>];
  return {
    first,
    second,
    ran,
    ended,
    settled: () => Promise.all([first.settled(), second.settled()]),
    close: () => {
      for (const db of dbs) db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describeExecutionStarterContract('standalone (SQLite claims)', async () => {
  const starters = openStarters(async () => undefined);
  return {
    starter: starters.first,
    laterStarter: starters.second,
    executions: async (name) => {
      await starters.settled();
      return starters.ran.filter((r) => r.name === name).map((r) => r.input);
    },
    cleanup: async () => starters.close(),
  };
});

describe('the standalone ExecutionStarter', () => {
  let starters: ReturnType<typeof openStarters<string>>;
  let release: () => void;
  beforeEach(() => {
    const gate = new Promise<void>((resolve) => (release = resolve));
    starters = openStarters(async (_input, name) => {
      await gate;
      if (name.startsWith('bad')) throw new Error('the workflow failed');
      return `done ${name}`;
    });
  });
  afterEach(() => starters.close());

  it('answers already-started for a name whose execution has ended', async () => {
    await starters.first.start('p.c.s.1', {});
    release();
    await starters.settled();

    expect(await starters.second.start('p.c.s.1', {})).toBe('already-started');
    expect(starters.ran).toHaveLength(1);
  });

  it('runs in the background: start answers before the execution ends, settled waits for it', async () => {
    expect(await starters.first.start('p.c.s.2', {})).toBe('started');
    expect(starters.ended).toEqual([]);

    release();
    await starters.first.settled();

    expect(starters.ended).toEqual([{ name: 'p.c.s.2', end: { result: 'done p.c.s.2' } }]);
  });

  it('reports an execution that threw as ended with its error, not as a rejected start', async () => {
    expect(await starters.first.start('bad.c.s.3', {})).toBe('started');
    release();
    await starters.first.settled();

    expect(starters.ended).toMatchObject([{ name: 'bad.c.s.3', end: { error: new Error('the workflow failed') } }]);
  });
});
