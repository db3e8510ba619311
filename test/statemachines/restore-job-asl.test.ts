import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { RESTORE_JOB_ASL, loadBackupJobDefinition, loadRestoreJobDefinition } from '#local/asl-definition.ts';
import { expectJsonPathOnly, expectValidAsl } from './asl-checks.ts';


interface State {
  Type: string;
  Resource?: string;
  TimeoutSeconds?: number;
  HeartbeatSeconds?: number;
  Next?: string;
  Catch?: { Next: string; ResultPath?: string }[];
  Choices?: { Next: string }[];
  Default?: string;
  Parameters?: Record<string, unknown>;
}
const definition = loadRestoreJobDefinition() as { StartAt: string; States: Record<string, State> };
const states = definition.States;
const agentParameters = (command: string) => ({ 'taskToken.$': 'States.Array($$.Task.Token)', 'command.$': `States.Array(States.JsonToString(${command}))` });

describe('restore-job.asl.json', () => {
  it('is valid Amazon States Language', () => {
    expectValidAsl(definition);
  });

  it('uses JSONPath only, and sets TimeoutSeconds on every Task state and a heartbeat on every agent state', () => {
    expectJsonPathOnly(definition);
    const tasks = Object.entries(states).filter(([, s]) => s.Type === 'Task');
    expect(tasks.map(([name]) => name).sort()).toEqual(['EndJob', 'Mount', 'NextCopy', 'Plan', 'Queue', 'Read', 'RecordRead', 'Release', 'Reserve', 'Unmount']);
    for (const [name, state] of tasks) expect(state.TimeoutSeconds, name).toBeGreaterThan(0);
    for (const name of ['Mount', 'Read', 'Unmount']) {
      expect(states[name]?.Resource, name).toBe('arn:aws:states:::aws-sdk:ssm:sendCommand.waitForTaskToken');
      expect(states[name]?.HeartbeatSeconds, name).toBeLessThan(states[name]!.TimeoutSeconds!);
    }
  });

  it('names its Lambdas and the SSM integration by the backup job\'s placeholders, plus the restore function', () => {
    const raw = readFileSync(RESTORE_JOB_ASL, 'utf8');
    const placeholders = [...new Set([...raw.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]))].sort();
    expect(placeholders).toEqual(['AgentDocumentName', 'BrokerFunctionArn', 'JobsFunctionArn', 'RestoreFunctionArn', 'SendCommandTaskResource']);
    // Release and EndJob are the backup job's own states, run by the same functions with the same input.
    const backup = (loadBackupJobDefinition() as { States: Record<string, State> }).States;
    for (const name of ['Release', 'EndJob']) {
      expect(states[name]?.Resource, name).toBe(backup[name]?.Resource);
      expect(states[name]?.Parameters, name).toEqual(backup[name]?.Parameters);
    }
  });

  it('loops over the planned volumes: reserve (waiting while refused), mount, read, record, unmount, release, next', () => {
    expect(definition.StartAt).toBe('Queue');
    expect(states.Queue?.Next).toBe('Plan');
    expect(states.Plan?.Next).toBe('FirstVolume');
    expect(states.FirstVolume?.Next).toBe('MoreVolumes?');
    expect(states['MoreVolumes?']?.Choices?.map((c) => c.Next)).toEqual(['Reserve']);
    expect(states['MoreVolumes?']?.Default).toBe('EndJob');
    expect(states.Reserve?.Parameters).toEqual({ action: 'reserve', 'jobId.$': '$.job.jobId', 'volume.$': '$.loop.index' });
    expect(states['Granted?']?.Choices?.map((c) => c.Next)).toEqual(['Mount']);
    expect(states['Granted?']?.Default).toBe('WaitForDrive');
    expect(states.WaitForDrive?.Next).toBe('Reserve');
    expect(states.Mount?.Next).toBe('Read');
    expect(states.Mount?.Parameters?.Parameters).toEqual(agentParameters('$.reservation.tape.mount'));
    expect(states.Read?.Parameters?.Parameters).toEqual(agentParameters('$.reservation.read'));
    expect(states.Read?.Next).toBe('RecordRead');
    expect(states.RecordRead?.Next).toBe('TapeAfterRead?');
    expect(states.Unmount?.Parameters?.Parameters).toEqual(agentParameters('$.unmountCommand'));
    expect(states.Unmount?.Next).toBe('Release');
    expect(states.Release?.Next).toBe('AfterRelease?');
    expect(states['AfterRelease?']?.Default).toBe('NextVolume');
    expect(states.NextVolume?.Next).toBe('MoreVolumes?');
  });

  it('routes every failure after Queue through Unmount (when a drive is held), Release and NextCopy to EndJob, or to Plan on the next copy', () => {
    for (const name of ['Plan', 'Mount', 'Read', 'RecordRead']) expect(states[name]?.Catch?.map((c) => c.Next), name).toEqual(['Failed']);
    expect(states.Reserve?.Catch?.map((c) => c.Next)).toEqual(['NotGranted']);
    expect(states.NotGranted?.Next).toBe('Failed');
    expect(states.Failed?.Next).toBe('TapeAfterFailure?');
    expect(states['TapeAfterFailure?']?.Choices?.map((c) => c.Next)).toEqual(['UnmountAfterFailure']);
    expect(states['TapeAfterFailure?']?.Default).toBe('Release');
    expect(states.UnmountAfterFailure?.Next).toBe('Unmount');
    expect(states.Unmount?.Catch?.map((c) => [c.Next, c.ResultPath])).toEqual([['Release', '$.unmountFailure']]);
    expect(states['AfterRelease?']?.Choices?.map((c) => c.Next)).toEqual(['NextCopy']);
    expect(states.NextCopy?.Parameters).toEqual({ action: 'nextCopy', 'jobId.$': '$.job.jobId', 'failure.$': '$.outcome.failure' });
    expect(states.NextCopy?.Catch?.map((c) => c.Next)).toEqual(['EndJob']);
    expect(states.NextCopy?.Next).toBe('NextCopy?');
    expect(states['NextCopy?']?.Choices?.map((c) => c.Next)).toEqual(['OnNextCopy']);
    expect(states['NextCopy?']?.Default).toBe('EndJob');
    // The next copy starts clean: no reservation (TapeAfterFailure? would unmount the old drive again), plan or failure.
    expect(states.OnNextCopy).not.toHaveProperty('ResultPath');
    expect(states.OnNextCopy).toMatchObject({ Parameters: { 'request.$': '$.request', 'job.$': '$.job', 'nextCopy.$': '$.nextCopy' }, Next: 'Plan' });
    expect(states.Release?.Catch?.map((c) => c.Next)).toEqual(['ReleaseFailed']);
    expect(states.ReleaseFailed?.Next).toBe('EndJob');
    expect(states.EndJob?.Catch?.map((c) => c.Next)).toEqual(['NotEnded']);
  });

  it('reaches every state from StartAt', () => {
    const seen = new Set<string>();
    const visit = (name: string): void => {
      if (seen.has(name)) return;
      seen.add(name);
      const s = states[name]!;
      [s.Next, s.Default, ...(s.Catch ?? []).map((c) => c.Next), ...(s.Choices ?? []).map((c) => c.Next)].filter((n): n is string => Boolean(n)).forEach(visit);
    };
    visit(definition.StartAt);
    expect([...seen].sort()).toEqual(Object.keys(states).sort());
  });
});
