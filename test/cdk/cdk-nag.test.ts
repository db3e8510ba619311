import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { synthCairnStacks, type SynthResult } from './synth-fixture.ts';

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
 * cdk-nag's AwsSolutions pack on the whole stack, the way cdk/app.ts runs it
 * on every synth: no unacknowledged error. Object Lock on, so the bucket's
 * locked form is checked too (it is the form with more to get wrong).
 */
describe('cdk-nag AwsSolutions', () => {
  let cairn: SynthResult;
  let flawed: SynthResult;

  beforeAll(() => {
    [cairn, flawed] = synthCairnStacks(
      [
        { stackName: 'CairnStack', props: { objectLock: { mode: 'COMPLIANCE', days: 30 }, alarmEmail: 'ops@example.com' } },
        {
          stackName: 'CairnFlawed',
          // Two deliberate flaws: a bucket without access logs, and a role with a wildcard no one acknowledged.
          extend: (stack) => {
            new s3.Bucket(stack, 'Unlogged', { enforceSSL: true });
            const role = new iam.Role(stack, 'Wide', { assumedBy: new iam.AccountRootPrincipal() });
            role.addToPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: ['arn:aws:s3:::somewhere/*'] }));
          },
        },
      ],
      { bundle: false },
    ) as [SynthResult, SynthResult];
  });
  afterAll(() => cairn?.cleanup());

  it('reports no unacknowledged error, and no warning (cdk/README.md lists the warnings; today there are none)', () => {
    expect(findings(cairn.stack)).toEqual({ errors: [], warnings: [] });
  });

  it('still reports what nobody acknowledged (the check bites)', () => {
    expect(findings(flawed.stack).errors).toEqual([
      'AwsSolutions-S1 at CairnFlawed/Unlogged/Resource',
      'AwsSolutions-IAM5[Resource::arn:aws:s3:::somewhere/*] at CairnFlawed/Wide/DefaultPolicy/Resource',
    ]);
  });

  it('acknowledges only specific findings, each with its reason', () => {
    const all = acknowledgments(cairn.stack);
    expect(all.length).toBeGreaterThanOrEqual(8);
    for (const { id, reason, path } of all) {
      expect(reason.length, `${id} at ${path}`).toBeGreaterThan(40);
      // A whole-rule IAM acknowledgment would hide every future wildcard of that principal; each names its finding.
      if (/^AwsSolutions-IAM[45]/.test(id)) expect(id, path).toMatch(/\[(Resource|Policy|Action)::.+\]$/);
    }
    expect(all.map(({ id, path }) => `${id} at ${path}`).sort()).toEqual(
      [
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore] at CairnStack/Agent/Role',
        'AwsSolutions-IAM5[Resource::*] at CairnStack/Agent/Role',
        'AwsSolutions-IAM5[Resource::<ImagesImageBucket83590BB4.Arn>/*images/*] at CairnStack/Agent/Role',
        'AwsSolutions-IAM5[Resource::<ImagesImageBucket83590BB4.Arn>/*images/*] at CairnStack/Deletion/Role',
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:managed-instance/*] at CairnStack/BackupJob/StateMachine/Role',
        'AwsSolutions-IAM5[Resource::*] at CairnStack/BackupJob/StateMachine/Role',
        'AwsSolutions-IAM5[Resource::*] at CairnStack/Jobs/FunctionServiceRole',
        'AwsSolutions-IAM5[Resource::*] at CairnStack/Broker/FunctionServiceRole',
        'AwsSolutions-IAM5[Resource::*] at CairnStack/Catalog/FunctionServiceRole',
        'AwsSolutions-IAM5[Resource::*] at CairnStack/Scheduler/FunctionServiceRole',
        'AwsSolutions-S1 at CairnStack/Images/AccessLogs',
      ].sort(),
    );
  });
});
