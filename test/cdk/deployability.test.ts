import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import type { CairnStack } from '../../cdk/cairn-stack.ts';
import { physicalNames, sharedNames, type Deployment } from './physical-names.ts';
import { cdkJsonContext, synthCairnStacks, type SynthResult } from './synth-fixture.ts';

type Resources = Parameters<typeof physicalNames>[0];

/**
 * Checks that look at the stack as AWS and a reviewer would: the physical
 * names it asks for (can it be deployed more than once?) and cdk-nag's
 * AwsSolutions pack. One synth of four stacks in one app (one account):
 * two clean ones with different prefixes, and two with deliberate flaws, to
 * prove each check reports what it should.
 */
let a: SynthResult;
let b: SynthResult;
let flawed: SynthResult;
let twin: SynthResult;

/** A name fixed in code, as the stack had before (`cairn-reports`): both flawed stacks ask for it. */
const fixedTopic = (stack: CairnStack) => void new sns.Topic(stack, 'Fixed', { topicName: 'cairn-fixed' });

beforeAll(() => {
  // Neither check depends on the bundles: skip esbuild.
  [a, b, flawed, twin] = synthCairnStacks(
    [
      // Object Lock on in one: the locked bucket is the form with more to get wrong; both mail
      // addresses too (the reports' filtered subscription: report.test.ts reads it without validating).
      { stackName: 'CairnA', props: { namePrefix: 'cairn-a', objectLock: { mode: 'COMPLIANCE', days: 30 }, alarmEmail: 'ops@example.com', reportEmail: 'reports@example.com' } },
      { stackName: 'CairnB', props: { namePrefix: 'cairn-b' } },
      {
        stackName: 'CairnFlawed',
        props: { namePrefix: 'cairn-f' },
        // Besides the fixed name: a bucket without access logs, and a role with a wildcard no one acknowledged.
        extend: (stack) => {
          fixedTopic(stack);
          new s3.Bucket(stack, 'Unlogged', { enforceSSL: true });
          const role = new iam.Role(stack, 'Wide', { assumedBy: new iam.AccountRootPrincipal() });
          role.addToPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: ['arn:aws:s3:::somewhere/*'] }));
        },
      },
      { stackName: 'CairnTwin', props: { namePrefix: 'cairn-t' }, extend: fixedTopic },
    ],
    { bundle: false },
  ) as [SynthResult, SynthResult, SynthResult, SynthResult];
});
afterAll(() => a?.cleanup());

