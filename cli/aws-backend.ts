import { setTimeout as sleep } from 'node:timers/promises';
import { createAwsClients } from '#aws/clients.ts';
import { resolveDeployment, resolveRestoreStateMachineArn, resolveVerifyStateMachineArn } from '#aws/deployment-outputs.ts';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { DynamoCatalogStore } from '#aws/dynamo-catalog-store.ts';
import { DynamoMediaStore } from '#aws/dynamo-media-store.ts';
import { dynamoMediaDatabase } from '#aws/dynamo-media-manager.ts';
import { SfnExecutionStarter } from '#aws/sfn-execution-starter.ts';
import { describeExecution, executionArnOf } from '#aws/sfn-execution-status.ts';
import { readJobUsage, regionOfArn } from '#aws/job-usage-reader.ts';
import { systemClock } from '#lambdas/system-clock.ts';
import { requireAgentInstance } from '#core/clients/agent-instance.ts';
import type { Backend, GlobalOptions } from './backend-interface.ts';
import { followBackup } from './follow-backup.ts';
import { followRestore } from './follow-restore.ts';
import { followVerify } from './follow-verify.ts';

/**
 * The CLI against a deployed stack: the same stores on DynamoDB, and backups
 * started as executions of the backup-job state machine, followed through the
 * Jobs table; restores of tape images the same way, on the restore-job state machine.
 */
export async function openAwsBackend(options: GlobalOptions): Promise<Backend> {
  const deployment = await resolveDeployment(options);
  const clients = createAwsClients({ region: options.region, endpoint: options.endpoint, profile: options.profile });
  const client = clients.documents;
  const jobs = new DynamoJobStore({ client, tableName: deployment.jobsTable });
  const starter = new SfnExecutionStarter({ client: clients.sfn, stateMachineArn: deployment.stateMachineArn, clock: systemClock });
  const config = new DynamoConfigStore({ client, tableName: deployment.configTable });
  return {
    kind: 'aws',
    config,
    jobs,
    catalog: new DynamoCatalogStore({ client, tableName: deployment.catalogTable }),
    media: new DynamoMediaStore({ client, tableName: deployment.mediaTable }),
    // The EMM records share the Media table with the broker's reservations (aws/dynamo-media-manager.ts).
    emm: dynamoMediaDatabase({ client, tableName: deployment.mediaTable }),
    clock: systemClock,
    cloudCost: {
      region: regionOfArn(deployment.stateMachineArn),
      usage: async (job) => {
        // A restore job's execution is one of the restore-job state machine (looked up only for one: a stack deployed
        // before it had one still shows its backups' costs; there the restore's transitions are reported unknown).
        const stateMachineArn = job.type === 'restore' ? await resolveRestoreStateMachineArn(options).catch(() => deployment.stateMachineArn) : deployment.stateMachineArn;
        return readJobUsage(job, { jobs, sfn: clients.sfn, stateMachineArn, executionName: job.owner?.startsWith('cli:') ? executionNameOfOwner(job.owner) : undefined });
      },
    },
    async runBackup(request, hooks) {
      // Refused before any execution starts: a client no agent serves would only fail later, in the broker (status 48 too).
      const policy = typeof request.policy === 'string' ? await config.getPolicy(request.policy) : undefined;
      await requireAgentInstance(config, request.client as string, policy);
      const owner = `cli:${request.client as string}:${Date.now()}`;
      const name = executionNameOfOwner(owner);
      // The name carries this call's client and instant, so the execution of that name is this call's whatever
      // the outcome says ('already-started' here can only be this host's clock running ahead of AWS's).
      // The job records its execution's name: `jobs show` finds the execution's history (its state transitions), and the
      // janitor and the sweep find the job when the execution ends without ending it.
      await starter.start(name, { request: { ...request, owner, executionName: name } });
      // Follow the job the execution queued (it carries our owner tag) and the execution itself, until one of them has ended.
      const executionArn = executionArnOf(deployment.stateMachineArn, name);
      return followBackup({ owner, executionName: name, jobs, execution: () => describeExecution(clients.sfn, executionArn), pause: () => sleep(2000), onQueued: hooks.onQueued });
    },
    async runRestore(request, hooks) {
      // A restore of a tape image: an execution of the restore-job state machine (its ARN looked up only now, so a stack
      // deployed before it had one still serves every other command), followed through the Jobs table as a backup is.
      const restoreStateMachineArn = await resolveRestoreStateMachineArn(options);
      const owner = `cli:restore:${request.backupId}:${Date.now()}`;
      const name = executionNameOfOwner(owner);
      // The job records its execution's name: the janitor (on the restore-job state machine's events) and the scheduler's
      // sweep (DescribeExecution on the restore-job state machine, for restore jobs) end it when the execution ends without it.
      await new SfnExecutionStarter({ client: clients.sfn, stateMachineArn: restoreStateMachineArn, clock: systemClock }).start(name, { request: { ...request, owner, executionName: name } });
      const executionArn = executionArnOf(restoreStateMachineArn, name);
      return followRestore({ owner, executionName: name, jobs, execution: () => describeExecution(clients.sfn, executionArn), pause: () => sleep(2000), onQueued: hooks.onQueued });
    },
    async runVerify(request, hooks) {
      // A verify job: an execution of the verify-job state machine, followed through the Jobs table as a restore is.
      // The stack does not deploy that state machine yet: until it does, CAIRN_VERIFY_STATE_MACHINE_ARN names one (else status 20).
      const verifyStateMachineArn = await resolveVerifyStateMachineArn(options);
      const owner = `cli:verify:${request.backupId}:${Date.now()}`;
      const name = executionNameOfOwner(owner);
      await new SfnExecutionStarter({ client: clients.sfn, stateMachineArn: verifyStateMachineArn, clock: systemClock }).start(name, { request: { ...request, owner, executionName: name } });
      return followVerify({ owner, executionName: name, jobs, execution: () => describeExecution(clients.sfn, executionArnOf(verifyStateMachineArn, name)), pause: () => sleep(2000), onQueued: hooks.onQueued });
    },
    close: () => clients.destroy(),
  };
}

/** The execution a `cairn --aws backup` starts, named after its owner tag (also how `jobs show` finds it for jobs that did not record it). */
function executionNameOfOwner(owner: string): string {
  return owner.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 80);
}
