import { describe, expect, it } from 'vitest';
import { loadCatalogJobDefinition } from '#local/asl-definition.ts';
import { expectJsonPathOnly, expectValidAsl } from './asl-checks.ts';


interface State {
  Type: string;
  Resource?: string;
  TimeoutSeconds?: number;
  Next?: string;
  Retry?: { ErrorEquals: string[] }[];
  Catch?: { Next: string; ResultPath?: string }[];
}
const definition = loadCatalogJobDefinition() as { StartAt: string; TimeoutSeconds: number; States: Record<string, State> };
const states = definition.States;

describe('catalog-job.asl.json', () => {
  it('is valid Amazon States Language, JSONPath only', () => {
    expectValidAsl(definition);
    expectJsonPathOnly(definition);
  });

  it('runs Queue, Run (the Lambda\'s 15 minutes) and EndJob, each with a timeout, inside the execution\'s own', () => {
    const tasks = Object.entries(states).filter(([, s]) => s.Type === 'Task');
    expect(tasks.map(([name]) => name).sort()).toEqual(['EndJob', 'Queue', 'Run']);
    for (const [name, state] of tasks) expect(state.TimeoutSeconds, name).toBeGreaterThan(0);
    expect(states.Run!.TimeoutSeconds).toBe(900);
    expect(definition.TimeoutSeconds).toBeGreaterThan(900 + 60 + 60);
    expect(states.Queue!.Resource).toMatch(/cairn-catalog-job$/);
    expect(states.Run!.Resource).toMatch(/cairn-catalog-job$/);
    expect(states.EndJob!.Resource).toMatch(/cairn-jobs$/);
  });

  it('retries Run only when Lambda itself failed, never after the work failed', () => {
    expect(states.Run!.Retry?.flatMap((r) => r.ErrorEquals).sort()).toEqual(['Lambda.SdkClientException', 'Lambda.ServiceException', 'Lambda.TooManyRequestsException']);
  });

  it('ends the job on every failure after Queue, and leaves the janitor the outcome when EndJob cannot', () => {
    expect(states.Queue!.Catch?.map((c) => c.Next)).toEqual(['NotQueued']);
    expect(states.Run!.Catch?.map((c) => c.Next)).toEqual(['Failed']);
    expect(states.Failed!.Next).toBe('EndJob');
    expect(states.EndJob!.Catch?.map((c) => c.Next)).toEqual(['NotEnded']);
    expect(states.NotEnded!.Next).toBe('NotEndedCause');
    expect(states.NotEndedCause!.Next).toBe('JobNotEnded');
    expect(states.JobNotEnded).toMatchObject({ Type: 'Fail', Error: 'JobNotEnded', CausePath: '$.notEnded.cause' });
  });
});
