import { Command } from 'commander';
import { createAwsClients } from '#aws/clients.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { sfnTaskToken } from '#aws/sfn-task-reporter.ts';
import { s3StorageUnitStore } from '#aws/s3-object-store.ts';
import { UsageMeter } from '#aws/usage-meter.ts';
import { storageUnitOpener } from './open-storage-unit.ts';
import { runTask } from './run-task.ts';
import { openSnapshotAgent } from '../snapshot/snapshot-agent.ts';
import { runOperatorCommand } from './run-command.ts';
import { messageOf, statusOf } from '#core/errors.ts';
import { randomUUID } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { FileRendezvous } from '../tape/spanning/file-rendezvous.ts';
import { ReaderThread } from '../reader/reader-thread.ts';
import { addMoverCommand } from './mover-main.ts';

/**
 * `cairn-agent`: what the SSM document runs on an on-premise host. This is the
 * agent's composition root, the one edge-agent file that may import adapters
 * (aws/): it builds them from the command line and
 * the environment and hands them to the agent code, which sees only ports.
 */
export async function main(argv: string[]): Promise<void> {
  const program = new Command('cairn-agent').description('Cairn edge agent');
  program
    .command('run-task')
    .description('run one agent command (a backup) sent by the backup-job state machine and end its task token')
    .requiredOption('--task-token <token>', 'the Step Functions task token')
    .requiredOption('--command <json>', 'the agent command envelope as JSON: {"kind":"backup","task":{...}}')
    .option('--jobs-table <name>', 'Jobs table for progress reports', process.env.CAIRN_JOBS_TABLE)
    .option('--region <region>', 'AWS region (the SSM document passes the stack\'s; default AWS_REGION)', process.env.AWS_REGION)
    .option('--endpoint <url>', 'AWS endpoint (an emulator)')
    .option('--state-dir <dir>', "the agent's state directory on this host (where a tape backup waiting for its next volume meets the Continue step)", process.env.CAIRN_AGENT_STATE_DIR ?? join(homedir(), '.cairn-agent'))
    .action(async (options: { taskToken: string; command: string; jobsTable?: string; region?: string; endpoint?: string; stateDir: string }) => {
      // The backup's reader thread boots on the other core while this one sets up the AWS clients, not in the backup.
      ReaderThread.keepIdleThread();
      // The meter counts the task's S3 and DynamoDB requests; they go to the job with its progress (docs/cost.md).
      const meter = new UsageMeter();
      const clients = createAwsClients({ region: options.region, endpoint: options.endpoint, meter });
      // Without a region the agent could not even report its failure: say so where SSM keeps it (the document passes --region).
      try {
        await clients.sfn.config.region();
      } catch {
        clients.destroy();
        process.stderr.write('cairn-agent: no AWS region: pass --region (the SSM document passes the stack\'s) or set AWS_REGION\n');
        process.exitCode = 1;
        return;
      }
      let status: number;
      try {
        status = await runTask(
          { command: options.command },
          {
            token: sfnTaskToken(clients.sfn, options.taskToken),
            jobs: options.jobsTable ? new DynamoJobStore({ client: clients.documents, tableName: options.jobsTable }) : undefined,
            // S3 units through the same clients (region, endpoint) as the rest of the task.
            openStore: storageUnitOpener(async (unit) => s3StorageUnitStore(unit, clients.s3)),
            // The agent host's clock: the one place the agent reads the time.
            clock: { now: () => new Date() },
            // Not fatal (the next report supersedes it), but never silent: SSM keeps stderr in the command output.
            onProgressFailure: (error) => process.stderr.write(`cairn-agent: ${error instanceof Error ? error.message : String(error)}\n`),
            usage: () => meter.snapshot(),
            // Spanning: a backup whose volume filled waits in this process; the Continue step's process finds it through these files.
            spanning: {
              rendezvous: new FileRendezvous({ directory: join(options.stateDir, 'spanning') }),
              taskToken: options.taskToken,
              tokenFor: (token) => sfnTaskToken(clients.sfn, token),
              waiter: () => randomUUID(),
            },
            // Frozen images: recorded in the state directory, taken over by each command of their job, left ones removed.
            snapshots: openSnapshotAgent(options.stateDir),
            // Restore rehearsals whose policy names no scratch directory restore under the state directory.
            rehearsalScratch: join(options.stateDir, 'rehearsals'),
          },
        );
      } finally {
        clients.destroy();
      }
      process.stderr.write(`cairn-agent: task ended with status ${status}\n`);
      // Partial success (1) is a success for SSM too; the workflow has the details.
      process.exitCode = status <= 1 ? 0 : 1;
    });
  program
    .command('run-command')
    .description('run one operator command (a library inventory) sent by `cairn --aws` and print its result as JSON (SSM keeps it for the sender)')
    .requiredOption('--command <json>', 'the agent command envelope as JSON: {"kind":"inventory","task":{...}}')
    .option('--state-dir <dir>', "the agent's state directory on this host (its snapshot registry, for delete-snapshot)", process.env.CAIRN_AGENT_STATE_DIR ?? join(homedir(), '.cairn-agent'))
    .action(async (options: { command: string; stateDir: string }) => {
      // The answer is the whole of stdout, one line: `{"result":...}` or `{"statusCode":N,"message":...}` (cli/agent-command-reply.ts reads it).
      try {
        const result = await runOperatorCommand(options.command, undefined, openSnapshotAgent(options.stateDir));
        process.stdout.write(`${JSON.stringify({ result })}\n`);
      } catch (error) {
        const statusCode = statusOf(error);
        process.stdout.write(`${JSON.stringify({ statusCode, message: messageOf(error) })}\n`);
        process.stderr.write(`cairn-agent: command ended with status ${statusCode}\n`);
        process.exitCode = 1;
      }
    });
  // Listed here for --help; bin/cairn-agent.js and the one-file bundle start it through mover-main.ts, without this file's imports.
  addMoverCommand(program);
  await program.parseAsync(argv);
}
