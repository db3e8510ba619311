import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../cdk/cairn-stack.ts';
import { ESM_REQUIRE_BANNER } from '../../cdk/constructs/cairn-function.ts';
import { asList, roleStatements, type Statement } from './policy-walk.ts';
import { synthCairnStack, type SynthResult } from './synth-fixture.ts';

type Resource = { Type: string; Properties?: Record<string, unknown> };
let synth: SynthResult;
let resources: Record<string, Resource>;

// Grants, alarms and wiring do not depend on the bundles: one synth without esbuild (the bundle is checked below on its own).
beforeAll(() => {
  synth = synthCairnStack({ bundle: false, validate: false });
  resources = synth.template.toJSON().Resources as Record<string, Resource>;
});
afterAll(() => synth?.cleanup());

const idOf = (type: string, prefix: string): string => {
  const ids = Object.entries(resources)
    .filter(([id, r]) => r.Type === type && id.startsWith(prefix) && !id.includes('Logs'))
    .map(([id]) => id);
  if (ids.length !== 1) throw new Error(`expected one ${type} ${prefix}, found ${ids.join(', ') || 'none'}`);
  return ids[0]!;
};
const actionsOf = (statements: Statement[]): string[] => statements.flatMap((s) => asList(s.Action as string | string[]));
const withAction = (statements: Statement[], action: string): Statement[] => statements.filter((s) => asList(s.Action as string | string[]).includes(action));

describe('the catalog-job state machine and function in CairnStack', () => {
  it('deploys catalog-job.asl.json with the catalog-job and jobs functions, its role invoking those two and sending no agent command', () => {
    const machine = idOf('AWS::StepFunctions::StateMachine', 'CatalogJob');
    const props = resources[machine]!.Properties!;
    expect(Object.keys(props.DefinitionSubstitutions as object).sort()).toEqual(['CatalogJobFunctionArn', 'JobsFunctionArn']);
    expect(props.StateMachineType).toBe('STANDARD');
    const role = (props.RoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const statements = roleStatements(resources, role);
    expect(actionsOf(statements)).not.toContain('ssm:SendCommand');
    const invoke = withAction(statements, 'lambda:InvokeFunction');
    expect(JSON.stringify(invoke.map((s) => s.Resource))).toBe(JSON.stringify([[{ 'Fn::GetAtt': [idOf('AWS::Lambda::Function', 'CatalogJobFunction'), 'Arn'] }, { 'Fn::GetAtt': [idOf('AWS::Lambda::Function', 'JobsFunction'), 'Arn'] }]]));
  });

  it('gives the function 15 minutes and what a backup and a check need: Scan of the four tables, the image bucket listed, images read, written and deleted, DR files written, no SSM', () => {
    const fn = resources[idOf('AWS::Lambda::Function', 'CatalogJobFunction')]!.Properties!;
    expect(fn.Timeout).toBe(900);
    const role = (fn.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const statements = roleStatements(resources, role);
    const scans = withAction(statements, 'dynamodb:Scan').flatMap((s) => asList(s.Resource as unknown[]));
    for (const table of ['ConfigTable', 'JobsTable', 'CatalogTable', 'MediaTable']) expect(JSON.stringify(scans), table).toContain(table);
    // Image objects read, written and deleted; DR files written only.
    const byKeys = Object.fromEntries(withAction(statements, 's3:PutObject').map((st) => [JSON.stringify(st.Resource).match(/"(\/[^"]*)"\]\]\}$/)?.[1], actionsOf([st]).sort()]));
    expect(byKeys).toEqual({ '/*images/*': ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:PutObject'], '/*catalog-dr/*': ['s3:PutObject'] });
    expect(JSON.stringify(withAction(statements, 's3:ListBucket')[0]!.Resource)).toContain('ImageBucket');
    expect(actionsOf(statements).filter((a) => a.startsWith('ssm:'))).toEqual([]);
    expect(actionsOf(statements)).not.toContain('states:StartExecution');
  });

  it('lets the scheduler start catalog-job executions, names the machine to it and to the janitor, whose rule takes their ends', () => {
    const machine = idOf('AWS::StepFunctions::StateMachine', 'CatalogJob');
    const scheduler = resources[idOf('AWS::Lambda::Function', 'SchedulerFunction')]!.Properties!;
    expect((scheduler.Environment as { Variables: Record<string, unknown> }).Variables.CATALOG_JOB_STATE_MACHINE_ARN).toEqual({ Ref: machine });
    const schedulerRole = (scheduler.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const starts = withAction(roleStatements(resources, schedulerRole), 'states:StartExecution').flatMap((s) => asList(s.Resource as unknown[]));
    expect(starts).toContainEqual({ Ref: machine });
    const janitor = resources[idOf('AWS::Lambda::Function', 'JanitorFunction')]!.Properties!;
    expect((janitor.Environment as { Variables: Record<string, unknown> }).Variables.CATALOG_JOB_STATE_MACHINE_ARN).toEqual({ Ref: machine });
    const rule = resources[idOf('AWS::Events::Rule', 'Janitor')]!.Properties!;
    expect((rule.EventPattern as { detail: { stateMachineArn: unknown[] } }).detail.stateMachineArn).toContainEqual({ Ref: machine });
  });

  it('alarms on failed and timed-out catalog-job executions and on the function\'s errors, and outputs the machine\'s ARN', () => {
    const alarms = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm').map(([id]) => id);
    for (const name of ['CatalogJobExecutionsFailed', 'CatalogJobExecutionsTimedOut', 'CatalogJobFunctionErrors']) expect(alarms.some((id) => id.startsWith(`Monitoring${name}`)), name).toBe(true);
    expect(synth.template.toJSON().Outputs.CatalogJobStateMachineArn.Value).toEqual({ Ref: idOf('AWS::StepFunctions::StateMachine', 'CatalogJob') });
  });
});

describe('lambdas/catalog-job.ts bundled as the CDK bundles it', () => {
  it('builds with esbuild (the agent image writer and its zstd codec included) and loads, exporting handler', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'cairn-catalog-job-bundle-'));
    try {
      const result = await esbuild.build({ absWorkingDir: REPO_ROOT, entryPoints: ['lambdas/catalog-job.ts'], bundle: true, format: 'esm', platform: 'node', target: 'node22', mainFields: ['module', 'main'], banner: { js: ESM_REQUIRE_BANNER }, minify: true, outfile: path.join(out, 'index.mjs'), logLevel: 'silent' });
      expect(result.errors).toEqual([]);
      const env = { ...process.env, CONFIG_TABLE: 'c', JOBS_TABLE: 'j', CATALOG_TABLE: 'k', MEDIA_TABLE: 'm', AWS_REGION: 'us-east-1', IMAGE_BUCKET: 'images', POWERTOOLS_SERVICE_NAME: 'cairn', STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:123456789012:stateMachine:backup-job' };
      const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(path.join(out, 'index.mjs'))}); console.log(typeof m.handler);`], { env });
      expect(stdout.trim()).toBe('function');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);
});
