import { describe, expect, it } from 'vitest';
import { AGENT_COMMAND_KINDS, AgentCommand, OPERATOR_COMMAND_KINDS, RUNNABLE_COMMAND_KINDS, commandJobId, parseAgentCommand, parseOperatorCommand, type AgentCommandInput } from '#core/model/agent-command.ts';
import { CairnError } from '#core/errors.ts';
import { dispatchCommand } from '#agent/transport/dispatch.ts';
import type { BackupTaskResult } from '#core/model/task.ts';

const backup: AgentCommandInput = {
  kind: 'backup',
  task: {
    jobId: 12,
    backupId: 'host1_1795400000',
    client: 'host1',
    policy: 'daily',
    schedule: 'full',
    level: 'full',
    selections: ["/home/o'brien", '/srv/数据'],
    storageUnit: { name: 'disk1', kind: 'disk', path: '/var/cairn/disk1' },
  },
};

/** What parsing `text` throws: status and message. */
function refusal(text: string): { statusCode: number; message: string } {
  try {
    parseAgentCommand(text);
  } catch (error) {
    expect(error).toBeInstanceOf(CairnError);
    return { statusCode: (error as CairnError).statusCode, message: (error as CairnError).message };
  }
  throw new Error(`${text} was accepted`);
}

describe('agent command envelope', () => {
  it('round-trips a backup command through JSON, as SSM carries it', () => {
    const sent = AgentCommand.parse(backup);
    const received = parseAgentCommand(JSON.stringify(sent));
    expect(received).toEqual(sent);
    expect(received.kind).toBe('backup');
    expect(commandJobId(received)).toBe(12);
  });

  it('refuses an unknown kind with status 20, naming it', () => {
    expect(refusal(JSON.stringify({ kind: 'defragment', task: {} }))).toEqual({ statusCode: 20, message: expect.stringMatching(/unknown agent command kind 'defragment'/) });
  });

  it('runs an inventory only as an operator\'s command (run-command), and a workflow\'s kind only with its task token (run-task), with status 20 saying which', () => {
    const inventory = { kind: 'inventory', task: { robot: { name: 'lib1', changer: { type: 'mtx', device: '/dev/sg3' }, drives: [{ index: 0, path: '/dev/nst0' }] } } };
    expect(parseOperatorCommand(JSON.stringify(inventory))).toEqual(inventory);
    expect(refusal(JSON.stringify(inventory))).toEqual({ statusCode: 20, message: "agent command kind 'inventory' is an operator's command: cairn-agent run-command runs it, with no task token" });
    let refused: unknown;
    try {
      parseOperatorCommand(JSON.stringify(backup));
    } catch (error) {
      refused = error;
    }
    expect(refused).toMatchObject({ statusCode: 20, message: "agent command kind 'backup' is a workflow's command: cairn-agent run-task runs it, with its task token" });
  });

  it.each(AGENT_COMMAND_KINDS.filter((k) => ![...RUNNABLE_COMMAND_KINDS, ...OPERATOR_COMMAND_KINDS].includes(k as never)))('refuses %s, a kind this agent does not run yet, with status 20 naming it', (kind) => {
    expect(refusal(JSON.stringify({ kind, task: { jobId: 1 } }))).toEqual({ statusCode: 20, message: expect.stringContaining(`agent command kind '${kind}' is not supported by this agent yet`) });
  });

  it('refuses text that is not JSON, an envelope without a kind, and a payload that does not fit its kind, with status 20', () => {
    expect(refusal('{"kind":')).toMatchObject({ statusCode: 20, message: expect.stringMatching(/not JSON/) });
    expect(refusal(JSON.stringify(backup.task))).toMatchObject({ statusCode: 20, message: expect.stringMatching(/has no kind/) });
    expect(refusal(JSON.stringify({ kind: 'backup', task: { ...backup.task, selections: [] } }))).toMatchObject({ statusCode: 20, message: expect.stringMatching(/invalid backup command.*task\.selections/) });
  });

  it('dispatches a backup command to the backup handler with its task', async () => {
    const result = { backupId: 'host1_1795400000' } as BackupTaskResult;
    const seen: unknown[] = [];
    const out = await dispatchCommand(parseAgentCommand(JSON.stringify(backup)), {
      backup: async (task) => {
        seen.push(task);
        return result;
      },
      restore: () => Promise.reject(new Error('not a restore')),
      mount: () => Promise.reject(new Error('not a mount')),
      unmount: () => Promise.reject(new Error('not an unmount')),
      continueBackup: () => Promise.reject(new Error('not a continue-backup')),
      snapshot: () => Promise.reject(new Error('not a snapshot')),
      deleteSnapshot: () => Promise.reject(new Error('not a delete-snapshot')),
    });
    expect(out).toBe(result);
    expect(seen).toEqual([AgentCommand.parse(backup).task]);
  });

  it('parses a continue-backup command (the next volume for a waiting backup) and refuses one without its waiter (20)', () => {
    const target = { drive: { name: 'd0', index: 0, path: '/srv/vtl/drive0', blockSize: 65536 }, volume: { mediaId: 'CRN002L6', slot: 2, pool: 'daily', appendFile: 1, label: true }, spanWaitSeconds: 5400 };
    const parsed = parseAgentCommand(JSON.stringify({ kind: 'continue-backup', task: { jobId: 3, waiter: 'w-1', tape: target } }));
    expect(parsed).toEqual({ kind: 'continue-backup', task: { jobId: 3, waiter: 'w-1', tape: target } });
    expect(commandJobId(parsed)).toBe(3);
    expect(refusal(JSON.stringify({ kind: 'continue-backup', task: { jobId: 3, tape: target } }))).toMatchObject({ statusCode: 20, message: expect.stringMatching(/invalid continue-backup command.*task\.waiter/) });
  });

  it('parses a mount command and refuses one without its volume (20)', () => {
    const robot = { name: 'lib1', changer: { type: 'changer-script', script: '/etc/bacula/scripts/disk-changer', changerDevice: '/srv/vtl/changer.conf' }, drives: [{ index: 0, path: '/srv/vtl/drive0' }] };
    const drive = { name: 'd0', index: 0, path: '/srv/vtl/drive0', blockSize: 65536 };
    const volume = { mediaId: 'CRN001L6', slot: 1, pool: 'daily', appendFile: 1, label: true };
    const mount = parseAgentCommand(JSON.stringify({ kind: 'mount', task: { jobId: 3, robot, drive, volume } }));
    expect(mount.kind).toBe('mount');
    expect(commandJobId(mount)).toBe(3);
    expect(refusal(JSON.stringify({ kind: 'mount', task: { jobId: 3, robot, drive } }))).toMatchObject({ statusCode: 20, message: expect.stringMatching(/invalid mount command.*task\.volume/) });
    const unmount = parseAgentCommand(JSON.stringify({ kind: 'unmount', task: { jobId: 3, robot, drive, mediaId: 'CRN001L6', slot: 1, keepLoaded: false } }));
    expect(unmount.kind).toBe('unmount');
  });
});
