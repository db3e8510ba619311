import { describe, expect, it } from 'vitest';
import { reserveResources, IN_PROCESS_AGENT } from '#core/broker/broker.ts';
import { agentInstanceOf } from '#core/clients/agent-instance.ts';
import { queueBackupJob } from '#core/jobs/job-service.ts';
import { applyPolicies } from '#core/policies/apply-policies.ts';
import { createActivationInput } from '#aws/ssm-agents.ts';
import { activationLines, activationReport, clientsByInstance } from '#cli/agent-onboarding.ts';
import { memoryStores, withLocalDisk } from '#test/memory/memory-stores.ts';
import { samplePolicy } from '../contracts/fixtures.ts';

const MI_A = 'mi-0000000000000000a';
const MI_B = 'mi-0000000000000000b';

/** A policy on the memory stores' local-disk unit whose one client `host1` may carry an agentInstanceId. */
const policyFor = (agentInstanceId?: string) => samplePolicy('daily', { storageUnit: 'local-disk', clients: [{ name: 'host1', priority: 500, ...(agentInstanceId ? { agentInstanceId } : {}) }] });

describe('which managed instance a client\'s backup goes to', () => {
  it('takes the client mapping first, a policy client\'s agentInstanceId when there is none, and says how to map a client with neither', async () => {
    const { config } = memoryStores();
    expect(await agentInstanceOf(config, 'host1', policyFor(MI_A))).toEqual({ instanceId: MI_A, source: 'policy' });
    await config.putClient({ name: 'host1', instanceId: MI_A });
    expect(await agentInstanceOf(config, 'host1', policyFor(MI_A))).toEqual({ instanceId: MI_A, source: 'client' });
    expect(await agentInstanceOf(config, 'host1', undefined)).toEqual({ instanceId: MI_A, source: 'client' });
    expect(await agentInstanceOf(config, 'other', undefined)).toMatchObject({ instanceId: undefined, reason: expect.stringContaining('cairn --aws client add other --instance mi-') });
  });

  it('refuses (230) a mapping and a policy that disagree, rather than back one host up as another', async () => {
    const { config } = memoryStores();
    await config.putClient({ name: 'host1', instanceId: MI_A });
    await expect(agentInstanceOf(config, 'host1', policyFor(MI_B))).rejects.toMatchObject({ statusCode: 230, message: expect.stringContaining(`mapped to instance ${MI_A} but policy daily gives it agentInstanceId ${MI_B}`) });
  });

  it('refuses a policy file whose agentInstanceId contradicts a client mapping, changing nothing', async () => {
    const rt = await withLocalDisk(memoryStores());
    await rt.config.putClient({ name: 'host1', instanceId: MI_A });
    await expect(applyPolicies(rt.config, [policyFor(MI_B)])).rejects.toMatchObject({ statusCode: 230, details: [`policy daily: clients.0.agentInstanceId: client host1 is mapped to ${MI_A} (cairn client list), not ${MI_B}`] });
    expect(await rt.config.getPolicy('daily')).toBeUndefined();
    expect(await applyPolicies(rt.config, [policyFor(MI_A)])).toEqual([{ policy: 'daily', action: 'created' }]);
  });
});

describe('the broker and agent instances', () => {
  it('in the cloud, fails a job whose client has no instance with 48 before reserving anything', async () => {
    const rt = await withLocalDisk(memoryStores());
    const ref = await queueBackupJob(rt, { client: 'nohost', selections: ['/a'] }, rt.clock.now());

    await expect(reserveResources({ ...rt, agents: 'managed-instances' }, ref.jobId, rt.clock.now())).rejects.toMatchObject({ statusCode: 48 });
    expect(await rt.media.listReservations()).toEqual([]);
    expect((await rt.jobs.get(ref.jobId))?.state).toBe('QUEUED');
  });

  it('in the cloud, sends the job to the client\'s mapped instance; in process, to the in-process agent', async () => {
    const rt = await withLocalDisk(memoryStores());
    await rt.config.putClient({ name: 'host1', instanceId: MI_A });
    const cloud = await queueBackupJob(rt, { client: 'host1', selections: ['/a'] }, rt.clock.now());
    expect(await reserveResources({ ...rt, agents: 'managed-instances' }, cloud.jobId, rt.clock.now())).toMatchObject({ granted: true, agentInstanceId: MI_A });
    rt.clock.advance(1000);
    const local = await queueBackupJob(rt, { client: 'unmapped', selections: ['/a'] }, rt.clock.now());
    expect(await reserveResources(rt, local.jobId, rt.clock.now())).toMatchObject({ granted: true, agentInstanceId: IN_PROCESS_AGENT });
  });
});

describe('onboarding a host', () => {
  it('asks SSM for a one-host activation for the agent role, tagged with the client', () => {
    const expires = new Date('2026-12-03T00:00:00Z');
    expect(createActivationInput({ role: 'CairnStack-AgentRole1', client: 'web1', expires })).toEqual({
      Description: 'Cairn edge agent for client web1',
      DefaultInstanceName: 'web1',
      IamRole: 'CairnStack-AgentRole1',
      RegistrationLimit: 1,
      ExpirationDate: expires,
      Tags: [{ Key: 'cairn:client', Value: 'web1' }],
    });
  });

  it('prints the register and restart commands, what to install first, and the mapping step after', () => {
    const report = activationReport({ client: 'web1', activationId: 'a1b2-c3', activationCode: 'Code+/=9', region: 'eu-west-3', expires: new Date('2026-12-03T00:00:00Z') });
    expect(report.hostCommands).toEqual(["sudo amazon-ssm-agent -register -code 'Code+/=9' -id 'a1b2-c3' -region 'eu-west-3'", 'sudo systemctl restart amazon-ssm-agent']);
    const text = activationLines(report).join('\n');
    expect(text).toContain('Node.js 20 or later');
    expect(text).toContain('amazon-ssm-agent), installed but not yet registered');
    expect(text).toContain('cairn --aws client add web1 --instance mi-...');
  });

  it('lists the clients mapped to each instance', () => {
    expect(clientsByInstance([{ name: 'a', instanceId: MI_A }, { name: 'b', instanceId: MI_B }, { name: 'c', instanceId: MI_A }])).toEqual(new Map([[MI_A, ['a', 'c']], [MI_B, ['b']]]));
  });
});
