import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { startAwsEmulator, emulatorClients } from '../setup/aws-emulator.ts';
import { AWS_ENDPOINT_ENV } from '#aws/clients.ts';
import { createTables } from '#aws/create-tables.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { finishJob } from '#core/jobs/job-service.ts';
import { StatusCode } from '#core/status-codes.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { AGENT_BUNDLE_NAME, buildAgentBundle } from '../../scripts/build.ts';
import { agentDocumentContent, type AgentRunConfig } from '../../cdk/constructs/agent-document.ts';
import { sampleJob } from '../contracts/fixtures.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;

let work: string;
let bundle: string;

beforeAll(async () => {
  // Under /tmp, where no node_modules is above: the bundle must need none.
  work = mkdtempSync(join(tmpdir(), 'cairn-agent-bundle-test-'));
  bundle = join(work, 'build', AGENT_BUNDLE_NAME);
  await buildAgentBundle(ROOT, bundle);
}, 60_000);
afterAll(async () => {
  if (work) rmSync(work, { recursive: true, force: true });
  if (!('skip' in emulator)) await emulator.stop();
});

/** A bare environment: only node on PATH (plus sh and coreutils), nothing that points at the repository. */
function bareEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, HOME: work, ...extra };
}

describe('the agent bundle', () => {
  it('runs with only Node, from an empty directory with no node_modules anywhere above it', () => {
    const empty = mkdtempSync(join(tmpdir(), 'cairn-empty-'));
    try {
      copyFileSync(bundle, join(empty, AGENT_BUNDLE_NAME));
      const result = spawnSync(process.execPath, [AGENT_BUNDLE_NAME, '--help'], { cwd: empty, env: bareEnv({}), encoding: 'utf8' });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(/Usage: cairn-agent/);
      expect(result.stdout).toMatch(/run-task/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('refuses to run a task without a region, saying how to give one (it could not even report its failure)', () => {
    const result = spawnSync(process.execPath, [bundle, 'run-task', '--task-token', 't', '--command', '{}'], { cwd: work, env: bareEnv({}), encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('cairn-agent: no AWS region: pass --region');
  });
});

/**
 * The SSM document's script, as generated, run with /bin/sh the way the SSM
 * Agent runs it: in the step's working directory holding the file the
 * download step placed, with SSM_<parameter> set, and the region and Jobs
 * table the stack wrote into it. Against moto: a Jobs table and an S3 bucket;
 * the agent's SendTask* calls are accepted without a workflow.
 */
describe.skipIf(Boolean(skip))(`the agent document's script with the real bundle${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let host: string;
  let jobs: DynamoJobStore;
  let config: AgentRunConfig;
  let bucket: string;
  let clients: ReturnType<typeof emulatorClients>;

  beforeAll(async () => {
    if ('skip' in emulator) return;
    clients = emulatorClients(emulator.endpoint);
    const tables = await createTables(clients.dynamodb, `doc${Date.now()}`);
    jobs = new DynamoJobStore({ client: clients.documents, tableName: tables.jobs });
    bucket = `cairn-doc-${Date.now()}`;
    await clients.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    // The download step's destination (AGENT_DIRECTORY), here a temp directory.
    host = join(work, 'var-lib-cairn-agent');
    mkdirSync(host);
    const sha256 = createHash('sha256').update(readFileSync(bundle)).digest('hex');
    config = { fileName: `${sha256.slice(0, 16)}.mjs`, sha256, region: 'us-east-1', jobsTable: tables.jobs };
    copyFileSync(bundle, join(host, config.fileName));
  });
  afterAll(() => clients?.destroy());

  const runDocument = (command: unknown): { status: number | null; stderr: string } => {
    const content = agentDocumentContent(config, { httpUrl: `https://s3.us-east-1.amazonaws.com/assets/${config.fileName}` }) as { mainSteps: { action: string; inputs: { runCommand?: string[] } }[] };
    const script = content.mainSteps.find((step) => step.action === 'aws:runShellScript')!.inputs.runCommand!.join('\n');
    const env = bareEnv({
      SSM_taskToken: 'token-of-the-stream-state',
      SSM_command: JSON.stringify(command),
      // The emulator stands in for AWS; credentials are the host's (here fake ones), the region is the document's.
      [AWS_ENDPOINT_ENV]: (emulator as { endpoint: string }).endpoint,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
    });
    return spawnSync('/bin/sh', ['-c', script], { cwd: host, env, encoding: 'utf8', timeout: 60_000 });
  };
  const s3Unit = { name: 's3unit', kind: 's3', prefix: 'cairn' };
  const keysUnder = async (prefix: string): Promise<string[]> => ((await clients.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).Contents ?? []).map((o) => o.Key!);

  it('backs up to an S3 storage unit and reports progress on the job record', async () => {
    const source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 1000 });
    const backupId = 'dochost_1795400000';
    await jobs.create(sampleJob(11, { client: 'dochost', state: 'ACTIVE', backupId, storageUnit: 's3unit' }));

    const result = runDocument({ kind: 'backup', task: { jobId: 11, backupId, client: 'dochost', policy: 'p', schedule: 's', level: 'full', selections: [source], storageUnit: { ...s3Unit, bucket } } });

    expect(result.stderr).toMatch(/task ended with status 0/);
    expect(result.status).toBe(0);
    expect((await jobs.get(11))?.progress.files).toBeGreaterThan(10);
    expect((await keysUnder(`cairn/images/dochost/${backupId}/`)).some((key) => key.endsWith('manifest.json'))).toBe(true);
  });

  it('honours a cancel: a job no longer ACTIVE stops the agent, which fails the task with status 150 and leaves no image', async () => {
    const source = join(work, 'source');
    const backupId = 'dochost_1795400001';
    await jobs.create(sampleJob(12, { client: 'dochost', state: 'ACTIVE', backupId, storageUnit: 's3unit' }));
    // `cairn jobs cancel` ends the record; the agent learns it from its next progress write.
    await finishJob(jobs, 12, { failure: { Error: `Status${StatusCode.TERMINATED_BY_ADMINISTRATOR}`, Cause: 'cancelled by an administrator' } }, new Date());

    const result = runDocument({ kind: 'backup', task: { jobId: 12, backupId, client: 'dochost', policy: 'p', schedule: 's', level: 'full', selections: [source], storageUnit: { ...s3Unit, bucket } } });

    expect(result.stderr).toMatch(/job 12 was ended \(status 150\)|task ended with status 150/);
    expect(result.stderr).toMatch(/task ended with status 150/);
    expect(result.status).toBe(1);
    expect(await keysUnder(`cairn/images/dochost/${backupId}/`)).toEqual([]);
  });

  it('fails a backup to a zstd-compressed unit with status 219 when zstd-napi is not next to the bundle', async () => {
    const backupId = 'dochost_1795400002';
    await jobs.create(sampleJob(13, { client: 'dochost', state: 'ACTIVE', backupId, storageUnit: 's3unit' }));

    const result = runDocument({ kind: 'backup', task: { jobId: 13, backupId, client: 'dochost', policy: 'p', schedule: 's', level: 'full', selections: [join(work, 'source')], storageUnit: { ...s3Unit, bucket, compression: { codec: 'zstd', level: 1 } } } });

    expect(result.stderr).toMatch(/task ended with status 219/);
    expect(result.status).toBe(1);
  });
});
