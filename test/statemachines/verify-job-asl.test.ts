import { describe, expect, it } from 'vitest';
import { loadVerifyJobDefinition } from '#local/asl-definition.ts';
import { expectJsonPathOnly, expectValidAsl } from './asl-checks.ts';


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
    expectValidAsl(definition);
    expectJsonPathOnly(definition);
  });

  it('sets TimeoutSeconds on every Task state, and a heartbeat on the agent state', () => {
    const tasks = Object.entries(states).filter(([, s]) => s.Type === 'Task');
    expect(tasks.map(([name]) => name).sort()).toEqual(['EndJob', 'Mount', 'Plan', 'Queue', 'Read', 'Record', 'RecordRead', 'Release', 'Reserve', 'Start', 'Unmount', 'Verify']);
    for (const [name, state] of tasks) expect(state.TimeoutSeconds, name).toBeGreaterThan(0);
    for (const name of ['Verify', 'Mount', 'Read', 'Unmount']) {
      expect(states[name]!.Resource, name).toBe('arn:aws:states:::aws-sdk:ssm:sendCommand.waitForTaskToken');
      expect(states[name]!.HeartbeatSeconds, name).toBeLessThan(states[name]!.TimeoutSeconds!);
    }
  });

  it('ends the job on every failure after Queue: each Catch goes to Failed, which goes to EndJob', () => {
    for (const name of ['Start', 'Verify', 'Record']) expect(states[name]!.Catch?.map((c) => c.Next), name).toEqual(['Failed']);
    expect(states.Failed!.Next).toBe('EndJob');
    expect(states.Queue!.Catch?.map((c) => c.Next)).toEqual(['NotQueued']);
  });

  it('sends a tape image down the restore job\'s volume loop, where every failure after a grant unmounts and releases before the job ends', () => {
    expect(states.Queue!.Next).toBe('OnTape?');
    expect(states['OnTape?']).toMatchObject({ Type: 'Choice', Choices: [{ Variable: '$.job.tape', BooleanEquals: true, Next: 'Plan' }], Default: 'Start' });
    // Plan holds nothing yet: its failure ends the job as the disk branch's do.
    expect(states.Plan!.Catch?.map((c) => c.Next)).toEqual(['Failed']);
    expect(states.Reserve!.Catch?.map((c) => c.Next)).toEqual(['NotGranted']);
    expect(states.NotGranted!.Next).toBe('TapeFailed');
    for (const name of ['Mount', 'Read', 'RecordRead']) expect(states[name]!.Catch?.map((c) => c.Next), name).toEqual(['TapeFailed']);
    expect(states.TapeFailed!.Next).toBe('TapeAfterFailure?');
    expect(states.Unmount!.Catch?.map((c) => c.Next)).toEqual(['Release']);
    expect(states.Unmount!.Next).toBe('Release');
    expect(states.Release!.Resource).toMatch(/cairn-broker$/);
    for (const name of ['Plan', 'Reserve', 'RecordRead']) expect(states[name]!.Resource, name).toMatch(/cairn-verify$/);
    expect(states.Release!.Catch?.map((c) => c.Next)).toEqual(['ReleaseFailed']);
    expect(states.ReleaseFailed!.Next).toBe('EndJob');
    // A release that failed still ends the job, and the execution says what the janitor must release.
    expect(states.EndJob!.Next).toBe('Released?');
    expect(states.NotReleased!.Type).toBe('Fail');
  });
});
