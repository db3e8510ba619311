// Lambda entry: environment and SDK clients are set up once per cold start.
import { SfnExecutionStarter } from '#aws/sfn-execution-starter.ts';
import { SfnExecutionStatuses } from '#aws/sfn-execution-status.ts';
import { SsmOperatorCommands } from '#aws/ssm-agent-command.ts';
import { holdersOfUnloads } from '#core/media/idle-unload.ts';
import { multiStreamStarter } from '#core/jobs/stream-advance.ts';
import { sendSnapshotDelete } from '#core/jobs/snapshot-delete.ts';
import type { Job } from '#core/model/job.ts';
import { S3AbandonedUploads } from '#aws/multipart-sweep.ts';
import { IMAGE_BUCKET_ENV } from '#aws/tables.ts';
import { parseOrThrow } from '#core/validation.ts';
import { z } from 'zod';
import { dynamoDeps } from './dynamo-deps.ts';
import { cloudReachable, cloudStorageOpener } from '#aws/cloud-storage-opener.ts';
import { observedLambda } from './observability.ts';
import { createSchedulerHandler } from './scheduler-handler.ts';
import { readStateMachineEnvironment, type StateMachineEnvironment } from './state-machine-environment.ts';

/**
 * Besides the state machine: the stack's image bucket, whose abandoned
 * multipart uploads the sweep aborts, and the RunAgentCommand document the
 * idle drive unload sends (absent: drives are not unloaded by the tick).
 */
const SchedulerExtras = z.object({ [IMAGE_BUCKET_ENV]: z.string().min(3, 'the image bucket name'), AGENT_COMMAND_DOCUMENT: z.string().min(3, 'the RunAgentCommand document name').optional() });
export type SchedulerEnvironment = StateMachineEnvironment & { readonly IMAGE_BUCKET: string; readonly AGENT_COMMAND_DOCUMENT?: string };

export function readSchedulerEnvironment(env: NodeJS.ProcessEnv = process.env): SchedulerEnvironment {
  const extras = parseOrThrow(SchedulerExtras, env, 'scheduler environment');
  return Object.freeze({ ...readStateMachineEnvironment('scheduler', env), IMAGE_BUCKET: extras[IMAGE_BUCKET_ENV]!, ...(extras.AGENT_COMMAND_DOCUMENT ? { AGENT_COMMAND_DOCUMENT: extras.AGENT_COMMAND_DOCUMENT } : {}) });
}

const env = readSchedulerEnvironment();
const { observability, clients } = observedLambda(env);
const { config, catalog, jobs, media, emm, clock } = dynamoDeps(env, clients, observability);
const { sfn } = clients;
const backupJobs = new SfnExecutionStarter({ client: sfn, stateMachineArn: env.STATE_MACHINE_ARN });
// The RunAgentCommand document: the idle unload sends `unmount` with it, the sweep `delete-snapshot` for a job it ends,
// and a multiple-data-streams parent with ALL its savefs `probe`.
const agents = env.AGENT_COMMAND_DOCUMENT ? new SsmOperatorCommands({ client: clients.ssm, documentName: env.AGENT_COMMAND_DOCUMENT }) : undefined;
const streams = { starter: backupJobs, ...(agents ? { agents } : {}) };

export const handler = createSchedulerHandler({
  config,
  catalog,
  jobs,
  // A policy with multiple data streams: a parent job whose streams each tick advances (core/jobs/stream-advance.ts).
  starter: multiStreamStarter(backupJobs, { ...streams, config, jobs, now: () => clock.now() }),
  streams,
  // The sweep: jobs whose execution is gone or no longer running are ended, stranded reservations released.
  sweep: {
    executions: new SfnExecutionStatuses({ client: sfn, stateMachineArn: env.STATE_MACHINE_ARN }),
    // Restore jobs' executions are on the restore-job state machine.
    ...(env.RESTORE_STATE_MACHINE_ARN ? { restoreExecutions: new SfnExecutionStatuses({ client: sfn, stateMachineArn: env.RESTORE_STATE_MACHINE_ARN }) } : {}),
    // Verify jobs' executions are on the verify-job state machine.
    ...(env.VERIFY_STATE_MACHINE_ARN ? { verifyExecutions: new SfnExecutionStatuses({ client: sfn, stateMachineArn: env.VERIFY_STATE_MACHINE_ARN }) } : {}),
    // Duplicate jobs a policy copy started run on the duplicate-job state machine (those `cairn duplicate` runs have no execution).
    ...(env.DUPLICATE_STATE_MACHINE_ARN ? { duplicateExecutions: new SfnExecutionStatuses({ client: sfn, stateMachineArn: env.DUPLICATE_STATE_MACHINE_ARN }) } : {}),
    // Scheduled catalog backups' and checks' executions are on the catalog-job state machine.
    ...(env.CATALOG_JOB_STATE_MACHINE_ARN ? { catalogExecutions: new SfnExecutionStatuses({ client: sfn, stateMachineArn: env.CATALOG_JOB_STATE_MACHINE_ARN }) } : {}),
    media,
    // A tape drive a job the sweep ends held is recorded as possibly loaded: the idle unload empties it.
    emm,
    // The idle unload's holders hold drives for no job: never released as stranded.
    spared: () => holdersOfUnloads(emm),
    // A backup job the sweep ends (its execution stopped or timed out: no DeleteSnapshot ran) has its snapshots deleted by its agent.
    ...(agents ? { deleteSnapshots: (job: Job) => sendSnapshotDelete({ config, emm, agents }, job) } : {}),
    // Multipart uploads dead agents left in the stack's bucket (the only one the function may list and abort in).
    uploads: new S3AbandonedUploads({ client: clients.s3, buckets: [env.IMAGE_BUCKET] }),
  },
  // Scheduled verifies (a policy's `verify`): executions of the verify-job state machine, named so two ticks start one.
  ...(env.VERIFY_STATE_MACHINE_ARN ? { verifies: new SfnExecutionStarter({ client: sfn, stateMachineArn: env.VERIFY_STATE_MACHINE_ARN }) } : {}),
  // Policy copies (a policy's `copies`): executions of the duplicate-job state machine, named per (image, unit, attempt).
  ...(env.DUPLICATE_STATE_MACHINE_ARN ? { duplicates: new SfnExecutionStarter({ client: sfn, stateMachineArn: env.DUPLICATE_STATE_MACHINE_ARN }) } : {}),
  // Scheduled catalog backups and checks (a policy's catalogBackup, catalogCheck): executions of the catalog-job state machine.
  ...(env.CATALOG_JOB_STATE_MACHINE_ARN ? { catalogJobs: new SfnExecutionStarter({ client: sfn, stateMachineArn: env.CATALOG_JOB_STATE_MACHINE_ARN }) } : {}),
  // Drives kept loaded past their unit's mediaUnmountDelaySeconds: unloaded by the robot's agent through SSM.
  ...(agents ? { idleUnload: { media, emm, agents } } : {}),
  // The cleanup: images past retention expired (S3 objects deleted with the function's client; a disk unit's
  // folder is on its agent's host, so its images wait for `cairn images expire` there), emptied volumes to scratch.
  expiration: { openStorageUnit: cloudStorageOpener(clients.s3), canReach: cloudReachable, media, emm },
  clock,
  // One JSON record per tick (Powertools Logger), errors at ERROR level; the tick's metrics.
  log: observability.log,
  observability,
});
