import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startAwsEmulator, emulatorClients } from '../setup/aws-emulator.ts';
import { createTables } from '#aws/create-tables.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { imageKeys } from '#core/ids.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { sampleJob } from '../contracts/fixtures.ts';

const run = promisify(execFile);
const bin = new URL('../../bin/cairn-agent.js', import.meta.url).pathname;
const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;

/**
 * `cairn-agent run-task` as the SSM document runs it: a real process that
 * writes the image, reports progress to the Jobs table and ends the task
 * token, all through the SDK (moto accepts SendTask* calls without a workflow).
 */
describe.skipIf(Boolean(skip))(`cairn-agent run-task${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let work: string;
  let jobs: DynamoJobStore;
  let jobsTable: string;
  beforeAll(async () => {
    if ('skip' in emulator) return;
    work = mkdtempSync(join(tmpdir(), 'cairn-agent-'));
    const clients = emulatorClients(emulator.endpoint);
    jobsTable = (await createTables(clients.dynamodb, `agent${Date.now()}`)).jobs;
    jobs = new DynamoJobStore({ client: clients.documents, tableName: jobsTable });
  });
  afterAll(async () => {
    if (work) rmSync(work, { recursive: true, force: true });
    if (!('skip' in emulator)) await emulator.stop();
  });

  /** Runs the agent with a command envelope (a string is sent as it is). */
  const send = async (command: unknown): Promise<{ code: number; stderr: string }> => {
    const env = { ...process.env, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' };
    const args = [bin, 'run-task', '--task-token', 'token-1', '--command', typeof command === 'string' ? command : JSON.stringify(command), '--jobs-table', jobsTable, '--region', 'us-east-1', '--endpoint', (emulator as { endpoint: string }).endpoint];
    try {
      const { stderr } = await run(process.execPath, args, { env });
      return { code: 0, stderr };
    } catch (error) {
      const e = error as { code: number; stderr: string };
      return { code: e.code, stderr: e.stderr };
    }
  };
  /** Runs the agent with a backup command for `task`. */
  const agent = (task: unknown) => send({ kind: 'backup', task });

  it('writes the image, records progress on the job, and exits 0', async () => {
    const source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 1000 });
    await jobs.create(sampleJob(5, { state: 'ACTIVE', backupId: 'agenthost_1795400000' }));
    const unitPath = join(work, 'unit');
    const result = await agent({ jobId: 5, backupId: 'agenthost_1795400000', client: 'agenthost', policy: 'p', schedule: 's', level: 'full', selections: [source], storageUnit: { name: 'disk1', kind: 'disk', path: unitPath } });
    expect(result.stderr).toMatch(/task ended with status 0/);
    expect(result.code).toBe(0);
    expect(existsSync(join(unitPath, imageKeys('agenthost_1795400000').manifest))).toBe(true);
    expect((await jobs.get(5))?.progress.files).toBeGreaterThan(10);
    // Its own usage rides with its progress (docs/cost.md): the progress writes it made, measured, and the last
    // report's own write, whose units come back only after it; no S3 request, the unit being a disk.
    const usage = (await jobs.get(5))?.progress.usage;
    expect(usage?.dynamoWritesUnmeasured).toBe(1);
    expect(usage?.dynamoWriteRequests).toBeGreaterThanOrEqual(2);
    expect(usage?.dynamoWriteUnits).toBeGreaterThan(0);
    expect(usage?.s3Tier1Requests).toBe(0);
  });

  it('fails the task with status 71 when nothing to back up exists', async () => {
    const result = await agent({ jobId: 6, backupId: 'agenthost_1795400001', client: 'agenthost', policy: 'p', schedule: 's', level: 'full', selections: [join(work, 'nothing')], storageUnit: { name: 'disk1', kind: 'disk', path: join(work, 'unit') } });
    expect(result.stderr).toMatch(/task ended with status 71/);
    expect(result.code).toBe(1);
  });

  it('fails the task with status 20 for a command that is not JSON, or a backup task that is not valid', async () => {
    expect((await send('{"kind": "backup"')).stderr).toMatch(/task ended with status 20/);
    expect((await agent({ jobId: 'x' })).stderr).toMatch(/task ended with status 20/);
  });

  it('refuses an unknown command kind, and one it does not run yet, with status 20', async () => {
    for (const kind of ['defragment', 'mount', 'restore']) {
      const result = await send({ kind, task: { jobId: 9 } });
      expect(result.stderr, kind).toMatch(/task ended with status 20/);
      expect(result.code, kind).toBe(1);
    }
  });
});
