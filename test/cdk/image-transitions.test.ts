import { describe, expect, it } from 'vitest';
import { Match } from 'aws-cdk-lib/assertions';
import { validateTransitions } from '../../cdk/constructs/image-store.ts';
import { stackPropsFromContext } from '../../cdk/context.ts';
import { synthCairnStack } from './synth-fixture.ts';

/** S3 units' objects may move to colder classes with the bucket's lifecycle rules, where the stack owns the bucket. */
describe('image bucket lifecycle transitions', () => {
  it('a stack given transitions has a rule moving image objects to each class after its days; without, no such rule', () => {
    const cold = synthCairnStack({ bundle: false, validate: false, props: { imageTransitions: [{ storageClass: 'STANDARD_IA', days: 30 }, { storageClass: 'GLACIER_IR', days: 90 }] } });
    try {
      cold.template.hasResourceProperties('AWS::S3::Bucket', {
        LifecycleConfiguration: {
          Rules: Match.arrayWith([
            {
              Id: 'transition-image-objects',
              Status: 'Enabled',
              Transitions: [
                { StorageClass: 'STANDARD_IA', TransitionInDays: 30 },
                { StorageClass: 'GLACIER_IR', TransitionInDays: 90 },
              ],
            },
          ]),
        },
      });
    } finally {
      cold.cleanup();
    }
    const plain = synthCairnStack({ bundle: false, validate: false });
    try {
      const rules = Object.values(plain.template.findResources('AWS::S3::Bucket')).flatMap((b) => ((b.Properties?.LifecycleConfiguration as { Rules?: { Id: string }[] } | undefined)?.Rules ?? []).map((r) => r.Id));
      expect(rules).not.toContain('transition-image-objects');
    } finally {
      plain.cleanup();
    }
  }, 120_000);

  it('refuses classes a GET cannot read at once, days out of order, and infrequent access before 30 days; reads the context form', () => {
    expect(() => validateTransitions([{ storageClass: 'DEEP_ARCHIVE' as 'GLACIER_IR', days: 90 }])).toThrow(/GET reads them at once/);
    expect(() => validateTransitions([{ storageClass: 'STANDARD_IA', days: 10 }])).toThrow(/30 days at the earliest/);
    expect(() => validateTransitions([{ storageClass: 'GLACIER_IR', days: 90 }, { storageClass: 'STANDARD_IA', days: 30 }])).toThrow(/in order of days/);
    const props = stackPropsFromContext((key) => (key === 'imageTransitions' ? 'STANDARD_IA:30,GLACIER_IR:90' : undefined));
    expect(props.imageTransitions).toEqual([{ storageClass: 'STANDARD_IA', days: 30 }, { storageClass: 'GLACIER_IR', days: 90 }]);
    expect(() => stackPropsFromContext((key) => (key === 'imageTransitions' ? 'glacier' : undefined))).toThrow(/imageTransitions/);
  });
});
