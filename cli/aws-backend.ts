import { setTimeout as sleep } from 'node:timers/promises';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { createAwsClients } from '#aws/clients.ts';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { DynamoCatalogStore } from '#aws/dynamo-catalog-store.ts';
import { DynamoMediaStore } from '#aws/dynamo-media-store.ts';
import { systemClock } from '#core/ports/clock.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { imageWrittenBy, type BackupJob } from '#core/model/job.ts';
import type { Backend, GlobalOptions } from './backend.ts';

/** What the CLI needs from a deployment; from env (CAIRN_*) or the stack's outputs. */
interface Deployment {
  configTable: string;
  jobsTable: string;
  catalogTable: string;
  mediaTable: string;
  stateMachineArn: string;
}

const outputPatterns: Record<keyof Deployment, RegExp> = {
  configTable: /ConfigTable/i,
  jobsTable: /JobsTable/i,
  catalogTable: /CatalogTable/i,
  mediaTable: /MediaTable/i,
  stateMachineArn: /StateMachine/i,
};
const envNames: Record<keyof Deployment, string> = {
  configTable: 'CAIRN_CONFIG_TABLE',
  jobsTable: 'CAIRN_JOBS_TABLE',
  catalogTable: 'CAIRN_CATALOG_TABLE',
  mediaTable: 'CAIRN_MEDIA_TABLE',
  stateMachineArn: 'CAIRN_STATE_MACHINE_ARN',
};

async function resolveDeployment(options: GlobalOptions): Promise<Deployment> {
  const fromEnv = Object.fromEntries(Object.entries(envNames).map(([k, v]) => [k, process.env[v]])) as Partial<Deployment>;
  if (Object.values(fromEnv).every(Boolean)) return fromEnv as Deployment;
  const cfn = new CloudFormationClient({ region: options.region, endpoint: options.endpoint, profile: options.profile });
  try {
    const stack = (await cfn.send(new DescribeStacksCommand({ StackName: options.stack ?? 'CairnStack' }))).Stacks?.[0];
    const outputs = stack?.Outputs ?? [];
    const find = (key: keyof Deployment): string => {
      const value = fromEnv[key] ?? outputs.find((o) => outputPatterns[key].test(o.OutputKey ?? ''))?.OutputValue;
      if (!value) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `stack ${options.stack} has no output for ${key}; set ${envNames[key]}`);
      return value;
    };
    return { configTable: find('configTable'), jobsTable: find('jobsTable'), catalogTable: find('catalogTable'), mediaTable: find('mediaTable'), stateMachineArn: find('stateMachineArn') };
  } catch (error) {
    if (error instanceof CairnError) throw error;
    throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `cannot read stack ${options.stack}: set ${Object.values(envNames).join(', ')} or deploy with cdk deploy`, { cause: error });
  } finally {
    cfn.destroy();
  }
}

/**
 * The CLI against a deployed stack: the same stores on DynamoDB, and backups
 * started as executions of the backup-job state machine, followed through the
 * Jobs table.
 */
export async function openAwsBackend(options: GlobalOptions): Promise<Backend> {
  const deployment = await resolveDeployment(options);
  const clients = createAwsClients({ region: options.region, endpoint: options.endpoint, profile: options.profile });
  const client = clients.documents;
  const jobs = new DynamoJobStore({ client, tableName: deployment.jobsTable });
  return {
    kind: 'aws',
    config: new DynamoConfigStore({ client, tableName: deployment.configTable }),
    jobs,
    catalog: new DynamoCatalogStore({ client, tableName: deployment.catalogTable }),
    media: new DynamoMediaStore({ client, tableName: deployment.mediaTable }),
    clock: systemClock,
    async runBackup(request, hooks) {
      const owner = `cli:${request.client as string}:${Date.now()}`;
      const name = owner.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 80);
      await clients.sfn.send(new StartExecutionCommand({ stateMachineArn: deployment.stateMachineArn, name, input: JSON.stringify({ request: { ...request, owner } }) }));
      // Follow the job the execution queued (it carries our owner tag) until it is DONE.
      let jobId: number | undefined;
      for (;;) {
        await sleep(2000);
        if (jobId === undefined) {
          const job = (await jobs.list({ limit: 50 })).find((j): j is BackupJob => j.type === 'backup' && j.owner === owner);
          if (job) {
            jobId = job.jobId;
            hooks.onQueued?.({ jobId: job.jobId, client: job.client, policy: job.policy, schedule: job.schedule });
          }
          continue;
        }
        const job = await jobs.get(jobId);
        if (job?.state === 'DONE') return { jobId, statusCode: job.statusCode ?? StatusCode.INTERNAL_ERROR, backupId: imageWrittenBy(job), error: job.error };
      }
    },
    close: () => clients.destroy(),
  };
}
