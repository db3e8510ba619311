import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { BACKUP_JOB_ASL, loadBackupJobDefinition } from '#local/asl-definition.ts';
import { expectJsonPathOnly, expectValidAsl } from './asl-checks.ts';
import { agentDocumentContent } from '../../cdk/constructs/agent-document.ts';


interface State {
  Type: string;
  Resource?: string;
  TimeoutSeconds?: number;
  HeartbeatSeconds?: number;
  Next?: string;
  Catch?: { Next: string }[];
  Choices?: { Next: string }[];
  Default?: string;
  Parameters?: Record<string, unknown>;
}
const definition = loadBackupJobDefinition() as { StartAt: string; States: Record<string, State> };
const states = definition.States;

describe('backup-job.asl.json', () => {
  it('is valid Amazon States Language', () => {
    expectValidAsl(definition);
  });

  it('sets TimeoutSeconds on every Task state explicitly', () => {
    const tasks = Object.entries(states).filter(([, s]) => s.Type === 'Task');
    expect(tasks.length).toBeGreaterThanOrEqual(6);
    for (const [name, state] of tasks) expect(state.TimeoutSeconds, name).toBeGreaterThan(0);
  });

  it('streams through the SSM callback integration with a heartbeat, its ARN in the stack\'s partition', () => {
    // The file names the integration by a placeholder the stack fills with its own partition (arn:aws-cn:..., arn:aws-us-gov:...).
    const raw = JSON.parse(readFileSync(BACKUP_JOB_ASL, 'utf8')) as { States: Record<string, State> };
    expect(raw.States.Stream?.Resource).toBe('${SendCommandTaskResource}');
    expect(states.Stream?.Resource).toBe('arn:aws:states:::aws-sdk:ssm:sendCommand.waitForTaskToken');
    expect(states.Stream?.HeartbeatSeconds).toBeGreaterThan(0);
    expect(states.Stream?.HeartbeatSeconds).toBeLessThan(states.Stream!.TimeoutSeconds!);
  });

  it('sends the agent the command envelope the broker built, and its task token, as the SSM document parameters', () => {
    const parameters = states.Stream?.Parameters?.Parameters;
    expect(parameters).toEqual({
      'taskToken.$': 'States.Array($$.Task.Token)',
      'command.$': 'States.Array(States.JsonToString($.reservation.command))',
    });
    expect(Object.keys(agentDocumentContent({ fileName: 'a.mjs', sha256: '0'.repeat(64), region: 'us-east-1', jobsTable: 'jobs' }, { httpUrl: 'https://example/a.mjs' }).parameters as object).sort()).toEqual(['command', 'taskToken']);
  });

  it('uses JSONPath only: no JSONata, no Assign', () => {
    expectJsonPathOnly(definition);
    expect(JSON.stringify(definition)).not.toMatch(/\{%/);
  });

  it('routes every failure after Queue through Release before the job ends', () => {
    const afterQueue = ['Snapshot', 'Mount', 'Stream', 'Catalog'];
    for (const name of afterQueue) {
      const catchers = states[name]?.Catch ?? [];
      expect(catchers.map((c) => c.Next), name).toEqual(['Failed']);
    }
    // A failed Reserve forgets an earlier attempt's grant first, so no Unmount runs for a drive the job no longer holds.
    expect(states.Reserve?.Catch?.map((c) => c.Next)).toEqual(['NotGranted']);
    expect(states.NotGranted).toMatchObject({ Type: 'Pass', Result: { granted: false }, ResultPath: '$.reservation', Next: 'Failed' });
    expect(states.Failed?.Next).toBe('TapeAfterFailure?');
    expect(states.Succeeded?.Next).toBe('TapeAfterSuccess?');
    for (const name of ['TapeAfterFailure?', 'TapeAfterSuccess?']) expect(states[name]?.Default, name).toBe('SnapshotTaken?');
    expect(states['TapeAfterFailure?']?.Choices?.map((c) => c.Next)).toEqual(['UnmountAfterFailure']);
    expect(states['TapeAfterSuccess?']?.Choices?.map((c) => c.Next)).toEqual(['UnmountAfterSuccess']);
    expect(states.Unmount?.Next).toBe('SnapshotTaken?');
    expect(states.Unmount?.Catch?.map((c) => c.Next)).toEqual(['SnapshotTaken?']);
    expect(states['SnapshotTaken?']?.Choices?.map((c) => c.Next)).toEqual(['DeleteSnapshot']);
    expect(states['SnapshotTaken?']?.Default).toBe('Release');
    expect(states.DeleteSnapshot?.Next).toBe('Release');
    expect(states.DeleteSnapshot?.Catch?.map((c) => c.Next)).toEqual(['Release']);
    expect(states.Release?.Next).toBe('RetryDecision');
    expect(states['Retry?']?.Default).toBe('EndJob');
    expect(states.WaitBeforeRetry?.Next).toBe('Reserve');
  });

  it('mounts a tape unit\'s volume between Reserve and Stream, and unmounts it before Release, through the agent', () => {
    expect(states['Granted?']?.Choices?.map((c) => c.Next)).toEqual(['Snapshot?']);
    expect(states['Snapshot?']?.Default).toBe('Tape?');
    expect(states['Tape?']?.Choices?.map((c) => c.Next)).toEqual(['Mount']);
    expect(states['Tape?']?.Default).toBe('Stream');
    expect(states.Mount?.Next).toBe('Stream');
    for (const name of ['Mount', 'Unmount']) {
      expect(states[name]?.Resource, name).toBe(states.Stream?.Resource);
      expect(states[name]?.HeartbeatSeconds, name).toBeGreaterThan(0);
    }
    expect(states.Mount?.Parameters?.Parameters).toEqual({ 'taskToken.$': 'States.Array($$.Task.Token)', 'command.$': 'States.Array(States.JsonToString($.reservation.tape.mount))' });
    expect(states.Unmount?.Parameters?.Parameters).toEqual({ 'taskToken.$': 'States.Array($$.Task.Token)', 'command.$': 'States.Array(States.JsonToString($.unmountCommand))' });
    expect(states.Release?.Parameters).toMatchObject({ 'outcome.$': '$.outcome' });
  });

  it('takes the snapshot between Reserve and Mount or Stream, and deletes it before Release on every path, through the agent', () => {
    expect(states['Snapshot?']?.Choices).toEqual([{ Variable: '$.reservation.snapshot', IsPresent: true, Next: 'Snapshot' }]);
    expect(states.Snapshot?.Next).toBe('StreamFromSnapshots');
    // The Stream (and so Continue: the same backup goes on) reads inside the images the Snapshot step answered.
    expect(states.StreamFromSnapshots).toMatchObject({ Type: 'Pass', InputPath: '$.snapshots', ResultPath: '$.reservation.command.task.snapshots', Next: 'Tape?' });
    for (const name of ['Snapshot', 'DeleteSnapshot']) {
      expect(states[name]?.Resource, name).toBe(states.Stream?.Resource);
      expect(states[name]?.HeartbeatSeconds, name).toBeGreaterThan(0);
    }
    expect(states.Snapshot?.Parameters?.Parameters).toEqual({ 'taskToken.$': 'States.Array($$.Task.Token)', 'command.$': 'States.Array(States.JsonToString($.reservation.snapshot))' });
    expect(states.DeleteSnapshot?.Parameters?.Parameters).toEqual({ 'taskToken.$': 'States.Array($$.Task.Token)', 'command.$': 'States.Array(States.JsonToString($.reservation.deleteSnapshot))' });
    // Every way to Release passes SnapshotTaken?: success, failure (with or without a drive) and so before a retry.
    const toRelease = Object.entries(states).filter(([, s]) => s.Next === 'Release' || s.Default === 'Release' || (s.Catch ?? []).some((c) => c.Next === 'Release'));
    expect(toRelease.map(([name]) => name).sort()).toEqual(['DeleteSnapshot', 'SnapshotTaken?']);
  });

  it('ends the job when Release fails for good, and fails the execution where the janitor can repair it when EndJob does', () => {
    expect(states.Release?.Catch?.map((c) => c.Next)).toEqual(['EndJob']);
    expect(states.EndJob?.Catch?.map((c) => c.Next)).toEqual(['NotEnded']);
    expect(states.EndJob?.Next).toBe('Released?');
    expect(states['Released?']?.Choices?.map((c) => c.Next)).toEqual(['NotReleased']);
    expect(states['Released?']?.Default).toBe('Status?');
    expect(states.NotReleased).toMatchObject({ Type: 'Fail', Error: 'ReservationNotReleased' });
    expect(states.JobNotEnded).toMatchObject({ Type: 'Fail', Error: 'JobNotEnded', CausePath: '$.notEnded.cause' });
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
