import './polyfills.ts';
import { StateMachine } from 'aws-local-stepfunctions';
import { z } from 'zod';
import { commandJobId, parseAgentCommand } from '#core/model/agent-command.ts';
import { jobRecordReporter } from '#core/jobs/job-reporter.ts';
import { CairnError, messageOf, statusOf, toWorkflowError } from '#core/errors.ts';
import { parseOrThrow } from '#core/validation.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import type { Clock } from '#core/ports/clock.ts';
import type { TaskReporter } from '#core/ports/task-reporter.ts';
import { dispatchCommand, type CommandHandlers } from '#agent/transport/dispatch.ts';

/**
 * What the job engines share (job-engine.ts runs backup-job.asl.json,
 * restore-engine.ts restore-job.asl.json): running a job's state machine
 * in-process with aws-local-stepfunctions, every Task state overridden by
 * name, and the SendCommand states handed to the edge agent in this process.
 */

/** A Task state's handler: the same JSON in, JSON out a Lambda or the agent has. */
export type TaskHandler = (input: unknown) => Promise<unknown>;

/** The `Parameters` a SendCommand state hands to ssm:SendCommand; locally they go to the in-process agent. */
const SendCommandInput = z.object({
  Parameters: z.object({ command: z.array(z.string()).length(1), taskToken: z.array(z.string()).length(1) }),
});

/** What the in-process agent gives the handlers of one command. */
export interface AgentCall {
  jobId: number;
  /** Reports progress to the job record; aborts `signal` when the job was ended meanwhile. */
  reporter: TaskReporter;
  signal: AbortSignal;
}

/**
 * The Task handler of the SendCommand states: parses the command the state
 * sends and runs it with the agent's handler of its kind. `cairn jobs cancel`
 * from another process ends the job record; the agent stops at its next
 * report. In-process the agent's liveness is this process's own: no
 * workflow heartbeat. A failure goes back to the state machine as the
 * workflow error a task token's failure would carry.
 */
export function inProcessAgent(deps: { jobs: JobStore; clock: Clock }, handlersFor: (call: AgentCall) => CommandHandlers): TaskHandler {
  return async (input) => {
    try {
      const sent = parseOrThrow(SendCommandInput, input, 'ssm:sendCommand input');
      const command = parseAgentCommand(sent.Parameters.command[0]!);
      const jobId = commandJobId(command);
      const cancelled = new AbortController();
      const reporter = jobRecordReporter({ jobs: deps.jobs, jobId, clock: deps.clock, abort: cancelled, heartbeat: async () => undefined });
      return await dispatchCommand(command, handlersFor({ jobId, reporter, signal: cancelled.signal }));
    } catch (error) {
      throw toWorkflowError(error);
    }
  };
}

/** How a run ended: the job's id once Queue recorded it, or the refusal that kept it from being queued. */
export type ExecutionEnd = { jobId: number; error?: string } | { jobId: undefined; statusCode: number; error: string };

/**
 * Runs `definition` once on `input` with `handlers` for its Task states,
 * until the execution ends. `queue` is the Queue state's handler: the job's
 * id is taken from what it returns, and `onQueued` told. A Queue that
 * refuses the request ends the run with the refusal's status and message
 * (the CairnError a handler threw, under the interpreter's wrapping).
 * `finally` runs however the execution ended, before the result is made.
 */
export async function runInProcess<Ref extends { jobId: number }>(
  definition: Record<string, unknown>,
  input: Record<string, unknown>,
  handlers: { queue: (input: unknown) => Promise<Ref>; onQueued?: (ref: Ref) => void; states: Record<string, TaskHandler>; finally?: () => Promise<void> },
): Promise<ExecutionEnd> {
  let jobId: number | undefined;
  let rejected: unknown;
  // Not validated here: compiling asl-validator's JSON schema (ajv) took about
  // 0.4 s of every job's start. The definitions are files of ours that
  // test/statemachines/*-asl.test.ts validate in full (paths too).
  const machine = new StateMachine(definition as never, { validationOptions: { noValidate: true } });
  const execution = machine.run(input as never, {
    context: { Task: { Token: 'local' } } as never,
    overrides: {
      // The interpreter types handlers as JSON in, JSON out; ours return plain data objects.
      taskResourceLocalHandlers: {
        ...handlers.states,
        Queue: async (input: unknown) => {
          try {
            const ref = await handlers.queue(input);
            jobId = ref.jobId;
            handlers.onQueued?.(ref);
            return ref;
          } catch (failure) {
            rejected = failure;
            throw failure;
          }
        },
      } satisfies Record<string, TaskHandler> as never,
    },
  });

  let error: string | undefined;
  try {
    await execution.result;
  } catch (failure) {
    error = failure instanceof Error ? (failure.cause instanceof Error ? failure.cause.message : failure.message) : String(failure);
  } finally {
    await handlers.finally?.();
  }
  if (jobId === undefined) {
    const cause = rejected instanceof Error && rejected.cause instanceof CairnError ? rejected.cause : rejected;
    return { jobId: undefined, statusCode: statusOf(cause), error: cause === undefined ? (error ?? 'the job was not queued') : messageOf(cause) };
  }
  return { jobId, error };
}
