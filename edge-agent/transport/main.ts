import { Command } from 'commander';
import { runTask } from './run-task.ts';

/** `cairn-agent`: what the SSM document runs on an on-premise host. */
export async function main(argv: string[]): Promise<void> {
  const program = new Command('cairn-agent').description('Cairn edge agent');
  program
    .command('run-task')
    .description('run one agent command (a backup) sent by the backup-job state machine and end its task token')
    .requiredOption('--task-token <token>', 'the Step Functions task token')
    .requiredOption('--command <json>', 'the agent command envelope as JSON: {"kind":"backup","task":{...}}')
    .option('--jobs-table <name>', 'Jobs table for progress reports', process.env.CAIRN_JOBS_TABLE)
    .option('--region <region>', 'AWS region', process.env.AWS_REGION)
    .option('--endpoint <url>', 'AWS endpoint (an emulator)')
    .action(async (options: { taskToken: string; command: string; jobsTable?: string; region?: string; endpoint?: string }) => {
      const status = await runTask(options);
      process.stderr.write(`cairn-agent: task ended with status ${status}\n`);
      // Partial success (1) is a success for SSM too; the workflow has the details.
      process.exitCode = status <= 1 ? 0 : 1;
    });
  await program.parseAsync(argv);
}
