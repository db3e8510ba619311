import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { AwsClients } from '#aws/clients.ts';
import { createTables } from '#aws/create-tables.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { JobReport } from '#core/report/job-report.ts';
import { nightJobs } from '../core/report/night.ts';
import { emulatorClients, startAwsEmulator } from '../setup/aws-emulator.ts';
import { cairnBin, cliAwsEnv } from './cli-process.ts';

const run = promisify(execFile);
const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;
afterAll(() => ('stop' in emulator ? emulator.stop() : undefined));

describe.skipIf(skip)('cairn --aws report (the DynamoDB job table, on the emulator)', () => {
  let clients: AwsClients;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    clients = emulatorClients((emulator as { endpoint: string }).endpoint);
    const tables = await createTables(clients.dynamodb, `reportcli${Date.now()}`);
    const jobs = new DynamoJobStore({ client: clients.documents, tableName: tables.jobs });
    for (const job of nightJobs()) await jobs.create(job);
    env = cliAwsEnv(tables);
  });
  afterAll(() => clients?.destroy());

  it('lists the night from the job table, failures first, the running job last and the night before left out', async () => {
    const { stdout } = await run(process.execPath, [cairnBin, '--aws', '--endpoint', (emulator as { endpoint: string }).endpoint, 'report', '--since', '2026-12-02T06:00:00Z', '--json'], { env });
    const report = JobReport.parse(JSON.parse(stdout));
    // No janitor runs before a cloud command: the ACTIVE job is still running.
    expect(report.jobs.map((l) => [l.jobId, l.outcome])).toEqual([
      [6, 'failed'],
      [5, 'failed'],
      [7, 'failed'],
      [4, 'partial'],
      [3, 'success'],
      [2, 'success'],
      [8, 'success'],
      [12, 'success'],
      [11, 'running'],
    ]);
    expect(report.jobs.find((l) => l.jobId === 8)!.streams!.map((s) => s.jobId)).toEqual([9, 10]);
    expect(report.totals).toMatchObject({ jobs: 9, failed: 3, partial: 1, succeeded: 4, running: 1 });
  });
});
