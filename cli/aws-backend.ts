import { setTimeout as sleep } from 'node:timers/promises';
import { createAwsClients } from '#aws/clients.ts';
import type { CallRecorder } from '#aws/call-recorder.ts';
import { resolveAgentCommandDocument, resolveDeployment, resolveRestoreStateMachineArn, resolveVerifyStateMachineArn } from '#aws/deployment-outputs.ts';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { DynamoCatalogStore } from '#aws/dynamo-catalog-store.ts';
import { DynamoMediaStore } from '#aws/dynamo-media-store.ts';
import { dynamoMediaDatabase } from '#aws/dynamo-media-manager.ts';
import { SfnExecutionStarter } from '#aws/sfn-execution-starter.ts';
import { SfnExecutionStatuses, describeExecution, executionArnOf } from '#aws/sfn-execution-status.ts';
import { SsmOperatorCommands } from '#aws/ssm-agent-command.ts';
import { readJobUsage, regionOfArn } from '#aws/job-usage-reader.ts';
import { systemClock } from '#lambdas/system-clock.ts';
import { ALL_LOCAL_FILE_SYSTEMS } from '#core/model/selection.ts';
import type { Backend, GlobalOptions } from './backend-interface.ts';
import { executionNameOfOwner, startAwsBackup } from './aws-backup.ts';
import { followRestore } from './follow-restore.ts';
import { followVerify } from './follow-verify.ts';
import { cliOwner } from './cli-owner.ts';

/**
 * The CLI against a deployed stack: the same stores on DynamoDB, and backups
 * started as executions of the backup-job state machine, followed through the
 * Jobs table; restores of tape images the same way, on the restore-job state machine.
 * `observe.recorder` receives every AWS call the backend makes (aws/call-recorder.ts):
 * tests count what a monitor page costs; commands leave it unset.
 */
export async function openAwsBackend(options: GlobalOptions, observe: { recorder?: CallRecorder } = {}): Promise<Backend> {
  const deployment = await resolveDeployment(options);
  const clients = createAwsClients({ region: options.region, endpoint: options.endpoint, profile: options.profile, ...(observe.recorder ? { recorder: observe.recorder } : {}) });
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
    owner: cliOwner(),
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
      // The RunAgentCommand document is looked up only for a multiple-data-streams policy over ALL (its savefs probe):
      // a stack without it can still run every other backup, and such a one is refused (20) before anything starts.
      const agents = (await probesClients(config, request)) ? new SsmOperatorCommands({ client: clients.ssm, documentName: await resolveAgentCommandDocument(options) }) : undefined;
      return startAwsBackup(
        { config, jobs, starter, executions: new SfnExecutionStatuses({ client: clients.sfn, stateMachineArn: deployment.stateMachineArn }), ...(agents ? { agents } : {}), clock: systemClock, pause: () => sleep(2000) },
        request,
        hooks,
      );
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
      // The stack's VerifyJobStateMachineArn output names it (CAIRN_VERIFY_STATE_MACHINE_ARN wins when set); the janitor and the
      // scheduler's sweep end the job on that state machine's executions, as for restores.
      const verifyStateMachineArn = await resolveVerifyStateMachineArn(options);
      // A rehearsal of a policy's client names no image: its owner names the client.
      const owner = `cli:${request.rehearsal ? 'rehearse' : 'verify'}:${request.backupId ?? request.rehearsal?.client ?? request.policy}:${Date.now()}`;
      const name = executionNameOfOwner(owner);
      await new SfnExecutionStarter({ client: clients.sfn, stateMachineArn: verifyStateMachineArn, clock: systemClock }).start(name, { request: { ...request, owner, executionName: name } });
      return followVerify({ owner, executionName: name, jobs, execution: () => describeExecution(clients.sfn, executionArnOf(verifyStateMachineArn, name)), pause: () => sleep(2000), onQueued: hooks.onQueued });
    },
    close: () => clients.destroy(),
  };
}

/** Whether the request runs a multiple-data-streams policy whose selections (the request's, else the policy's) hold ALL. */
async function probesClients(config: DynamoConfigStore, request: Record<string, unknown>): Promise<boolean> {
  const policy = typeof request.policy === 'string' ? await config.getPolicy(request.policy) : undefined;
  if (!policy?.multipleDataStreams) return false;
  const selections = Array.isArray(request.selections) ? (request.selections as string[]) : policy.selections;
  return selections.includes(ALL_LOCAL_FILE_SYSTEMS);
}
