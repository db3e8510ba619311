import { describe, expect, it } from 'vitest';
import { STREAM_QUEUE_GRACE_SECONDS, advanceParents, multiStreamStarter } from '#core/jobs/stream-advance.ts';
import { finishJob, queueBackupJob } from '#core/jobs/job-service.ts';
import { sweepJobs } from '#core/jobs/execution-janitor.ts';
import type { OperatorCommand } from '#core/model/agent-command.ts';
import type { OperatorCommands, OperatorCommandState } from '#core/ports/operator-commands.ts';
import { asKind } from '#core/model/job.ts';
import { runOperatorCommand } from '#agent/transport/run-command.ts';
import { probeLocalFileSystems } from '#agent/probe/probe.ts';
import { MemoryJobStore } from '#test/memory/memory-job-store.ts';
import { MemoryConfigStore } from '#test/memory/memory-config-store.ts';
import { MemoryExecutionStarter } from '#test/memory/memory-execution-starter.ts';
import { samplePolicy, sampleStorageUnit } from '../contracts/fixtures.ts';

/**
 * Operator commands answered by the real agent entry in this process
 * (edge-agent/transport/run-command.ts, printed as main.ts prints it), once
 * the test lets a command finish: what SSM's GetCommandInvocation would say.
 */
class InProcessOperatorCommands implements OperatorCommands {
  readonly sent: { instanceId: string; command: OperatorCommand; done: boolean }[] = [];
  async send(instanceId: string, command: OperatorCommand): Promise<string> {
    this.sent.push({ instanceId, command, done: false });
    return `cmd-${this.sent.length}`;
  }
  finishAll(): void {
    for (const s of this.sent) s.done = true;
  }
  async state(commandId: string): Promise<OperatorCommandState> {
    const sent = this.sent[Number(commandId.slice(4)) - 1]!;
    if (!sent.done) return { state: 'running' };
    return { state: 'answered', stdout: `${JSON.stringify({ result: await runOperatorCommand(JSON.stringify(sent.command)) })}\n` };
  }
}

const INSTANCE = 'mi-0123456789abcdef0';

async function setUp(maxJobsPerPolicy: number) {
  const config = new MemoryConfigStore();
  const jobs = new MemoryJobStore();
  const executions = new MemoryExecutionStarter();
  const agents = new InProcessOperatorCommands();
  await config.putStorageUnit(sampleStorageUnit('disk1'));
  await config.putPolicy(samplePolicy('p', { selections: ['ALL', '/etc'], multipleDataStreams: true, maxJobsPerPolicy, clients: [{ name: 'c1', priority: 1, agentInstanceId: INSTANCE }] }));
  let clock = Date.parse('2026-12-05T22:00:00Z');
  const now = () => new Date((clock += 1000));
  const deps = { config, jobs, starter: executions, agents };
  return { config, jobs, executions, agents, deps, now, starter: multiStreamStarter(executions, { ...deps, now }) };
}

/** What the backup-job workflow's Queue state does with each execution started since the last call. */
async function queueStarted(s: Awaited<ReturnType<typeof setUp>>, seen: Set<string>) {
  for (const [name, input] of s.executions.executions.started) {
    if (seen.has(name)) continue;
    seen.add(name);
    await queueBackupJob(s, (input as { request: unknown }).request, s.now());
  }
}

