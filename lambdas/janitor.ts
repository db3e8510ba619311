// Lambda entry: environment, Powertools and SDK clients are set up once per cold start.
import { z } from 'zod';
import { SsmOperatorCommands } from '#aws/ssm-agent-command.ts';
import { sendSnapshotDelete } from '#core/jobs/snapshot-delete.ts';
import type { Job } from '#core/model/job.ts';
import { parseOrThrow } from '#core/validation.ts';
import { dynamoDeps } from './dynamo-deps.ts';
import { observedLambda } from './observability.ts';
import { createJanitorHandler } from './janitor-handler.ts';
import { readStateMachineEnvironment } from './state-machine-environment.ts';

/** Besides the state machines: the RunAgentCommand document a stopped job's delete-snapshot is sent with (absent: not sent). */
const JanitorExtras = z.object({ AGENT_COMMAND_DOCUMENT: z.string().min(3, 'the RunAgentCommand document name').optional() });

const env = Object.freeze({ ...readStateMachineEnvironment('janitor'), ...parseOrThrow(JanitorExtras, process.env, 'janitor environment') });
const { observability, clients } = observedLambda(env);
const { jobs, media, catalog, emm, config, clock } = dynamoDeps(env, clients, observability);
const agents = env.AGENT_COMMAND_DOCUMENT ? new SsmOperatorCommands({ client: clients.ssm, documentName: env.AGENT_COMMAND_DOCUMENT }) : undefined;

export const handler = createJanitorHandler({
  jobs,
  media,
  catalog,
  // A tape drive a dead job held is recorded as possibly loaded; the scheduler's idle unload empties it through its agent.
  emm,
  // A stopped or timed-out backup job ran no DeleteSnapshot step: its agent deletes its snapshots.
  ...(agents ? { deleteSnapshots: (job: Job) => sendSnapshotDelete({ config, emm, agents }, job) } : {}),
  clock,
  stateMachineArn: env.STATE_MACHINE_ARN,
  ...(env.RESTORE_STATE_MACHINE_ARN ? { restoreStateMachineArn: env.RESTORE_STATE_MACHINE_ARN } : {}),
  ...(env.VERIFY_STATE_MACHINE_ARN ? { verifyStateMachineArn: env.VERIFY_STATE_MACHINE_ARN } : {}),
  ...(env.DUPLICATE_STATE_MACHINE_ARN ? { duplicateStateMachineArn: env.DUPLICATE_STATE_MACHINE_ARN } : {}),
  // Scheduled catalog backups and checks run in executions of the catalog-job state machine.
  ...(env.CATALOG_JOB_STATE_MACHINE_ARN ? { catalogStateMachineArn: env.CATALOG_JOB_STATE_MACHINE_ARN } : {}),
  // One Powertools record per execution it looked after.
  log: (action) => observability.log('info', 'execution janitor', action),
});
