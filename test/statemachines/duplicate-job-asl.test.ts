import { describe, expect, it } from 'vitest';
import { loadDuplicateJobDefinition } from '#local/asl-definition.ts';
import { expectJsonPathOnly, expectValidAsl } from './asl-checks.ts';


interface State {
  Type: string;
  Resource?: string;
  TimeoutSeconds?: number;
  HeartbeatSeconds?: number;
  Next?: string;
  Default?: string;
  Catch?: { Next: string; ResultPath?: string }[];
  Retry?: unknown[];
}
const definition = loadDuplicateJobDefinition() as { StartAt: string; States: Record<string, State> };
const states = definition.States;

describe('duplicate-job.asl.json', () => {
  it('is valid Amazon States Language, JSONPath only', () => {
    expectValidAsl(definition);
    expectJsonPathOnly(definition);
  });

  it('runs Queue → Start → Copy → Record → EndJob, with a timeout on every Task and a heartbeat on the agent step', () => {
    expect(definition.StartAt).toBe('Queue');
    expect([states.Queue!.Next, states.Start!.Next, states.Copy!.Next, states.Record!.Next]).toEqual(['Start', 'Copy', 'Record', 'EndJob']);
    const tasks = Object.entries(states).filter(([, s]) => s.Type === 'Task');
    expect(tasks.map(([name]) => name).sort()).toEqual(['Copy', 'EndJob', 'Queue', 'Record', 'Start']);
    for (const [name, state] of tasks) expect(state.TimeoutSeconds, name).toBeGreaterThan(0);
    expect(states.Copy!.Resource).toBe('arn:aws:states:::aws-sdk:ssm:sendCommand.waitForTaskToken');
    expect(states.Copy!.HeartbeatSeconds).toBeLessThan(states.Copy!.TimeoutSeconds!);
    for (const name of ['Queue', 'Start', 'Record']) expect(states[name]!.Resource, name).toMatch(/cairn-duplicate$/);
    expect(states.EndJob!.Resource).toMatch(/cairn-jobs$/);
  });

  it('ends the job on every failure after Queue: each Catch goes to Failed, which goes to EndJob; a refused Queue fails with no job', () => {
    for (const name of ['Start', 'Copy', 'Record']) expect(states[name]!.Catch?.map((c) => c.Next), name).toEqual(['Failed']);
    expect(states.Failed!.Next).toBe('EndJob');
    expect(states.Queue!.Catch?.map((c) => c.Next)).toEqual(['NotQueued']);
    expect(states.NotQueued!.Type).toBe('Fail');
  });

  it('leaves an EndJob that failed for good to the janitor with its outcome (JobNotEnded), and fails the execution of a job that ended above 1', () => {
    expect(states.EndJob!.Retry).toHaveLength(1);
    expect(states.EndJob!.Catch?.map((c) => c.Next)).toEqual(['NotEnded']);
    expect(states.NotEnded!.Next).toBe('NotEndedCause');
    expect(states.NotEndedCause!.Next).toBe('JobNotEnded');
    expect(states.JobNotEnded).toMatchObject({ Type: 'Fail', Error: 'JobNotEnded', CausePath: '$.notEnded.cause' });
    expect(states.EndJob!.Next).toBe('Released?');
    expect(states['Released?']!.Default).toBe('Status?');
    expect(states.JobFailed).toMatchObject({ Type: 'Fail', Error: 'DuplicateJobFailed' });
  });
});
