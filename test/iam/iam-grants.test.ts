import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AwsCall } from '#aws/call-recorder.ts';
import { startAwsEmulator } from '../setup/aws-emulator.ts';
import { diskChangerSkipReason } from '../edge-agent/tape/disk-changer-library.ts';
import { roleStatements, type Statement } from '../cdk/policy-walk.ts';
import { BACKUP_JOB_ASL, synthCairnStack, type SynthResult } from '../cdk/synth-fixture.ts';
const RESTORE_JOB_ASL = join('statemachines', 'restore-job.asl.json');
const VERIFY_JOB_ASL = join('statemachines', 'verify-job.asl.json');
const DUPLICATE_JOB_ASL = join('statemachines', 'duplicate-job.asl.json');
import { REPO_ROOT } from '../../cdk/cairn-stack.ts';
import { ALLOWED_UNUSED, ROLE_PREFIXES, TEST_AGENT_INSTANCE, TEST_AGENT_SESSION, arnOf, checkGrants, impliedCalls, inSession, resolveResource, withAgentGrantsAsWritten, type Template } from './policy-check.ts';
import { COMPONENTS as RECORDED, recordComponents, type Recording } from './record-components.ts';
import { SERVICE_COMPONENTS, functionRuntimeCalls, serviceCalls, type CheckedComponent as Component } from './service-calls.ts';

/** The clients record-components.ts backs up through the agent (a full, an incremental and a failed run; a cancelled run). */
const AGENT_CLIENTS = ['cloudhost', 'cancelhost'];

/** The SDK-recorded components, then the roles AWS services use for us (their calls derived from the stack). */
const COMPONENTS = [...RECORDED, ...SERVICE_COMPONENTS] as const;

const emulator = await startAwsEmulator();
// The recording's tape backup drives Debian's disk-changer: without it the media manager's calls would go unchecked.
const skip = 'skip' in emulator ? emulator.skip : diskChangerSkipReason();

/** The role of a component in a template: its logical id, found by construct path. */
function roleId(template: Template, component: Component): string {
  const ids = Object.entries(template.Resources).filter(([id, r]) => r.Type === 'AWS::IAM::Role' && id.startsWith(ROLE_PREFIXES[component]));
  if (ids.length !== 1) throw new Error(`expected one role for ${component}, found ${ids.map(([id]) => id).join(', ') || 'none'}`);
  return ids[0]![0];
}

const statementsOf = (component: Component, template: Template): Statement[] => roleStatements(template.Resources, roleId(template, component));