/** cdk-nag's findings on a construct tree: `severity rule at construct path`. */
function findings(scope: IConstruct): { errors: string[]; warnings: string[] } {
  const report = new AwsSolutionsChecks().validateScope(scope);
  const lines = (severity: string) =>
    report.violations.filter((v) => v.severity === severity).flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath ?? r.resourceLogicalId}`));
  return { errors: lines('error'), warnings: lines('warning') };
}

/** Every acknowledgment (Validations.of(...).acknowledge) in the tree: rule id, reason, where. */
function acknowledgments(scope: IConstruct): { id: string; reason: string; path: string }[] {
  return scope.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) => Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({ id: id.replace(/^annotation::/i, ''), reason, path: c.node.path }))),
  );
}

/**
 * "Deployable more than once": two stacks in one account, and one stack
 * deployed again after `cdk destroy` (which leaves its retained resources
 * behind), must not ask CloudFormation for a name the other already holds.
 */
describe('physical names', () => {
  const resourcesOf = (synth: SynthResult) => synth.template.toJSON().Resources as Resources;


  const first: Deployment = { stackName: 'CairnA', stackUuid: '0c1d2e3f-1111-4111-8111-111111111111' };
  const second: Deployment = { stackName: 'CairnB', stackUuid: '9a8b7c6d-2222-4222-8222-222222222222' };

  it('sees the names it must (the walk is not empty): document, topic, state machine and its log group, with the prefix', () => {
    const names = physicalNames(resourcesOf(a), first);
    const byType = (type: string) => names.filter((n) => n.type === type).map((n) => n.name);
    expect(byType('AWS::SSM::Document')).toEqual(['cairn-a-RunBackupTask-0c1d2e3f', 'cairn-a-RunAgentCommand-0c1d2e3f']);
    expect(byType('AWS::SNS::Topic')).toEqual(['cairn-a-reports-0c1d2e3f']);
    expect(byType('AWS::StepFunctions::StateMachine').sort()).toEqual(['cairn-a-backup-job-0c1d2e3f', 'cairn-a-catalog-job-0c1d2e3f', 'cairn-a-duplicate-job-0c1d2e3f', 'cairn-a-restore-job-0c1d2e3f', 'cairn-a-verify-job-0c1d2e3f']);
    expect(byType('AWS::Logs::LogGroup').sort()).toEqual(['/aws/vendedlogs/states/cairn-a-backup-job-0c1d2e3f', '/aws/vendedlogs/states/cairn-a-catalog-job-0c1d2e3f', '/aws/vendedlogs/states/cairn-a-duplicate-job-0c1d2e3f', '/aws/vendedlogs/states/cairn-a-restore-job-0c1d2e3f', '/aws/vendedlogs/states/cairn-a-verify-job-0c1d2e3f']);
  });

  it('two stacks with different prefixes in one account share no physical name', () => {
    expect(sharedNames(physicalNames(resourcesOf(a), first), physicalNames(resourcesOf(b), second))).toEqual([]);
  });

  it('a stack deployed again after cdk destroy asks for no name its retained resources still hold', () => {
    const again: Deployment = { stackName: 'CairnA', stackUuid: '5e6f7a8b-3333-4333-8333-333333333333' };
    const retained = physicalNames(resourcesOf(a), first).filter((n) => n.retained);
    expect(retained.map((n) => n.type)).toContain('AWS::Logs::LogGroup');
    expect(sharedNames(retained, physicalNames(resourcesOf(a), again))).toEqual([]);
  });

  it('would report a fixed name shared by two stacks (the check bites)', () => {
    const shared = sharedNames(physicalNames(resourcesOf(flawed), { stackName: 'CairnFlawed', stackUuid: first.stackUuid }), physicalNames(resourcesOf(twin), { stackName: 'CairnTwin', stackUuid: second.stackUuid }));
    expect(shared).toEqual(['AWS::SNS::Topic.TopicName = cairn-fixed']);
  });
});

/**
 * cdk-nag's AwsSolutions pack on the whole stack, the way cdk/app.ts runs it
 * on every synth: no unacknowledged error.
 */
describe('cdk-nag AwsSolutions', () => {

  it('reports no unacknowledged error, and no warning (cdk/README.md lists the warnings; today there are none)', () => {
    expect(findings(a.stack)).toEqual({ errors: [], warnings: [] });
  });

  it('still reports what nobody acknowledged (the check bites)', () => {
    expect(findings(flawed.stack).errors).toEqual([
      // The fixed-name topic allows publishing without TLS.
      'AwsSolutions-SNS3 at CairnFlawed/Fixed/Resource',
      'AwsSolutions-S1 at CairnFlawed/Unlogged/Resource',
      'AwsSolutions-IAM5[Resource::arn:aws:s3:::somewhere/*] at CairnFlawed/Wide/DefaultPolicy/Resource',
    ]);
  });

  it('acknowledges only specific findings, each with its reason', () => {
    const all = acknowledgments(a.stack);
    expect(all.length).toBeGreaterThanOrEqual(8);
    for (const { id, reason, path } of all) {
      expect(reason.length, `${id} at ${path}`).toBeGreaterThan(40);
      // A whole-rule IAM acknowledgment would hide every future wildcard of that principal; each names its finding.
      if (/^AwsSolutions-IAM[45]/.test(id)) expect(id, path).toMatch(/\[(Resource|Policy|Action)::.+\]$/);
    }
    expect(all.map(({ id, path }) => `${id} at ${path}`).sort()).toEqual(
      [
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore] at CairnA/Agent/Role',
        'AwsSolutions-IAM5[Resource::*] at CairnA/Agent/Role',
        'AwsSolutions-IAM5[Resource::<ImagesImageBucket83590BB4.Arn>/*images/*] at CairnA/Deletion/Role',
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:managed-instance/*] at CairnA/BackupJob/StateMachine/Role',
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:managed-instance/*] at CairnA/Janitor/FunctionServiceRole',
        'AwsSolutions-IAM5[Resource::*] at CairnA/BackupJob/StateMachine/Role',
        'AwsSolutions-IAM5[Resource::*] at CairnA/Jobs/FunctionServiceRole',
        'AwsSolutions-IAM5[Resource::*] at CairnA/Broker/FunctionServiceRole',
        'AwsSolutions-IAM5[Resource::*] at CairnA/Catalog/FunctionServiceRole',
        'AwsSolutions-IAM5[Resource::*] at CairnA/Scheduler/FunctionServiceRole',
        'AwsSolutions-IAM5[Resource::*] at CairnA/Janitor/FunctionServiceRole',
        'AwsSolutions-IAM5[Resource::*] at CairnA/AgentGrants/FunctionServiceRole',
        'AwsSolutions-IAM5[Resource::*] at CairnA/Restore/FunctionServiceRole',
        'AwsSolutions-IAM5[Resource::*] at CairnA/Report/FunctionServiceRole',
        // The restore job's state machine sends the same agent document to the instance its reservation names.
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:managed-instance/*] at CairnA/RestoreJob/StateMachine/Role',
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*] at CairnA/RestoreJob/StateMachine/Role',
        'AwsSolutions-IAM5[Resource::*] at CairnA/RestoreJob/StateMachine/Role',
        // The verify job's state machine and Lambda, as the restore job's.
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:managed-instance/*] at CairnA/VerifyJob/StateMachine/Role',
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*] at CairnA/VerifyJob/StateMachine/Role',
        'AwsSolutions-IAM5[Resource::*] at CairnA/VerifyJob/StateMachine/Role',
        'AwsSolutions-IAM5[Resource::*] at CairnA/Verify/FunctionServiceRole',
        // The duplicate job's state machine and Lambda (policy copies), as the verify job's; the sweep describes its executions.
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:managed-instance/*] at CairnA/DuplicateJob/StateMachine/Role',
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*] at CairnA/DuplicateJob/StateMachine/Role',
        'AwsSolutions-IAM5[Resource::*] at CairnA/DuplicateJob/StateMachine/Role',
        'AwsSolutions-IAM5[Resource::*] at CairnA/Duplicate/FunctionServiceRole',
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"DuplicateJobStateMachineC5A14C2B"}]}]}:*] at CairnA/Scheduler/FunctionServiceRole',
        // The sweep describes verify jobs' executions too.
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"VerifyJobStateMachineB8D63D7F"}]}]}:*] at CairnA/Scheduler/FunctionServiceRole',
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*] at CairnA/BackupJob/StateMachine/Role',
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*] at CairnA/Janitor/FunctionServiceRole',
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"BackupJobStateMachineFFAF3664"}]}]}:*] at CairnA/Scheduler/FunctionServiceRole',
        'AwsSolutions-IAM5[Resource::<ImagesImageBucket83590BB4.Arn>/*] at CairnA/Scheduler/FunctionServiceRole',
        // The scheduler's cleanup (expiration) deletes expired images' objects, under the images/ prefix only.
        'AwsSolutions-IAM5[Resource::<ImagesImageBucket83590BB4.Arn>/*images/*] at CairnA/Scheduler/FunctionServiceRole',
        // The sweep describes restore jobs' executions too; the idle drive unload sends the operator's document to the robot's agent.
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"RestoreJobStateMachineC166343F"}]}]}:*] at CairnA/Scheduler/FunctionServiceRole',
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:managed-instance/*] at CairnA/Scheduler/FunctionServiceRole',
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*] at CairnA/Scheduler/FunctionServiceRole',
        ...['Jobs', 'Broker', 'Catalog', 'Scheduler', 'Janitor', 'AgentGrants', 'Restore', 'Report', 'Verify', 'Duplicate'].map((fn) => `AwsSolutions-L1 at CairnA/${fn}/Function`),
        'AwsSolutions-S1 at CairnA/Images/AccessLogs',
        // The catalog job: its state machine (logging and tracing only: no agent document), and its Lambda, which
        // writes catalog images and DR files under a unit's images/ and catalog-dr/ and tells dead jobs by their executions.
        'AwsSolutions-IAM5[Resource::*] at CairnA/CatalogJob/StateMachine/Role',
        'AwsSolutions-IAM5[Resource::*] at CairnA/CatalogJobFunction/FunctionServiceRole',
        'AwsSolutions-L1 at CairnA/CatalogJobFunction/Function',
        'AwsSolutions-IAM5[Resource::<ImagesImageBucket83590BB4.Arn>/*catalog-dr/*] at CairnA/CatalogJobFunction/FunctionServiceRole',
        'AwsSolutions-IAM5[Resource::<ImagesImageBucket83590BB4.Arn>/*images/*] at CairnA/CatalogJobFunction/FunctionServiceRole',
        ...['BackupJobStateMachineFFAF3664', 'RestoreJobStateMachineC166343F', 'VerifyJobStateMachineB8D63D7F'].map(
          (machine) => `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${machine}"}]}]}:*] at CairnA/CatalogJobFunction/FunctionServiceRole`,
        ),
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"CatalogJobStateMachine55EAD6A7"}]}]}:*] at CairnA/Scheduler/FunctionServiceRole',
      ].sort(),
    );
  });
});