describe('multiple data streams in the cloud runtime, one scheduler tick at a time', () => {
  it("probes the client's agent for ALL, runs the streams within the policy's limit, and ends the parent with the worst", async () => {
    // Prepare
    const s = await setUp(2);
    const request = { client: 'c1', policy: 'p', schedule: 'full', level: 'full', windowStart: '2026-12-05T22:00:00Z', windowEnd: '2026-12-06T08:00:00Z', dueAt: '2026-12-05T22:00:00Z', executionName: 'p.c1.full.1796508000' };
    const expected = [...(await probeLocalFileSystems()).fileSystems.map((fs) => fs.mountPoint), '/etc'];

    // Act: the tick starts the due job, a parent, which sends the probe
    expect(await s.starter.start('p.c1.full.1796508000', { request })).toBe('started');
    expect(await s.starter.start('p.c1.full.1796508000', { request })).toBe('already-started');
    const [parent] = await s.jobs.list();
    expect(parent).toMatchObject({ jobId: 1, state: 'ACTIVE', childJobIds: [], selections: ['ALL', '/etc'], streaming: { probe: { instanceId: INSTANCE, commandId: 'cmd-1' } } });
    expect(s.agents.sent.map((c) => c.command)).toEqual([{ kind: 'probe', task: { jobId: 1 } }]);
    expect(s.executions.executions.started.size).toBe(0);
    // the probe still runs: nothing starts
    expect((await advanceParents(s.deps, s.now())).started).toEqual([]);

    // the probe answered: two streams start (maxJobsPerPolicy 2)
    s.agents.finishAll();
    const first = await advanceParents(s.deps, s.now());
    expect(first.started).toEqual(['p.c1.full.1796508000.s1', 'p.c1.full.1796508000.s2'].slice(0, Math.min(2, expected.length)));
    expect(asKind(await s.jobs.get(1), 'backup')?.streaming?.streams).toEqual(expected);
    const seen = new Set<string>();
    await queueStarted(s, seen);
    expect((await advanceParents(s.deps, s.now())).started).toEqual([]);
    expect(asKind(await s.jobs.get(1), 'backup')?.childJobIds).toEqual([2, 3]);
    const stream = asKind(await s.jobs.get(2), 'backup')!;
    expect(stream).toMatchObject({ parentJobId: 1, selections: [expected[0]], level: 'full', windowEnd: '2026-12-06T08:00:00Z', executionName: 'p.c1.full.1796508000.s1' });

    // each stream that ends lets the next one start, until all have ended
    let statusCode = 0;
    for (let round = 0; round < expected.length + 2; round++) {
      const open = (await s.jobs.list()).filter((j) => j.jobId !== 1 && j.state !== 'DONE');
      for (const j of open.slice(0, 1)) await finishJob(s.jobs, j.jobId, { statusCode: j.jobId === 3 ? 1 : 0 }, s.now());
      const step = await advanceParents(s.deps, s.now());
      await queueStarted(s, seen);
      if (step.ended.length > 0) statusCode = step.ended[0]!.statusCode;
    }
    // Assess
    const done = asKind(await s.jobs.get(1), 'backup')!;
    expect(done.state).toBe('DONE');
    expect(done.childJobIds).toHaveLength(expected.length);
    expect(statusCode).toBe(1);
    expect(done.statusCode).toBe(1);
    expect(s.executions.executions.started.size).toBe(expected.length);
  });

  it('never lets the sweep end a running parent, which has no execution of its own', async () => {
    const s = await setUp(1);
    await s.starter.start('p.c1.full.1796508000', { request: { client: 'c1', policy: 'p', executionName: 'p.c1.full.1796508000' } });
    const later = new Date(Date.parse('2026-12-07T00:00:00Z'));
    const executions = { describe: async () => ({ state: 'missing' as const }) };
    const report = await sweepJobs({ jobs: s.jobs, executions: executions as never, media: { release: async () => false, listReservations: async () => [] }, catalog: {} as never }, await s.jobs.list(), later);
    expect(report.ended).toEqual([]);
    expect((await s.jobs.get(1))?.state).toBe('ACTIVE');
  });

  it('ends a parent whose probe failed on the agent, starting nothing', async () => {
    const s = await setUp(2);
    await s.starter.start('p.c1.full.1796508000', { request: { client: 'c1', policy: 'p', executionName: 'p.c1.full.1796508000' } });
    const failing: OperatorCommands = { send: async () => 'x', state: async () => ({ state: 'answered', stdout: '{"statusCode":2000,"message":"the mount table /proc/self/mountinfo could not be read: EACCES"}\n' }) };
    const report = await advanceParents({ ...s.deps, agents: failing }, s.now());
    expect(report.ended).toEqual([{ jobId: 1, statusCode: 2000 }]);
    expect((await s.jobs.get(1))?.error).toMatch(/savefs probe of client c1 failed: the mount table/);
    expect(s.executions.executions.started.size).toBe(0);
  });
});

describe('a stream whose execution never queues its job', () => {
  it('is given up after the grace time, and the parent ends with status 50 naming it', async () => {
    const s = await setUp(2);
    await s.config.putPolicy(samplePolicy('p', { selections: ['/a', '/b'], multipleDataStreams: true, clients: [{ name: 'c1', priority: 1, agentInstanceId: INSTANCE }] }));
    await s.starter.start('p.c1.full.1796508000', { request: { client: 'c1', policy: 'p', executionName: 'p.c1.full.1796508000' } });
    // Both streams started; only the first one's Queue state ever runs.
    const [first] = [...s.executions.executions.started.values()] as { request: unknown }[];
    const queued = await queueBackupJob(s, first!.request, s.now());
    await finishJob(s.jobs, queued.jobId, { statusCode: 0 }, s.now());
    expect((await advanceParents(s.deps, s.now())).ended).toEqual([]);
    const late = new Date(s.now().getTime() + (STREAM_QUEUE_GRACE_SECONDS + 1) * 1000);
    const report = await advanceParents(s.deps, late);
    expect(report.ended).toEqual([{ jobId: 1, statusCode: 50 }]);
    expect((await s.jobs.get(1))?.error).toMatch(/1 of 2 streams never recorded a job .*p\.c1\.full\.1796508000\.s2 \(\/b\)/);
  });
});

describe('a stream started again before its Queue state ran', () => {
  it('is noted on the parent once, although Step Functions answers started again within seconds', async () => {
    // Prepare: a starter that answers as StartExecution does for a running execution of the same input a few seconds old.
    const s = await setUp(2);
    await s.config.putPolicy(samplePolicy('p', { selections: ['/a', '/b', '/c'], multipleDataStreams: true, maxJobsPerPolicy: 2, clients: [{ name: 'c1', priority: 1, agentInstanceId: INSTANCE }] }));
    const calls: string[] = [];
    const answersStarted = { start: async (name: string) => (calls.push(name), 'started' as const) };
    const deps = { ...s.deps, starter: answersStarted };
    await multiStreamStarter(answersStarted, { ...deps, now: s.now }).start('p.c1.full.1796508000', { request: { client: 'c1', policy: 'p', executionName: 'p.c1.full.1796508000' } });

    // Act: two more steps before any stream's Queue state runs (cairn --aws backup looks every 2 s).
    const later = [await advanceParents(deps, s.now()), await advanceParents(deps, s.now())];

    // Assess: started again (harmless), never a third stream, and one note.
    expect(calls).toEqual(['.s1', '.s2', '.s1', '.s2', '.s1', '.s2'].map((n) => `p.c1.full.1796508000${n}`));
    expect(later.map((r) => r.started)).toEqual([[], []]);
    expect((await s.jobs.get(1))?.details?.filter((d) => d.message.startsWith('started streams')).map((d) => d.message)).toEqual([
      'started streams p.c1.full.1796508000.s1, p.c1.full.1796508000.s2 (2 of 3 running, at most 2 at once: maxJobsPerPolicy 2)',
    ]);
  });
});