/** A deep copy of the template with `edit` applied to every policy document attached to the component's role. */
function editRole(template: Template, component: Component, edit: (statements: Statement[]) => Statement[]): Template {
  const copy = JSON.parse(JSON.stringify(template)) as Template;
  const role = roleId(copy, component);
  for (const resource of Object.values(copy.Resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const roles = (resource.Properties?.Roles as unknown[] | undefined) ?? [];
    if (!roles.some((r) => JSON.stringify(r) === JSON.stringify({ Ref: role }))) continue;
    const document = resource.Properties!.PolicyDocument as { Statement: Statement[] };
    document.Statement = edit(document.Statement);
  }
  return copy;
}

/** The template without one action in the component's role (a statement left with no action goes too). */
function withoutAction(template: Template, component: Component, action: string): Template {
  return editRole(template, component, (statements) =>
    statements
      .map((s) => ({ ...s, Action: (Array.isArray(s.Action) ? s.Action : [s.Action!]).filter((a) => a !== action) }))
      .filter((s) => s.Action.length > 0),
  );
}

/**
 * IAM tied to the code: every AWS call each component makes on the emulator,
 * through its real code paths, is checked against the IAM policy its role has
 * in the synthesized stack. A call the role does not allow, a grant no call
 * uses (outside a short, reasoned allow-list), and any service-wide action
 * fail. The mutation tests prove the check bites.
 */
describe.skipIf(Boolean(skip))(`IAM grants against recorded AWS calls${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let synth: SynthResult;
  let template: Template;
  let recording: Recording;
  /** Every component's calls: recorded on the emulator, or derived from the ASL file and the schedule. */
  let calls: Record<Component, AwsCall[]>;

  beforeAll(async () => {
    if ('skip' in emulator) return;
    // Policies do not depend on the bundles: skip esbuild; nor on the built-in validation (see synth-fixture.ts).
    synth = synthCairnStack({ bundle: false, validate: false });
    // The operator's document as the stack names it: the scheduler's idle unload sends it, and its grant names it.
    const documents = Object.entries((synth.template.toJSON() as Template).Resources).filter(([id, r]) => r.Type === 'AWS::SSM::Document' && id.startsWith('AgentCommandDocument'));
    const names = { tables: { config: '', jobs: '', catalog: '', media: '' }, bucket: '', stateMachineArn: '' };
    recording = await recordComponents(emulator.endpoint, { agentCommandDocument: resolveResource({ Ref: documents[0]![0] }, synth.template.toJSON() as Template, names) });
    // The agent's S3 grants are written at run time per instance (core/policies/agent-grants.ts):
    // check its calls as made from one host, with the grants for that host's two clients in place.
    template = withAgentGrantsAsWritten(synth.template.toJSON() as Template, recording.names, AGENT_CLIENTS.map((client) => ({ client, instanceId: TEST_AGENT_INSTANCE })));
    calls = {
      ...recording.calls,
      agent: inSession(recording.calls.agent, TEST_AGENT_SESSION),
      ...serviceCalls(template, recording.names, {
        backup: readFileSync(join(REPO_ROOT, BACKUP_JOB_ASL), 'utf8'),
        restore: readFileSync(join(REPO_ROOT, RESTORE_JOB_ASL), 'utf8'),
        verify: readFileSync(join(REPO_ROOT, VERIFY_JOB_ASL), 'utf8'),
        duplicate: readFileSync(join(REPO_ROOT, DUPLICATE_JOB_ASL), 'utf8'),
      }),
    };
    // What the Lambda service does with each function's role: its logs and X-Ray traces.
    for (const component of ['jobs', 'broker', 'catalog', 'restore', 'verify', 'duplicate', 'scheduler', 'janitor', 'report', 'catalogJob'] as const) {
      calls[component] = [...calls[component], ...functionRuntimeCalls(template, recording.names, ROLE_PREFIXES[component])];
    }
  }, 240_000);
  afterAll(async () => {
    synth?.cleanup();
    if (!('skip' in emulator)) await emulator.stop();
  });

  it('drove every path it claims to (so an empty recording cannot pass)', () => {
    const { outcomes } = recording;
    expect(outcomes.full).toMatchObject({ output: { image: { statusCode: 0 }, final: { statusCode: 0 } } });
    expect(outcomes.incremental).toMatchObject({ output: { reservation: { command: { kind: 'backup', task: { base: expect.anything() } } }, final: { statusCode: 0 } } });
    expect(outcomes.failed).toEqual({ error: expect.stringMatching(/status code above 1/) });
    // A failed image on AWS is removed by the agent that wrote it (s3:DeleteObject, images/ only): nothing of it stays visible.
    expect(outcomes.cancelled).toMatchObject({ statusCode: 150, answer: { error: 'Status150' } });
    expect(outcomes.cancelledLeftovers).toEqual([]);
    // The tape image restored by a restore job (restore-job.asl.json), the restore function's calls recorded.
    expect(outcomes.restore).toMatchObject({ output: { final: { statusCode: 0 } } });
    // The full (S3) and the tape image verified by verify jobs (verify-job.asl.json), the verify function's calls recorded.
    expect(outcomes.verify).toMatchObject({ output: { final: { statusCode: 0 } } });
    expect(outcomes.tapeVerify).toMatchObject({ output: { final: { statusCode: 0 } } });
    expect(outcomes.verifyJanitor).toMatchObject({ jobId: 9005, action: 'ended' });
    // A disk image copied to a second S3 unit by a duplicate job (duplicate-job.asl.json): the duplicate function's Queue,
    // Start and Record recorded, and the agent's Copy (its puts and read-back on S3); the catalog lists copy 2.
    expect(outcomes.duplicate).toMatchObject({ output: { outcome: { statusCode: 0 }, final: { statusCode: 0 } } });
    expect(outcomes.duplicateCopies).toEqual([[1, 'disk-unit'], [2, 's3-copy']]);
    expect(outcomes.s3Duplicate).toMatchObject({ output: { outcome: { statusCode: 0 }, final: { statusCode: 0 } } });
    expect(outcomes.s3DuplicateCopies).toEqual([[1, 's3-unit'], [2, 's3-copy']]);
    expect(outcomes.duplicateJanitor).toMatchObject({ jobId: 9007, action: 'ended', statusCode: 150 });
    // The tape backup: a drive and a scratch volume granted from the media manager, the volume's tape files recorded by the catalog.
    expect(outcomes.tape).toMatchObject({ output: { reservation: { tape: { mount: { kind: 'mount' } } }, image: { statusCode: 0 }, final: { statusCode: 0 } } });
    expect(outcomes.tapeVolume).toMatchObject({ mediaId: 'IAM001', pool: 'iampool', state: 'ACTIVE', tapeFiles: 2 });
    // Two due jobs per tick; the emulator does not refuse a repeated execution name as Step Functions does, so the second tick starts them again.
    expect((outcomes.ticks as { started: string[]; alreadyStarted: string[] }[]).map((t) => t.started.length + t.alreadyStarted.length)).toEqual([2, 2]);
    // The janitor ended the stopped execution's job, withdrew its image and released its slot; the first tick's sweep did the same for the job whose execution is gone.
    expect(outcomes.janitor).toMatchObject({ jobId: 9001, action: 'ended', statusCode: 150, released: true, withdrawnImage: expect.any(String), snapshotDelete: { instanceId: 'mi-0123456789abcdef5', commandId: expect.any(String) } });
    // The report function read the jobs above and published the day's report.
    // The catalog-job function's backup and check ran to their ends (the check finds the stray object at least: status 0 or 1).
    expect(outcomes.catalogJobs).toMatchObject([{ job: { type: 'catalog-backup', state: 'DONE', statusCode: 0 } }, { job: { type: 'catalog-check', state: 'DONE', repair: true } }]);
    expect(outcomes.report).toMatchObject({ action: 'published', totals: { jobs: expect.any(Number) } });
    expect((outcomes.report as { totals: { jobs: number } }).totals.jobs).toBeGreaterThan(3);
    const swept = (outcomes.ticks as { swept?: { ended: unknown[]; problems: string[] } }[]).map((t) => t.swept);
    // A restore job's execution is looked up on the restore-job state machine (not there: 2002), its drive recorded as possibly loaded.
    expect(outcomes.restoreJanitor).toMatchObject({ jobId: 9003, action: 'ended', statusCode: 150, released: true, driveLeftLoaded: { drive: 'iamlib-d0', mediaId: 'IAM001' } });
    expect(swept[0]).toMatchObject({
      ended: [
        { jobId: 9002, action: 'ended', statusCode: 2002, released: true, withdrawnImage: expect.any(String) },
        { jobId: 9004, action: 'ended', statusCode: 2002, released: true, driveLeftLoaded: { drive: 'iamlib-d0', mediaId: 'IAM001' } },
        // A verify job's execution is looked up on the verify-job state machine.
        { jobId: 9006, action: 'ended', statusCode: 2002, executionName: 'iam-verify-gone' },
        // A policy copy's duplicate job is looked up on the duplicate-job state machine.
        { jobId: 9008, action: 'ended', statusCode: 2002, executionName: 'iam-duplicate-gone' },
      ],
      problems: [],
    });
    expect(swept[1]).toMatchObject({ ended: [], problems: [] });
    // The verify due on policy `verified` was started as a verify-job execution (the emulator does not refuse a repeated name: started twice).
    const verifies = (outcomes.ticks as { verifies?: { started: string[]; alreadyStarted: string[]; problems: string[] } }[]).map((t) => t.verifies);
    expect(verifies[0]).toMatchObject({ problems: [] });
    expect(verifies.map((v) => (v?.started.length ?? 0) + (v?.alreadyStarted.length ?? 0))).toEqual([1, 1]);
    // The copy policy `copied` declares of its image was started as a duplicate-job execution.
    const duplicates = (outcomes.ticks as { duplicates?: { started: string[]; alreadyStarted: string[]; problems: string[] } }[]).map((t) => t.duplicates);
    expect(duplicates[0]).toMatchObject({ problems: [] });
    expect(duplicates[0]!.started).toHaveLength(1);
    // The first tick's cleanup expired the incremental (its S3 folder deleted) and the tape image (its index folder deleted,
    // its volume emptied and returned to scratch); the second had nothing left to do.
    const expirations = (outcomes.ticks as { expiration?: { expired: { backupId: string; volumes: string[] }[]; recycled: unknown[]; problems: string[] } }[]).map((t) => t.expiration);
    expect(expirations[0]).toMatchObject({ problems: [], recycled: [{ mediaId: 'IAM001', fromPool: 'iampool' }] });
    expect(expirations[0]!.expired.map((e) => e.volumes)).toEqual([['IAM001'], []]);
    expect(expirations[1]).toMatchObject({ expired: [], recycled: [], problems: [] });
    // The idle drive: the first tick sent its unload to the robot's agent, the second looked the command up (moto runs
    // nothing: it is still in flight there, or ended without the agent's answer) and sent nothing more.
    const idle = (outcomes.ticks as { idleUnload?: { sent: unknown[]; pending: { drive: string }[]; problems: string[] } }[]).map((t) => t.idleUnload);
    expect(idle[0]).toMatchObject({ sent: [{ drive: 'idlelib-d0', mediaId: 'IDLE01', instanceId: 'mi-0123456789abcdef3' }], problems: [] });
    expect(idle[1]?.sent).toEqual([]);
    // And iamlib-d0 holds IAM001, which the first tick's cleanup returned to scratch: no unit writes scratch, so its delay
    // is 0 and the second tick unloads it through its robot's agent (the recording's tape robot has none mapped: a problem).
    expect([...idle[1]!.pending.map((p) => p.drive), ...idle[1]!.problems.map((p) => p.split(':')[0])]).toEqual([expect.stringContaining('idlelib-d0'), 'drive iamlib-d0']);
    for (const component of COMPONENTS) expect(calls[component].length, component).toBeGreaterThan(0);
    const agentActions = new Set(calls.agent.map((c) => c.action));
    // Multipart upload, cleanup of a cancelled image, the base index of the incremental, progress, the task token.
    for (const action of ['s3:PutObject', 's3:DeleteObject', 's3:GetObject', 'dynamodb:UpdateItem', 'states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat']) {
      expect(agentActions, action).toContain(action);
    }
    expect(calls.agent.some((c) => c.operation === 'UploadPart')).toBe(true);
    // Every Task state of the ASL file: the three functions, by the states that invoke them, and the agent command.
    const invoked = (prefix: string) => calls.stateMachine.filter((c) => c.action === 'lambda:InvokeFunction' && arnOf(c.resource).includes(`:function:${prefix}`)).map((c) => c.operation.slice(5));
    expect(invoked('JobsFunction')).toEqual(['Queue', 'RetryDecision', 'EndJob']);
    expect(invoked('BrokerFunction')).toEqual(['Reserve', 'Release', 'ReserveNextVolume']);
    expect(invoked('CatalogFunction')).toEqual(['Catalog']);
    // Snapshot, Mount, Stream, MountNextVolume, Continue, Unmount and DeleteSnapshot each send the agent document to the client's managed instance.
    expect(calls.stateMachine.filter((c) => c.action === 'ssm:SendCommand').map((c) => arnOf(c.resource))).toEqual(
      Array.from({ length: 7 }, () => [
        // The document's name is the stack's prefix, its base name and the first group of the stack's UUID.
        'arn:aws:ssm:us-east-1:123456789012:document/cairn-RunBackupTask-4f1c2d3e',
        'arn:aws:ssm:us-east-1:123456789012:managed-instance/mi-*',
      ]).flat(),
    );
    expect(calls.schedule.map((c) => [c.action, arnOf(c.resource)])).toEqual([['lambda:InvokeFunction', expect.stringMatching(/:function:SchedulerFunction/)]]);
  });

  it('every call each component makes is allowed by its role, and its role grants nothing it does not call', () => {
    const result = checkGrants(template, recording.names, calls, statementsOf);
    expect(result.missing).toEqual([]);
    expect(result.excess).toEqual([]);
    expect(result.serviceWide).toEqual([]);
  });

  it('refuses the agent every image object call until its instance is granted those clients, and from another host', () => {
    // site1: the backups' unit; site2: the unit the duplicate job's Copy wrote a copy to (the same per-instance grants cover it).
    const objectCall = (line: string) => /^agent: s3:\w+ on arn:aws:s3:::[^/]+\/site[12]\/images\//.test(line);
    const agentObjectCalls = new Set(calls.agent.filter((c) => c.resource.kind === 'object').map((c) => `${c.action} ${arnOf(c.resource)}`));
    expect(agentObjectCalls.size).toBeGreaterThan(3);
    // The stack as deployed, before the agent-grants function has written anything.
    const bare = checkGrants(synth.template.toJSON() as Template, recording.names, calls, statementsOf).missing.filter(objectCall);
    expect(new Set(bare.map((line) => line.replace(/^agent: (\S+) on (\S+) .*$/, '$1 $2')))).toEqual(agentObjectCalls);
    // The grants written, but the calls come from a host the clients are not assigned to.
    const otherHost = { ...calls, agent: inSession(recording.calls.agent, 'AROAAGENTROLEEXAMPLE1:mi-0fedcba9876543210') };
    expect(checkGrants(template, recording.names, otherHost, statementsOf).missing.filter(objectCall).length).toBe(bare.length);
  });

  it('keeps its allow-list of unused grants short, and each entry says why', () => {
    for (const component of COMPONENTS) {
      expect(ALLOWED_UNUSED[component].length).toBeLessThanOrEqual(2);
      for (const entry of ALLOWED_UNUSED[component]) expect(entry.reason.length).toBeGreaterThan(20);
    }
  });

  it('fails, naming component, action and resource, when any one action the code uses is removed from the stack', () => {
    const used = new Map<string, { component: Component; action: string }>();
    for (const component of COMPONENTS) {
      for (const call of [...calls[component], ...impliedCalls(calls[component], recording.names)]) used.set(`${component} ${call.action}`, { component, action: call.action });
    }
    expect(used.size).toBeGreaterThan(30);
    for (const component of COMPONENTS) expect([...used.values()].some((u) => u.component === component), component).toBe(true);
    for (const { component, action } of used.values()) {
      const result = checkGrants(withoutAction(template, component, action), recording.names, calls, statementsOf);
      expect(result.missing.some((line) => line.startsWith(`${component}: ${action} on `)), `${component} without ${action}`).toBe(true);
    }
  });

  it('fails when dynamodb:*, s3:*, lambda:* or ssm:* is granted anywhere: to any role, or in a resource policy', () => {
    for (const wide of ['dynamodb:*', 's3:*', 'lambda:*', 'ssm:*']) {
      for (const component of COMPONENTS) {
        const widened = editRole(template, component, (statements) => [...statements, { Effect: 'Allow', Action: wide, Resource: '*' } as Statement]);
        const result = checkGrants(widened, recording.names, calls, statementsOf);
        expect(result.serviceWide, `${wide} on ${component}`).not.toEqual([]);
      }
      const copy = JSON.parse(JSON.stringify(template)) as Template;
      const bucketPolicy = Object.values(copy.Resources).find((r) => r.Type === 'AWS::S3::BucketPolicy')!;
      (bucketPolicy.Properties!.PolicyDocument as { Statement: Statement[] }).Statement.push({ Effect: 'Allow', Action: [wide], Resource: '*', Principal: { AWS: '*' } });
      expect(checkGrants(copy, recording.names, calls, statementsOf).serviceWide, `${wide} in the bucket policy`).not.toEqual([]);
    }
  });

  it('fails when a role grants an action on a resource its code never touches', () => {
    const widened = editRole(template, 'agent', (statements) => [...statements, { Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: { 'Fn::GetAtt': [Object.keys(template.Resources).find((id) => id.startsWith('TablesCatalogTable'))!, 'Arn'] } } as Statement]);
    expect(checkGrants(widened, recording.names, calls, statementsOf).excess).toEqual([expect.stringMatching(/^agent: dynamodb:GetItem on arn:aws:dynamodb:.*:table\/iam\d+-catalog/)]);
  });

  it('fails when the agent writes an attribute of its job record outside its dynamodb:Attributes condition', () => {
    const rewrite: AwsCall = { action: 'dynamodb:UpdateItem', operation: 'UpdateItem', resource: { kind: 'table', table: recording.names.tables.jobs }, attributes: ['json', 'pk', 'sk'] };
    const result = checkGrants(template, recording.names, { ...calls, agent: [...calls.agent, rewrite] }, statementsOf);
    expect(result.missing).toEqual([expect.stringMatching(/^agent: dynamodb:UpdateItem on .*jobs/)]);
  });

  /** The template with one more Allow statement in the component's role. */
  const granting = (component: Component, action: string, resource: unknown) =>
    editRole(template, component, (statements) => [...statements, { Effect: 'Allow', Action: action, Resource: resource } as Statement]);
  const functionId = (prefix: string) => Object.keys(template.Resources).find((id) => id.startsWith(prefix) && template.Resources[id]!.Type === 'AWS::Lambda::Function')!;
  const qualified = (prefix: string) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [functionId(prefix), 'Arn'] }, ':*']] });

  it('fails when the state machine or the schedule may invoke more than the unqualified functions they name, or send another document', () => {
    expect(checkGrants(granting('stateMachine', 'lambda:InvokeFunction', qualified('JobsFunction')), recording.names, calls, statementsOf).excess).toEqual([
      expect.stringMatching(/^stateMachine: lambda:InvokeFunction on arn:aws:lambda:.*:function:JobsFunction\w+:\*$/),
    ]);
    expect(checkGrants(granting('schedule', 'lambda:InvokeFunction', qualified('SchedulerFunction')), recording.names, calls, statementsOf).excess).toEqual([
      expect.stringMatching(/^schedule: lambda:InvokeFunction on .*:function:SchedulerFunction\w+:\*$/),
    ]);
    expect(checkGrants(granting('stateMachine', 'lambda:InvokeFunction', { 'Fn::GetAtt': [functionId('SchedulerFunction'), 'Arn'] }), recording.names, calls, statementsOf).excess).toEqual([
      expect.stringMatching(/^stateMachine: lambda:InvokeFunction on .*:function:SchedulerFunction\w+$/),
    ]);
    // EC2 instances are targets (the agent's instance profile), an allowed unused grant; another document never is.
    expect(checkGrants(granting('stateMachine', 'ssm:SendCommand', 'arn:aws:ssm:us-east-1::document/AWS-RunShellScript'), recording.names, calls, statementsOf).excess).toEqual([
      'stateMachine: ssm:SendCommand on arn:aws:ssm:us-east-1::document/AWS-RunShellScript',
    ]);
  });

  it('fails, naming the Task state, when the state machine may not invoke one function its ASL names', () => {
    const catalog = functionId('CatalogFunction');
    const narrowed = editRole(template, 'stateMachine', (statements) =>
      statements.map((s) => (s.Action === 'lambda:InvokeFunction' ? { ...s, Resource: (s.Resource as unknown[]).filter((r) => !JSON.stringify(r).includes(catalog)) } : s)),
    );
    expect(checkGrants(narrowed, recording.names, calls, statementsOf).missing).toEqual([expect.stringMatching(/^stateMachine: lambda:InvokeFunction on .*:function:CatalogFunction\w+ \(Task Catalog\)$/)]);
  });
});
