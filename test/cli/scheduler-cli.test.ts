import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openLocalRuntime } from '#local/runtime.ts';
import { samplePolicy } from '../contracts/fixtures.ts';
import { runCairn } from './cli-process.ts';

let work: string;
let home: string;
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cairn-cli-schedule-'));
  home = join(work, 'home');
  mkdirSync(join(work, 'data'));
  writeFileSync(join(work, 'data', 'f.txt'), 'hello');
  const rt = await openLocalRuntime({ home });
  await rt.config.putPolicy(
    samplePolicy('hourly', {
      selections: [join(work, 'data')],
      storageUnit: 'local-disk',
      clients: [{ name: 'h1', priority: 1 }],
      schedules: [{ name: 'incr', type: 'full', frequency: 3600, windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '00:00', duration: 86400 }], retention: { days: 1 } }],
    }),
  );
  rt.close();
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

it('shows the due instant, runs the due job once from `cairn local serve --once`, and then says when it is due again', async () => {
  const preview = await runCairn(home, ['schedule', 'due', '--json']);
  const { due } = JSON.parse(preview.stdout) as { due: { schedule: string; dueSince: string; windowStart: string; executionName: string }[] };
  expect(due).toHaveLength(1);
  expect(due[0]!.executionName).toBe(`hourly.h1.incr.${Date.parse(due[0]!.dueSince) / 1000}`);

  const serve = await runCairn(home, ['local', 'serve', '--once']);
  expect(serve.code, serve.stderr).toBe(0);
  expect(serve.stderr).toMatch(/cairn: starting hourly\/incr for h1: no successful backup yet/);
  expect(serve.stderr).toMatch(/cairn: job 1 ended with status 0/);

  const jobs = JSON.parse((await runCairn(home, ['jobs', '--json'])).stdout) as { jobId: number; statusCode: number; dueAt: string; executionName: string }[];
  expect(jobs).toMatchObject([{ jobId: 1, statusCode: 0, dueAt: due[0]!.dueSince, executionName: due[0]!.executionName }]);
  const after = JSON.parse((await runCairn(home, ['schedule', 'due', '--all', '--json'])).stdout) as { due: unknown[]; notDue: { reason: string }[] };
  expect(after.due).toEqual([]);
  expect(after.notDue.map((n) => n.reason)).toEqual([expect.stringMatching(/^frequency 1h not reached: last success h1_\d+, due again /)]);
});
