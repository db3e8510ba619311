import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { createAwsClients, type AwsClients } from '#aws/clients.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { compareTrees } from '#cli/demo/compare-trees.ts';
import { SsmShim } from '../support/ssm-shim.ts';
import { LOCALSTACK_ENDPOINT, localStackSkipReason } from './localstack-reachable.ts';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
const cdklocal = join(root, 'node_modules/.bin/cdklocal');
const skip = await localStackSkipReason();

/** A made-up hybrid instance: LocalStack records SendCommand to it, and the shim plays its SSM Agent. */
const INSTANCE = 'mi-0c0ffee0c0ffee000';
const STACK = `CairnLs${Date.now().toString(36)}`;
const REGION = 'us-east-1';

/**
 * `npm run test:localstack`: the real stack deployed with cdklocal (the
 * Lambdas run in LocalStack's containers, the backup-job workflow in its Step
 * Functions), then a backup and a restore through the CLI as a user runs
 * them. Only the SSM Agent on the host is played, by test/support/ssm-shim.ts,
 * which runs the deployed document's steps (download the agent bundle from
 * the assets bucket, check its sha256, run it) for each SendCommand.
 */
describe.skipIf(Boolean(skip))(`the stack on LocalStack${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  let clients: AwsClients;
  let shim: SsmShim;
  let outputs: Record<string, string>;
  const cairn = async (...args: string[]): Promise<string> =>
    (await run(process.execPath, [join(root, 'bin/cairn.js'), '--aws', '--stack', STACK, '--endpoint', LOCALSTACK_ENDPOINT, '--region', REGION, ...args], { env, cwd: work, maxBuffer: 64 << 20 })).stdout;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cairn-localstack-'));
    env = { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: REGION, AWS_ENDPOINT_URL: LOCALSTACK_ENDPOINT };
    const context = ['-c', `stackName=${STACK}`, '-c', `namePrefix=${STACK.toLowerCase()}`];
    await run(cdklocal, ['bootstrap', ...context], { env, cwd: root, maxBuffer: 64 << 20, timeout: 10 * 60_000 });
    await run(cdklocal, ['deploy', STACK, '--require-approval', 'never', ...context], { env, cwd: root, maxBuffer: 64 << 20, timeout: 30 * 60_000 });
    const cfn = new CloudFormationClient({ endpoint: LOCALSTACK_ENDPOINT, region: REGION });
    const stack = (await cfn.send(new DescribeStacksCommand({ StackName: STACK }))).Stacks?.[0];
    outputs = Object.fromEntries((stack?.Outputs ?? []).map((o) => [o.OutputKey!, o.OutputValue!]));
    cfn.destroy();
    clients = createAwsClients({ endpoint: LOCALSTACK_ENDPOINT, region: REGION });
    shim = new SsmShim({ ssm: clients.ssm, s3: clients.s3, instanceId: INSTANCE, documentName: outputs['AgentDocumentName'], env: { ...env, CAIRN_AWS_ENDPOINT: LOCALSTACK_ENDPOINT } });
    await shim.start();
  }, 45 * 60_000);

  afterAll(async () => {
    await shim?.stop();
    clients?.destroy();
    if (!skip) await run(cdklocal, ['destroy', STACK, '--force', '-c', `stackName=${STACK}`], { env, cwd: root }).catch(() => undefined);
    if (work) rmSync(work, { recursive: true, force: true });
  }, 15 * 60_000);

  it('backs up a host through the deployed workflow and restores it byte for byte', async () => {
    const source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 3 * 1024 * 1024 });
    await cairn('storage-unit', 'add', '--name', 's3', '--kind', 's3', '--bucket', outputs['ImageBucketName']!, '--prefix', 'site1');
    await cairn('client', 'add', 'lshost', '--instance', INSTANCE);
    const backup = JSON.parse(await cairn('backup', '--client', 'lshost', '--path', source, '--storage-unit', 's3', '--json')) as { statusCode: number; backupId: string };
    expect(backup.statusCode).toBe(0);
    expect(shim.runs.map((r) => [r.exitCode, r.stderr])).toEqual([[0, '']]);
    const target = join(work, 'restore');
    await cairn('restore', '--backup-id', backup.backupId, '--to', target);
    expect((await compareTrees(source, join(target, source))).differences).toEqual([]);
  }, 20 * 60_000);
});
