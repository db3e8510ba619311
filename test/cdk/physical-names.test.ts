import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as sns from 'aws-cdk-lib/aws-sns';
import { physicalNames, sharedNames, type Deployment } from './physical-names.ts';
import { synthCairnStacks, type SynthResult } from './synth-fixture.ts';

type Resources = Parameters<typeof physicalNames>[0];

/**
 * "Deployable more than once": two stacks in one account, and one stack
 * deployed again after `cdk destroy` (which leaves its retained resources
 * behind), must not ask CloudFormation for a name the other already holds.
 */
describe('physical names', () => {
  let a: SynthResult;
  let b: SynthResult;
  const resourcesOf = (synth: SynthResult) => synth.template.toJSON().Resources as Resources;

  beforeAll(() => {
    // Names do not depend on the bundles: skip esbuild.
    [a, b] = synthCairnStacks(
      [
        { stackName: 'CairnA', props: { namePrefix: 'cairn-a' } },
        { stackName: 'CairnB', props: { namePrefix: 'cairn-b' } },
      ],
      { bundle: false },
    ) as [SynthResult, SynthResult];
  });
  afterAll(() => a?.cleanup());

  const first: Deployment = { stackName: 'CairnA', stackUuid: '0c1d2e3f-1111-4111-8111-111111111111' };
  const second: Deployment = { stackName: 'CairnB', stackUuid: '9a8b7c6d-2222-4222-8222-222222222222' };

  it('sees the names it must (the walk is not empty): document, topic, state machine and its log group, with the prefix', () => {
    const names = physicalNames(resourcesOf(a), first);
    const byType = (type: string) => names.filter((n) => n.type === type).map((n) => n.name);
    expect(byType('AWS::SSM::Document')).toEqual(['cairn-a-RunBackupTask-0c1d2e3f']);
    expect(byType('AWS::SNS::Topic')).toEqual(['cairn-a-reports-0c1d2e3f']);
    expect(byType('AWS::StepFunctions::StateMachine')).toEqual(['cairn-a-backup-job-0c1d2e3f']);
    expect(byType('AWS::Logs::LogGroup')).toEqual(['/aws/vendedlogs/states/cairn-a-backup-job-0c1d2e3f']);
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
    const [x, y] = synthCairnStacks(
      ['CairnX', 'CairnY'].map((stackName, i) => ({
        stackName,
        props: { namePrefix: `cairn-${i}` },
        extend: (stack) => void new sns.Topic(stack, 'Fixed', { topicName: 'cairn-fixed' }),
      })),
      { bundle: false },
    );
    try {
      const shared = sharedNames(physicalNames(resourcesOf(x!), first), physicalNames(resourcesOf(y!), second));
      expect(shared).toEqual(['AWS::SNS::Topic.TopicName = cairn-fixed']);
    } finally {
      x!.cleanup();
    }
  });
});