/** The tags of a resource in the template, whichever of CloudFormation's two shapes it uses. */
function tagsOf(properties: Record<string, unknown> | undefined): Record<string, string> {
  const tags = properties?.Tags;
  if (Array.isArray(tags)) return Object.fromEntries((tags as { Key: string; Value: string }[]).map((t) => [t.Key, t.Value]));
  return (tags ?? {}) as Record<string, string>;
}

/**
 * cdk/app.ts as `cdk synth -c ...` runs it: the CLI hands the app cdk.json's
 * context plus the -c values (CDK_CONTEXT_JSON) and the output directory
 * (CDK_OUTDIR), and the app synthesizes with the built-in CloudFormation
 * validation and cdk-nag. Here in this test process, after the synth above:
 * its validation engine is already started (a child process started its own,
 * ~9 s of CPU, and tsx, the CDK and the agent bundle again: the test took
 * 16 s of CPU that way, 56 s wall on the loaded machine).
 */
describe('the CDK app (cdk/app.ts)', () => {
  it('builds the stack the context describes, as `cdk synth -c ...` hands it its context', async () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-cdk-app-'));
    // Bundling is skipped for speed (the CLI's own aws:cdk:bundling-stacks context); names do not depend on it.
    // The built-in CloudFormation validation runs, as in `cdk synth` (a finding fails the synth, which
    // throws here as under NODE_ENV=test in the CLI's child), on every property stack-props.test.ts sets without it.
    const context = {
      ...cdkJsonContext(),
      'aws:cdk:bundling-stacks': [],
      stackName: 'CairnApp',
      namePrefix: 'apptest',
      objectLock: 'compliance',
      objectLockDays: '21',
      tags: '{"Owner":"ops"}',
      logRetention: '90',
      lambdaMemory: '1024',
      alarmEmail: 'ops@example.com',
    };
    const saved = { context: process.env.CDK_CONTEXT_JSON, outdir: process.env.CDK_OUTDIR, exitCode: process.exitCode };
    const printed = vi.spyOn(console, 'error');
    try {
      process.env.CDK_CONTEXT_JSON = JSON.stringify(context);
      process.env.CDK_OUTDIR = outdir;
      await import('../../cdk/app.ts');
      expect(printed.mock.calls.flat().join('\n')).not.toMatch(/ERROR|Validation failed/);
      expect(process.exitCode ?? 0).toBe(0);
      const template = JSON.parse(fs.readFileSync(path.join(outdir, 'CairnApp.template.json'), 'utf8')) as { Resources: Resources };
      const resources = Object.values(template.Resources);
      const bucket = resources.find((r) => r.Type === 'AWS::S3::Bucket' && r.Properties?.ObjectLockEnabled === true);
      expect(bucket?.Properties?.ObjectLockConfiguration).toEqual({ ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 21 } } });
      const machine = resources.find((r) => r.Type === 'AWS::StepFunctions::StateMachine')!;
      expect(JSON.stringify(machine.Properties!.StateMachineName)).toContain('"apptest-backup-job"');
      expect(tagsOf(bucket?.Properties)).toMatchObject({ Application: 'Cairn', Owner: 'ops' });
      expect(resources.filter((r) => r.Type === 'AWS::Lambda::Function').map((r) => r.Properties?.MemorySize)).toContain(1024);
      expect(resources.filter((r) => r.Type === 'AWS::SNS::Subscription').map((r) => r.Properties?.Endpoint)).toEqual(['ops@example.com']);
    } finally {
      printed.mockRestore();
      for (const [key, value] of [['CDK_CONTEXT_JSON', saved.context], ['CDK_OUTDIR', saved.outdir]] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      process.exitCode = saved.exitCode;
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  }, 150_000);
});
