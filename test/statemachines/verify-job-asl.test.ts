import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { loadVerifyJobDefinition } from '#local/asl-definition.ts';

const require = createRequire(import.meta.url);
const aslValidator = require('asl-validator') as (definition: unknown) => { isValid: boolean; errors: unknown[] };

interface State {
  Type: string;
  Resource?: string;
  TimeoutSeconds?: number;
  HeartbeatSeconds?: number;
  Next?: string;
  Catch?: { Next: string; ResultPath?: string }[];
}
const definition = loadVerifyJobDefinition() as { StartAt: string; States: Record<string, State> };
const states = definition.States;

describe('verify-job.asl.json', () => {
  it('is valid Amazon States Language, JSONPath only', () => {
    const result = aslValidator(definition);
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
    const text = JSON.stringify(definition);
    expect(text).not.toMatch(/"QueryLanguage"\s*:\s*"JSONata"/);
    expect(text).not.toMatch(/"Assign"/);
  });

  it('sets TimeoutSeconds on every Task state, and a heartbeat on the agent state', () => {
    const tasks = Object.entries(states).filter(([, s]) => s.Type === 'Task');
    expect(tasks.map(([name]) => name).sort()).toEqual(['EndJob', 'Queue', 'Record', 'Start', 'Verify']);
    for (const [name, state] of tasks) expect(state.TimeoutSeconds, name).toBeGreaterThan(0);
    expect(states.Verify!.Resource).toBe('arn:aws:states:::aws-sdk:ssm:sendCommand.waitForTaskToken');
    expect(states.Verify!.HeartbeatSeconds).toBeLessThan(states.Verify!.TimeoutSeconds!);
  });

  it('ends the job on every failure after Queue: each Catch goes to Failed, which goes to EndJob', () => {
    for (const name of ['Start', 'Verify', 'Record']) expect(states[name]!.Catch?.map((c) => c.Next), name).toEqual(['Failed']);
    expect(states.Failed!.Next).toBe('EndJob');
    expect(states.Queue!.Catch?.map((c) => c.Next)).toEqual(['NotQueued']);
  });
});
