import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { App, CfnResource, TagManager } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { CairnStack, DEFAULT_TAGS, type CairnStackProps } from '../../cdk/cairn-stack.ts';
import { DEFAULT_STACK_NAME, stackPropsFromContext, type ContextKey } from '../../cdk/context.ts';
import { synthCairnStack, type SynthResult } from './synth-fixture.ts';

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;

/** The tags of a resource in the template, whichever of CloudFormation's two shapes it uses. */
function tagsOf(properties: Record<string, unknown> | undefined): Record<string, string> {
  const tags = properties?.Tags;
  if (Array.isArray(tags)) return Object.fromEntries((tags as { Key: string; Value: string }[]).map((t) => [t.Key, t.Value]));
  return (tags ?? {}) as Record<string, string>;
}

describe('stack properties', () => {
  let synth: SynthResult;
  let resources: Resources;
  const props = {
    namePrefix: 'acme-backup',
    logRetention: logs.RetentionDays.THREE_MONTHS,
    lambdaMemoryMiB: 1024,
    tags: { Owner: 'backup-team', CostCentre: '42' },
    alarmEmail: 'ops@example.com',
  };

  beforeAll(() => {
    // Validated where cdk/app.ts synthesizes the same properties, below (see synth-fixture.ts).
    synth = synthCairnStack({ bundle: false, validate: false, props });
    resources = synth.template.toJSON().Resources as Resources;
  });
  afterAll(() => synth?.cleanup());

  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

  it('gives every log group the log retention', () => {
    const groups = ofType('AWS::Logs::LogGroup');
    expect(groups.length).toBeGreaterThanOrEqual(5);
    for (const [id, group] of groups) expect(group.Properties?.RetentionInDays, id).toBe(90);
  });

  it('gives every Lambda the memory', () => {
    const functions = ofType('AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThanOrEqual(4);
    for (const [id, fn] of functions) expect(fn.Properties?.MemorySize, id).toBe(1024);
  });

  it('starts every name Cairn sets with the prefix', () => {
    const named = ['AWS::SSM::Document', 'AWS::SNS::Topic', 'AWS::StepFunctions::StateMachine'].flatMap(ofType);
    // The two agent documents (the workflow's and the operator's), the reports topic, the backup-job, restore-job, verify-job, duplicate-job and catalog-job state machines.
    expect(named).toHaveLength(8);
    for (const [id, r] of named) {
      const name = Object.entries(r.Properties ?? {}).find(([key]) => key.endsWith('Name'))![1] as { 'Fn::Join': [string, unknown[]] };
      expect(String(name['Fn::Join'][1][0]), id).toMatch(/^acme-backup-/);
    }
  });

  it('tags every taggable resource with the given tags and the defaults, and the stack itself', () => {
    const expected = { ...DEFAULT_TAGS, ...props.tags };
    const taggable = synth.stack.node.findAll().filter((c): c is CfnResource => CfnResource.isCfnResource(c) && TagManager.isTaggable(c));
    expect(taggable.length).toBeGreaterThan(15);
    for (const resource of taggable) {
      const logicalId = synth.stack.resolve(resource.logicalId) as string;
      expect(tagsOf(resources[logicalId]?.Properties), `${resource.cfnResourceType} ${logicalId}`).toMatchObject(expected);
    }
    expect(synth.stack.tags.tagValues()).toMatchObject(expected);
  });

  it('exposes the alarm email, prefix, retention and memory on the stack for the constructs that use them', () => {
    expect(synth.stack).toMatchObject({ alarmEmail: 'ops@example.com', namePrefix: 'acme-backup', logRetention: 90, lambdaMemoryMiB: 1024 });
  });

  it('refuses values AWS would refuse later, naming the setting', () => {
    // Props are checked first thing in the constructor, before any construct: no synth needed.
    const bare = (extra: CairnStackProps) => () => new CairnStack(new App(), 'Refused', extra);
    expect(bare({ namePrefix: 'Acme' })).toThrow(/namePrefix/);
    expect(bare({ namePrefix: 'aws-backup' })).toThrow(/namePrefix/);
    expect(bare({ namePrefix: 'a'.repeat(21) })).toThrow(/namePrefix/);
    expect(bare({ logRetention: 10 as logs.RetentionDays })).toThrow(/logRetention/);
    expect(bare({ lambdaMemoryMiB: 64 })).toThrow(/lambdaMemoryMiB/);
    expect(bare({ alarmEmail: 'ops' })).toThrow(/alarmEmail/);
  });
});

describe('cdk context', () => {
  const from = (context: Partial<Record<ContextKey, unknown>>) => stackPropsFromContext((key) => context[key]);

  it('has sensible defaults: the CairnStack name and nothing set (the stack fills in its defaults)', () => {
    const props = from({});
    expect(props.stackName).toBe(DEFAULT_STACK_NAME);
    expect(Object.entries(props).filter(([key, value]) => key !== 'stackName' && value !== undefined)).toEqual([]);
  });

  it('reads -c strings and cdk.json values alike', () => {
    const fromStrings = from({
      stackName: 'CairnTest',
      namePrefix: 'test',
      logRetention: '30',
      lambdaMemory: '256',
      tags: '{"Owner":"ops"}',
      alarmEmail: 'ops@example.com',
      objectLock: 'compliance',
      objectLockDays: '30',
      noncurrentVersionDays: '10',
      schedulerRate: '5',
    });
    expect({ ...fromStrings, schedulerRate: fromStrings.schedulerRate?.toMinutes() }).toEqual({
      stackName: 'CairnTest',
      namePrefix: 'test',
      logRetention: 30,
      lambdaMemoryMiB: 256,
      tags: { Owner: 'ops' },
      alarmEmail: 'ops@example.com',
      objectLock: { mode: 'COMPLIANCE', days: 30 },
      noncurrentVersionDays: 10,
      schedulerRate: 5,
    });
    expect(from({ logRetention: 30, lambdaMemory: 256, tags: { Owner: 'ops' }, objectLock: true })).toMatchObject({ logRetention: 30, lambdaMemoryMiB: 256, tags: { Owner: 'ops' }, objectLock: { mode: 'GOVERNANCE', days: 14 } });
    expect(from({ objectLock: false }).objectLock).toBeUndefined();
    expect(from({ objectLock: 'false' }).objectLock).toBeUndefined();
  });

  it('refuses a wrong value, naming the key', () => {
    expect(() => from({ lambdaMemory: '1 GiB' })).toThrow(/lambdaMemory/);
    expect(() => from({ tags: '{"Owner":1}' })).toThrow(/tags/);
    expect(() => from({ tags: 'Owner=ops' })).toThrow(/tags/);
    expect(() => from({ objectLock: 'yes' })).toThrow(/objectLock/);
    expect(() => from({ objectLockDays: '30' })).toThrow(/objectLockDays needs objectLock/);
    expect(() => from({ stackName: 'my stack' })).toThrow(/stackName/);
    expect(() => from({ schedulerRate: '0' })).toThrow(/schedulerRate/);
  });
});
