import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Duration } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { tableEnvVar, tableNames, type TableName } from '#aws/tables.ts';
import { DEPLOYMENT_OUTPUT_KEYS, RESTORE_STATE_MACHINE_OUTPUT_KEY, VERIFY_STATE_MACHINE_OUTPUT_KEY } from '#aws/deployment-outputs.ts';
import { REPO_ROOT } from '../../cdk/cairn-stack.ts';
import { AGENT_COMMAND_DOCUMENT_BASE_NAME, AGENT_DOCUMENT_BASE_NAME } from '../../cdk/constructs/agent-document.ts';
import { AGENT_COMMAND_STEP } from '#aws/ssm-agent-command.ts';
import { AGENT_GRANTS_ENV, AGENT_GRANTS_IAM_ACTIONS } from '../../cdk/constructs/agent-grants-function.ts';
import { AGENT_GRANT_POLICY_COUNT } from '../../cdk/constructs/agent-role.ts';
import { DEFINITION_SUBSTITUTIONS } from '../../cdk/constructs/backup-job-state-machine.ts';
import { RESTORE_DEFINITION_SUBSTITUTIONS } from '../../cdk/constructs/restore-job-state-machine.ts';
import { VERIFY_DEFINITION_SUBSTITUTIONS } from '../../cdk/constructs/verify-job-state-machine.ts';
import { NONCURRENT_VERSION_DAYS } from '../../cdk/constructs/image-store.ts';
import { ESM_REQUIRE_BANNER } from '../../cdk/constructs/cairn-function.ts';
import { AGENT_COMMAND_DOCUMENT_ENV, RESTORE_STATE_MACHINE_ARN_ENV, SCHEDULER_RETRY_ATTEMPTS, STATE_MACHINE_ARN_ENV, VERIFY_STATE_MACHINE_ARN_ENV } from '../../cdk/constructs/scheduler-function.ts';
import { JANITOR_RETRY_ATTEMPTS } from '../../cdk/constructs/janitor-function.ts';
import { allStatements, asList, referencedIds, roleStatements, type Statement } from './policy-walk.ts';
import { synthCairnStack, type SynthResult } from './synth-fixture.ts';

// One synth (with esbuild bundling of the handlers) shared by every test in this file.
// Without the built-in CloudFormation validation (its engine costs ~10 s of CPU in
// each process): deployability.test.ts validates four variants of this stack and
// the one cdk/app.ts synthesizes (see synth-fixture.ts).
let synth: SynthResult;
let resources: Record<string, { Type: string; Properties?: Record<string, unknown>; DeletionPolicy?: string; UpdateReplacePolicy?: string }>;

beforeAll(() => {
  synth = synthCairnStack({ validate: false });
  resources = synth.template.toJSON().Resources;
  if (synth.bundlingSkipped) console.warn(`cdk tests: Lambda bundling skipped (${synth.bundlingSkipped})`);
  if (synth.aslReplaced) console.warn(`cdk tests: ${synth.aslReplaced}`);
});

afterAll(() => synth?.cleanup());

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

/** The one resource of a type (whose logical id starts with prefix): its logical id and properties. */
function only(type: string, prefix = ''): [string, Record<string, unknown>] {
  const matches = ofType(type).filter(([id]) => id.startsWith(prefix));
  if (matches.length !== 1) throw new Error(`expected one ${type} ${prefix}, found ${matches.length}`);
  const [id, resource] = matches[0]!;
  return [id, resource.Properties ?? {}];
}
const actionsOf = (s: Statement) => asList(s.Action);

/** Logical id of each table, by its name in aws/tables.ts. */
function tableIds(): Record<TableName, string> {
  const ids = {} as Record<TableName, string>;
  for (const name of tableNames) {
    const construct = `Tables${name[0]!.toUpperCase()}${name.slice(1)}Table`;
    const match = ofType('AWS::DynamoDB::Table').find(([id]) => id.startsWith(construct));
    if (!match) throw new Error(`no table for ${name}`);
    ids[name] = match[0];
  }
  return ids;
}

const functions = { jobs: 'JobsFunction', broker: 'BrokerFunction', catalog: 'CatalogFunction', scheduler: 'SchedulerFunction', agentGrants: 'AgentGrantsFunction', janitor: 'JanitorFunction', restore: 'RestoreFunction', report: 'ReportFunction', verify: 'VerifyFunction', duplicate: 'DuplicateFunction' } as const;
type FunctionName = keyof typeof functions;

function lambda(name: FunctionName) {
  const match = ofType('AWS::Lambda::Function').find(([id]) => id.startsWith(functions[name]) && !id.includes('Logs'));
  if (!match) throw new Error(`no Lambda for ${name}`);
  return { logicalId: match[0], props: match[1].Properties as Record<string, unknown> };
}

function roleIdOf(name: FunctionName): string {
  const [roleId] = referencedIds(lambda(name).props.Role);
  return roleId!;
}

/** Tables a role may write to, and tables it may read, judged by DynamoDB actions on table ARNs. */
function tableAccess(roleId: string): { write: TableName[]; read: TableName[] } {
  const ids = tableIds();
  const byId = Object.fromEntries(Object.entries(ids).map(([name, id]) => [id, name as TableName]));
  const write = new Set<TableName>();
  const read = new Set<TableName>();
  for (const s of roleStatements(resources, roleId)) {
    if (s.Effect !== 'Allow') continue;
    const actions = actionsOf(s);
    for (const id of referencedIds(s.Resource)) {
      const table = byId[id];
      if (!table) continue;
      if (actions.some((a) => /^dynamodb:(PutItem|UpdateItem|DeleteItem|BatchWriteItem)$/.test(a))) write.add(table);
      if (actions.some((a) => /^dynamodb:(GetItem|Query|Scan)$/.test(a))) read.add(table);
    }
  }
  return { write: [...write].sort(), read: [...read].sort() };
}

describe('DynamoDB tables', () => {
  it('has one table per store, keyed pk/sk, on demand, with point-in-time recovery and encryption at rest', () => {
    const tables = ofType('AWS::DynamoDB::Table');
    expect(tables).toHaveLength(tableNames.length);
    for (const [, table] of tables) {
      expect(table.Properties).toMatchObject({
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: expect.arrayContaining([
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ]),
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        DeletionProtectionEnabled: true,
      });
    }
  });

  it('survives stack deletion and replacement (RETAIN)', () => {
    for (const [, table] of ofType('AWS::DynamoDB::Table')) {
      expect(table.DeletionPolicy).toBe('Retain');
      expect(table.UpdateReplacePolicy).toBe('Retain');
    }
  });
});

describe('image bucket', () => {
  it('is encrypted with a customer managed key that rotates', () => {
    const [keyId] = only('AWS::KMS::Key', 'ImagesImageKey');
    synth.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    synth.template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          { ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [keyId, 'Arn'] } }, BucketKeyEnabled: true },
        ],
      },
    });
  });

  it('is versioned, blocks all public access, enforces bucket-owner ownership and is retained', () => {
    synth.template.hasResource('AWS::S3::Bucket', {
      Properties: {
        VersioningConfiguration: { Status: 'Enabled' },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('has Object Lock off by default, and with the objectLock option a default retention in the mode and days given', () => {
    const [, bucket] = only('AWS::S3::Bucket', 'ImagesImageBucket');
    expect(bucket.ObjectLockEnabled ?? false).toBe(false);
    expect(bucket.ObjectLockConfiguration).toBeUndefined();
    // Bundling is irrelevant here; skipping it keeps these synths fast.
    for (const lock of [{ mode: 'GOVERNANCE', days: 14 }, { mode: 'COMPLIANCE', days: 365 }] as const) {
      const locked = synthCairnStack({ bundle: false, validate: false, objectLock: lock });
      try {
        const [, lockedBucket] = Object.entries(locked.template.findResources('AWS::S3::Bucket')).find(([id]) => id.startsWith('ImagesImageBucket'))!;
        expect(lockedBucket.Properties).toMatchObject({
          ObjectLockEnabled: true,
          ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: lock.mode, Days: lock.days } } },
          VersioningConfiguration: { Status: 'Enabled' },
        });
      } finally {
        locked.cleanup();
      }
    }
    expect(() => synthCairnStack({ bundle: false, validate: false, objectLock: { mode: 'LEGAL' as never, days: 1 } })).toThrow(/GOVERNANCE or COMPLIANCE/);
    expect(() => synthCairnStack({ bundle: false, validate: false, objectLock: { mode: 'GOVERNANCE', days: 0 } })).toThrow(/objectLock days/);
  });

  it('expires noncurrent versions (what a deleted image object leaves) and the delete markers left alone, and aborts stale uploads', () => {
    const [, bucket] = only('AWS::S3::Bucket', 'ImagesImageBucket');
    expect((bucket.LifecycleConfiguration as { Rules: unknown[] }).Rules).toEqual([
      { Id: 'abort-incomplete-multipart-uploads', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 }, Status: 'Enabled' },
      { Id: 'expire-deleted-image-objects', NoncurrentVersionExpiration: { NoncurrentDays: NONCURRENT_VERSION_DAYS }, ExpiredObjectDeleteMarker: true, Status: 'Enabled' },
    ]);
    const longer = synthCairnStack({ bundle: false, validate: false, props: { noncurrentVersionDays: 30 } });
    try {
      longer.template.hasResourceProperties('AWS::S3::Bucket', {
        LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Id: 'expire-deleted-image-objects', NoncurrentVersionExpiration: { NoncurrentDays: 30 } })]) },
      });
    } finally {
      longer.cleanup();
    }
  });

  it('logs every request to it in an access log bucket of its own (SSE-S3, private, TLS only, retained)', () => {
    const [logsId, accessLogs] = only('AWS::S3::Bucket', 'ImagesAccessLogs');
    const [, bucket] = only('AWS::S3::Bucket', 'ImagesImageBucket');
    expect(bucket.LoggingConfiguration).toEqual({ DestinationBucketName: { Ref: logsId }, LogFilePrefix: 'image-bucket/' });
    expect(accessLogs).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LifecycleConfiguration: { Rules: [{ Id: 'expire-access-logs', ExpirationInDays: 365, Status: 'Enabled' }] },
    });
    expect(resources[logsId]!.DeletionPolicy).toBe('Retain');
  });

  it('refuses requests that do not use TLS', () => {
    synth.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Principal: { AWS: '*' }, Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

describe('Lambda functions', () => {
  it('run nodejs22.x on arm64 with the bundled ESM handler', () => {
    const lambdas = ofType('AWS::Lambda::Function');
    // And the catalog-job function (test/cdk/catalog-job-stack.test.ts checks its grants).
    expect(lambdas).toHaveLength(Object.keys(functions).length + 1);
    for (const [, fn] of lambdas) {
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Handler: 'index.handler', TracingConfig: { Mode: 'Active' }, MemorySize: 512 });
    }
  });

  it('have roles of their own with no managed policy, writing only to their own log group', () => {
    for (const name of Object.keys(functions) as FunctionName[]) {
      const roleId = roleIdOf(name);
      expect(resources[roleId]!.Properties!.ManagedPolicyArns, name).toBeUndefined();
      const logGroupId = referencedIds((lambda(name).props.LoggingConfig as { LogGroup: unknown }).LogGroup)[0]!;
      expect(resources[logGroupId]!.Type).toBe('AWS::Logs::LogGroup');
      const logs = roleStatements(resources, roleId).filter((s) => actionsOf(s).some((a) => a.startsWith('logs:')));
      expect(logs.map((s) => [actionsOf(s).sort(), s.Resource]), name).toEqual([[['logs:CreateLogStream', 'logs:PutLogEvents'], { 'Fn::GetAtt': [logGroupId, 'Arn'] }]]);
    }
  });

  it('get every table name, the bucket name and the Powertools service name in their environment', () => {
    const ids = tableIds();
    for (const name of Object.keys(functions) as FunctionName[]) {
      const variables = (lambda(name).props.Environment as { Variables: Record<string, unknown> }).Variables;
      // <prefix>-<first group of the stack's UUID>: the dimension of Cairn's metrics, per stack.
      expect(variables.POWERTOOLS_SERVICE_NAME).toEqual({ 'Fn::Join': ['-', ['cairn', { 'Fn::Select': [0, { 'Fn::Split': ['-', { 'Fn::Select': [2, { 'Fn::Split': ['/', { Ref: 'AWS::StackId' }] }] }] }] }]] });
      expect(referencedIds(variables.IMAGE_BUCKET)[0]).toMatch(/^ImagesImageBucket/);
      for (const table of tableNames) expect(variables[tableEnvVar[table]], `${name} ${tableEnvVar[table]}`).toEqual({ Ref: ids[table] });
    }
  });

  it('have an environment the handlers accept (lambdas/environment.ts)', async (ctx) => {
    const environmentModule = path.join(REPO_ROOT, 'lambdas', 'environment.ts');
    if (!fs.existsSync(environmentModule)) return ctx.skip('lambdas/environment.ts not written yet');
    const { readEnvironment } = (await import('#lambdas/environment.ts')) as { readEnvironment: (env: NodeJS.ProcessEnv) => unknown };
    for (const name of Object.keys(functions) as FunctionName[]) {
      const variables = (lambda(name).props.Environment as { Variables: Record<string, unknown> }).Variables;
      // Tokens become placeholder strings; AWS_REGION is set by the Lambda runtime itself.
      const env = Object.fromEntries(Object.keys(variables).map((key) => [key, `placeholder-${key.toLowerCase()}`]));
      expect(() => readEnvironment({ ...env, AWS_REGION: 'eu-west-1' }), name).not.toThrow();
    }
  });

  it('are granted only the tables they use (least privilege)', () => {
    expect(tableAccess(roleIdOf('jobs'))).toEqual({ write: ['jobs'], read: ['config', 'jobs'] });
    expect(tableAccess(roleIdOf('broker'))).toEqual({ write: ['catalog', 'jobs', 'media'], read: ['catalog', 'config', 'jobs', 'media'] });
    // The catalog records the volumes a tape image wrote in the media manager (Media table).
    // And reads an incremental's base after the commit (withdrawn if the cleanup expired it meanwhile).
    expect(tableAccess(roleIdOf('catalog'))).toEqual({ write: ['catalog', 'jobs', 'media'], read: ['catalog', 'jobs', 'media'] });
    // The sweep ends jobs (and withdraws their failed images) and releases reservations; the janitor the same, for one execution.
    expect(tableAccess(roleIdOf('scheduler'))).toEqual({ write: ['catalog', 'jobs', 'media'], read: ['catalog', 'config', 'jobs', 'media'] });
    // The janitor reads the configuration only to find a stopped job's agent (its snapshots' delete-snapshot).
    expect(tableAccess(roleIdOf('janitor'))).toEqual({ write: ['catalog', 'jobs', 'media'], read: ['catalog', 'config', 'jobs', 'media'] });
    expect(tableAccess(roleIdOf('agentGrants'))).toEqual({ write: [], read: ['config'] });
    // The restore job's Queue, Plan, Reserve and RecordRead: reads the image, writes the job and the media manager's reservations.
    expect(tableAccess(roleIdOf('restore'))).toEqual({ write: ['jobs', 'media'], read: ['catalog', 'config', 'jobs', 'media'] });
  });

  // test/iam/iam-grants.test.ts checks each grant, action by action, against the calls each Lambda makes.
  it('none reads or writes an object in the bucket (the agent does; the catalog works from its result); the scheduler only sweeps abandoned uploads and deletes expired images (markers, never versions)', () => {
    for (const name of Object.keys(functions) as FunctionName[]) {
      const s3Actions = roleStatements(resources, roleIdOf(name))
        .filter((s) => s.Effect === 'Allow')
        .flatMap(actionsOf)
        .filter((a) => a.startsWith('s3:'));
      expect(s3Actions.sort(), name).toEqual(name === 'scheduler' ? ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:ListBucket', 's3:ListBucketMultipartUploads', 's3:ListMultipartUploadParts'] : []);
    }
  });
});

describe('Lambda bundles', () => {
  /** The asset directory of a function, found through the S3 key of its code. */
  function bundleDir(name: FunctionName): string {
    const key = (lambda(name).props.Code as { S3Key: string }).S3Key;
    return path.join(synth.assemblyDir, `asset.${key.replace(/\.zip$/, '')}`);
  }

  it('are single ESM files with the require banner, a source map and every #subpath import resolved', (ctx) => {
    if (synth.bundlingSkipped) return ctx.skip(synth.bundlingSkipped);
    for (const name of Object.keys(functions) as FunctionName[]) {
      const dir = bundleDir(name);
      expect(fs.readdirSync(dir).sort(), name).toEqual(['index.mjs', 'index.mjs.map']);
      const code = fs.readFileSync(path.join(dir, 'index.mjs'), 'utf8');
      expect(code.startsWith(ESM_REQUIRE_BANNER), `${name} banner`).toBe(true);
      expect(code, `${name} has an unresolved subpath import`).not.toMatch(/(from|import\(|require\()\s*["']#/);
      expect(code).toMatch(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/);
    }
  });

  /** Imports a bundle in a fresh Node with the environment its construct sets (placeholder values), minus `without`. */
  function loadBundle(name: FunctionName, without: string[] = []) {
    const entry = path.join(bundleDir(name), 'index.mjs');
    const env: NodeJS.ProcessEnv = { ...process.env, AWS_REGION: 'eu-west-1', NODE_NO_WARNINGS: '1' };
    for (const table of tableNames) env[tableEnvVar[table]] = `${table}-table`;
    env.IMAGE_BUCKET = 'image-bucket';
    env[STATE_MACHINE_ARN_ENV] = 'arn:aws:states:eu-west-1:123456789012:stateMachine:CairnStack-backup-job';
    env[AGENT_GRANTS_ENV.partition] = 'aws';
    env.REPORTS_TOPIC_ARN = 'arn:aws:sns:eu-west-1:123456789012:cairn-reports-abc';
    env[AGENT_GRANTS_ENV.policyArns] = 'arn:aws:iam::123456789012:policy/CairnStack-AgentClientGrants0-ABC,arn:aws:iam::123456789012:policy/CairnStack-AgentClientGrants1-DEF';
    for (const key of without) delete env[key];
    // On failure print only the message: Node would otherwise quote the minified source line (megabytes).
    const script = `try { const m = await import(${JSON.stringify(entry)}); process.stdout.write(typeof m.handler); } catch (e) { process.stderr.write(String(e?.message ?? e)); process.exit(1); }`;
    return spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env,
      encoding: 'utf8',
      timeout: 30_000,
    });
  }

  it('load in Node and export a handler function', (ctx) => {
    if (synth.bundlingSkipped) return ctx.skip(synth.bundlingSkipped);
    for (const name of Object.keys(functions) as FunctionName[]) {
      const result = loadBundle(name);
      expect(result.stderr, name).toBe('');
      expect(result.stdout, name).toBe('function');
    }
  });

  it('the scheduler and the janitor refuse to start without the state machine ARN, naming the variable', (ctx) => {
    if (synth.bundlingSkipped) return ctx.skip(synth.bundlingSkipped);
    for (const name of ['scheduler', 'janitor'] as const) {
      const result = loadBundle(name, [STATE_MACHINE_ARN_ENV]);
      expect(result.status, name).not.toBe(0);
      expect(result.stderr).toMatch(new RegExp(`invalid ${name} environment: STATE_MACHINE_ARN`));
    }
  });
});

describe('backup-job state machine', () => {
  function stateMachineProps() {
    return only('AWS::StepFunctions::StateMachine', 'BackupJob')[1];
  }

  it('is a STANDARD state machine with X-Ray tracing and ALL-level logging without execution data', () => {
    // The backup job's, the restore job's and the verify job's (restore-job and verify-job state machines below),
    // the duplicate job's (test/cdk/duplicate-job-stack.test.ts) and the catalog job's (test/cdk/catalog-job-stack.test.ts).
    synth.template.resourceCountIs('AWS::StepFunctions::StateMachine', 5);
    expect(stateMachineProps()).toMatchObject({
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false, Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: expect.anything() } }] },
    });
  });

  it('substitutes every placeholder of the ASL file, leaving no ${...} behind', () => {
    const props = stateMachineProps();
    const definition = props.DefinitionString as string;
    const substitutions = props.DefinitionSubstitutions as Record<string, unknown>;
    expect(typeof definition).toBe('string');
    expect(Object.keys(substitutions).sort()).toEqual([...DEFINITION_SUBSTITUTIONS].sort());
    const used = new Set([...definition.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1]!));
    for (const placeholder of used) expect(Object.keys(substitutions), `no substitution for \${${placeholder}}`).toContain(placeholder);
    const resolved = definition.replace(/\$\{([^}]*)\}/g, (_, name: string) => `resolved-${name}`);
    expect(resolved).not.toContain('${');
    expect(() => JSON.parse(resolved)).not.toThrow();

    expect(referencedIds(substitutions.JobsFunctionArn)).toEqual([lambda('jobs').logicalId]);
    expect(referencedIds(substitutions.BrokerFunctionArn)).toEqual([lambda('broker').logicalId]);
    expect(referencedIds(substitutions.CatalogFunctionArn)).toEqual([lambda('catalog').logicalId]);
    expect(referencedIds(substitutions.AgentDocumentName)[0]).toMatch(/^AgentDocument/);
    // The stack's partition, not a literal `aws`: the same template deploys to aws-cn and aws-us-gov.
    expect(substitutions.SendCommandTaskResource).toEqual({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':states:::aws-sdk:ssm:sendCommand.waitForTaskToken']] });
  });

  it('names no partition literally anywhere in the template (every ARN takes AWS::Partition)', () => {
    const text = JSON.stringify(synth.template.toJSON());
    expect(text.match(/arn:aws[a-z-]*:/g) ?? []).toEqual([]);
  });

  it('sets TimeoutSeconds on every Task state, nested ones included', () => {
    const definition = JSON.parse((stateMachineProps().DefinitionString as string).replace(/\$\{([^}]*)\}/g, 'x')) as { States: Record<string, unknown> };
    const tasks: string[] = [];
    const walk = (states: Record<string, unknown>) => {
      for (const [name, raw] of Object.entries(states)) {
        const state = raw as Record<string, unknown>;
        if (state.Type === 'Task') {
          tasks.push(name);
          expect(state.TimeoutSeconds, `Task ${name} has no TimeoutSeconds`).toEqual(expect.any(Number));
        }
        for (const branch of asList(state.Branches as { States: Record<string, unknown> }[] | undefined)) walk(branch.States);
        const inner = (state.ItemProcessor ?? state.Iterator) as { States: Record<string, unknown> } | undefined;
        if (inner) walk(inner.States);
      }
    };
    walk(definition.States);
    expect(tasks.length).toBeGreaterThan(0);
  });

  it('may invoke exactly the three functions and send the agent document to managed instances', () => {
    const roleId = referencedIds(stateMachineProps().RoleArn)[0]!;
    const statements = roleStatements(resources, roleId).filter((s) => s.Effect === 'Allow');
    const invoke = statements.filter((s) => actionsOf(s).includes('lambda:InvokeFunction'));
    expect(invoke).toHaveLength(1);
    // The unqualified ARNs the ASL's Task states name: no versions or aliases (`<arn>:*`).
    const byJson = (values: unknown[]) => values.map((v) => JSON.stringify(v)).sort();
    expect(byJson(asList(invoke[0]!.Resource))).toEqual(byJson((['jobs', 'broker', 'catalog'] as const).map((name) => ({ 'Fn::GetAtt': [lambda(name).logicalId, 'Arn'] }))));

    const send = statements.filter((s) => actionsOf(s).includes('ssm:SendCommand'));
    expect(send).toHaveLength(1);
    expect(actionsOf(send[0]!)).toEqual(['ssm:SendCommand']);
    const arns = JSON.stringify(send[0]!.Resource);
    expect(arns).toContain(':managed-instance/*');
    // EC2 instances with the agent's instance profile are targets too (i-...).
    expect(arns).toContain(':ec2:');
    expect(arns).toContain(':instance/*');
    expect(arns).toMatch(/:document\/".*AgentDocument/);
    expect(asList(send[0]!.Resource)).toHaveLength(3);

    const other = statements.flatMap(actionsOf).filter((a) => !/^(lambda:InvokeFunction|ssm:SendCommand|logs:.*|xray:.*)$/.test(a));
    expect(other).toEqual([]);
  });
});

describe('restore-job state machine', () => {
  const restoreMachine = () => only('AWS::StepFunctions::StateMachine', 'RestoreJob');

  it('is restore-job.asl.json, STANDARD, traced and logged like the backup job, every placeholder substituted', () => {
    const props = restoreMachine()[1];
    expect(props).toMatchObject({
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false },
    });
    const definition = props.DefinitionString as string;
    expect(definition).toBe(fs.readFileSync(path.join(REPO_ROOT, 'statemachines', 'restore-job.asl.json'), 'utf8'));
    const substitutions = props.DefinitionSubstitutions as Record<string, unknown>;
    const used = new Set([...definition.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1]!));
    expect([...used].sort()).toEqual([...RESTORE_DEFINITION_SUBSTITUTIONS].sort());
    expect(Object.keys(substitutions).sort()).toEqual([...RESTORE_DEFINITION_SUBSTITUTIONS].sort());
    const resolved = definition.replace(/\$\{([^}]*)\}/g, (_, name: string) => `resolved-${name}`);
    expect(resolved).not.toContain('${');
    expect(() => JSON.parse(resolved)).not.toThrow();
    expect(referencedIds(substitutions.RestoreFunctionArn)).toEqual([lambda('restore').logicalId]);
    expect(referencedIds(substitutions.JobsFunctionArn)).toEqual([lambda('jobs').logicalId]);
    expect(referencedIds(substitutions.BrokerFunctionArn)).toEqual([lambda('broker').logicalId]);
    // Mount, Read and Unmount: the same agent document as the backup job's, by the stack's partition.
    expect(referencedIds(substitutions.AgentDocumentName)[0]).toMatch(/^AgentDocument/);
    expect(substitutions.SendCommandTaskResource).toEqual({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':states:::aws-sdk:ssm:sendCommand.waitForTaskToken']] });
  });

  it('may invoke exactly the restore, broker and jobs functions and send the agent document, nothing else', () => {
    const roleId = referencedIds(restoreMachine()[1].RoleArn)[0]!;
    expect(roleId).not.toBe(referencedIds(only('AWS::StepFunctions::StateMachine', 'BackupJob')[1].RoleArn)[0]);
    const statements = roleStatements(resources, roleId).filter((s) => s.Effect === 'Allow');
    const invoke = statements.filter((s) => actionsOf(s).includes('lambda:InvokeFunction'));
    expect(invoke).toHaveLength(1);
    const byJson = (values: unknown[]) => values.map((v) => JSON.stringify(v)).sort();
    expect(byJson(asList(invoke[0]!.Resource))).toEqual(byJson((['restore', 'broker', 'jobs'] as const).map((name) => ({ 'Fn::GetAtt': [lambda(name).logicalId, 'Arn'] }))));
    const send = statements.filter((s) => actionsOf(s).includes('ssm:SendCommand'));
    expect(send).toHaveLength(1);
    expect(JSON.stringify(send[0]!.Resource)).toMatch(/:document\/".*AgentDocument/);
    const other = statements.flatMap(actionsOf).filter((a) => !/^(lambda:InvokeFunction|ssm:SendCommand|logs:.*|xray:.*)$/.test(a));
    expect(other).toEqual([]);
  });

  it('is a stack output the CLI reads (aws/deployment-outputs.ts)', () => {
    const outputs = synth.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(referencedIds(outputs[RESTORE_STATE_MACHINE_OUTPUT_KEY]!.Value)).toEqual([restoreMachine()[0]]);
  });
});

describe('verify-job state machine', () => {
  const verifyMachine = () => only('AWS::StepFunctions::StateMachine', 'VerifyJob');

  it('is verify-job.asl.json, STANDARD, traced and logged like the restore job, every placeholder substituted', () => {
    const props = verifyMachine()[1];
    expect(props).toMatchObject({ StateMachineType: 'STANDARD', TracingConfiguration: { Enabled: true }, LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false } });
    const definition = props.DefinitionString as string;
    expect(definition).toBe(fs.readFileSync(path.join(REPO_ROOT, 'statemachines', 'verify-job.asl.json'), 'utf8'));
    const substitutions = props.DefinitionSubstitutions as Record<string, unknown>;
    const used = new Set([...definition.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1]!));
    expect([...used].sort()).toEqual([...VERIFY_DEFINITION_SUBSTITUTIONS].sort());
    expect(Object.keys(substitutions).sort()).toEqual([...VERIFY_DEFINITION_SUBSTITUTIONS].sort());
    expect(referencedIds(substitutions.VerifyFunctionArn)).toEqual([lambda('verify').logicalId]);
    expect(referencedIds(substitutions.JobsFunctionArn)).toEqual([lambda('jobs').logicalId]);
    expect(referencedIds(substitutions.BrokerFunctionArn)).toEqual([lambda('broker').logicalId]);
    // Verify, Mount, Read and Unmount: the agent document the backup and restore jobs send.
    expect(referencedIds(substitutions.AgentDocumentName)[0]).toMatch(/^AgentDocument/);
  });

  it('may invoke exactly the verify, broker and jobs functions and send the agent document, nothing else', () => {
    const roleId = referencedIds(verifyMachine()[1].RoleArn)[0]!;
    expect(roleId).not.toBe(referencedIds(only('AWS::StepFunctions::StateMachine', 'RestoreJob')[1].RoleArn)[0]);
    const statements = roleStatements(resources, roleId).filter((s) => s.Effect === 'Allow');
    const invoke = statements.filter((s) => actionsOf(s).includes('lambda:InvokeFunction'));
    expect(invoke).toHaveLength(1);
    const byJson = (values: unknown[]) => values.map((v) => JSON.stringify(v)).sort();
    expect(byJson(asList(invoke[0]!.Resource))).toEqual(byJson((['verify', 'broker', 'jobs'] as const).map((name) => ({ 'Fn::GetAtt': [lambda(name).logicalId, 'Arn'] }))));
    const send = statements.filter((s) => actionsOf(s).includes('ssm:SendCommand'));
    expect(send).toHaveLength(1);
    expect(JSON.stringify(send[0]!.Resource)).toMatch(/:document\/".*AgentDocument/);
    const other = statements.flatMap(actionsOf).filter((a) => !/^(lambda:InvokeFunction|ssm:SendCommand|logs:.*|xray:.*)$/.test(a));
    expect(other).toEqual([]);
  });

  it('has a function that reads the image and writes the job and the media manager\'s reservations, nothing in S3', () => {
    expect(tableAccess(roleIdOf('verify'))).toEqual({ write: ['jobs', 'media'], read: ['catalog', 'config', 'jobs', 'media'] });
    const s3 = roleStatements(resources, roleIdOf('verify')).flatMap(actionsOf).filter((a) => a.startsWith('s3:'));
    expect(s3).toEqual([]);
  });

  it('is the stack output `cairn --aws verify` reads (aws/deployment-outputs.ts)', () => {
    const outputs = synth.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(referencedIds(outputs[VERIFY_STATE_MACHINE_OUTPUT_KEY]!.Value)).toEqual([verifyMachine()[0]]);
  });
});

describe('scheduler tick', () => {
  const stateMachineId = () => only('AWS::StepFunctions::StateMachine', 'BackupJob')[0];

  it('runs every minute by default, on time (no flexible window), invoking the scheduler function', () => {
    const [, schedule] = only('AWS::Scheduler::Schedule');
    expect(schedule).toMatchObject({ ScheduleExpression: 'rate(1 minute)', FlexibleTimeWindow: { Mode: 'OFF' }, State: 'ENABLED' });
    const target = schedule.Target as Record<string, unknown>;
    expect(target.Arn).toEqual({ 'Fn::GetAtt': [lambda('scheduler').logicalId, 'Arn'] });
  });

  it('retries a failed delivery a few times, never past the next tick, and Lambda does not retry a failed tick', () => {
    const [, schedule] = only('AWS::Scheduler::Schedule');
    expect((schedule.Target as Record<string, unknown>).RetryPolicy).toEqual({ MaximumRetryAttempts: SCHEDULER_RETRY_ATTEMPTS, MaximumEventAgeInSeconds: 60 });
    expect(SCHEDULER_RETRY_ATTEMPTS).toBeLessThanOrEqual(3);
    const [, asyncConfig] = only('AWS::Lambda::EventInvokeConfig', 'Scheduler');
    expect(asyncConfig).toMatchObject({ FunctionName: { Ref: lambda('scheduler').logicalId }, MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 });
  });

  it('has a role of its own that schedules of this account in its group may assume, and that may only invoke the scheduler function', () => {
    const [, schedule] = only('AWS::Scheduler::Schedule');
    const [groupId, group] = only('AWS::Scheduler::ScheduleGroup');
    expect(schedule.GroupName).toBe(group.Name);
    const roleId = referencedIds((schedule.Target as Record<string, unknown>).RoleArn)[0]!;
    expect(resources[roleId]!.Properties!.AssumeRolePolicyDocument).toMatchObject({
      Statement: [
        {
          Effect: 'Allow',
          Action: 'sts:AssumeRole',
          Principal: { Service: 'scheduler.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' }, 'aws:SourceArn': { 'Fn::GetAtt': [groupId, 'Arn'] } } },
        },
      ],
    });
    const statements = roleStatements(resources, roleId);
    expect(statements.map((s) => [s.Effect, actionsOf(s)])).toEqual([['Allow', ['lambda:InvokeFunction']]]);
    // The unqualified function the schedule targets: not its versions or aliases (`<arn>:*`).
    expect(statements[0]!.Resource).toEqual({ 'Fn::GetAtt': [lambda('scheduler').logicalId, 'Arn'] });
    expect(asList(resources[roleId]!.Properties!.ManagedPolicyArns as unknown[] | undefined)).toEqual([]);
  });

  it('lets the scheduler function start executions of the backup-job and verify-job state machines and describe them and the restore-job state machine\'s (the sweep), nothing else in Step Functions', () => {
    const statements = roleStatements(resources, roleIdOf('scheduler')).filter((s) => s.Effect === 'Allow');
    const states = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('states:')));
    expect(states.flatMap(actionsOf).sort()).toEqual(['states:DescribeExecution', 'states:StartExecution']);
    const verifyMachineId = only('AWS::StepFunctions::StateMachine', 'VerifyJob')[0];
    const start = states.find((s) => actionsOf(s).includes('states:StartExecution'))!;
    const duplicateMachineId = only('AWS::StepFunctions::StateMachine', 'DuplicateJob')[0];
    const catalogMachineId = only('AWS::StepFunctions::StateMachine', 'CatalogJob')[0];
    expect(asList(start.Resource).map((r) => JSON.stringify(r)).sort()).toEqual([{ Ref: stateMachineId() }, { Ref: verifyMachineId }, { Ref: duplicateMachineId }, { Ref: catalogMachineId }].map((r) => JSON.stringify(r)).sort());
    // arn:<partition>:states:<region>:<account>:execution:<the state machine's name>:*, for each of the five state machines
    const executions = states.find((s) => actionsOf(s).includes('states:DescribeExecution'))!.Resource as unknown[];
    expect(executions).toHaveLength(5);
    // (The catalog job's statement merges with the others': found by its machine, wherever it lands.)
    for (const machine of [stateMachineId(), only('AWS::StepFunctions::StateMachine', 'RestoreJob')[0], verifyMachineId, duplicateMachineId, catalogMachineId]) {
      const arn = executions.map((r) => JSON.stringify(r)).find((r) => r.includes(`{"Ref":"${machine}"}`)) ?? '';
      expect(arn).toContain(':execution:');
      expect(arn).toContain(`{"Ref":"${machine}"}`);
      expect(arn).toMatch(/":\*"\]\]\}$/);
    }
    // ssm: the idle drive unload (its own test below).
    const other = statements.flatMap(actionsOf).filter((a) => !/^(states:StartExecution|states:DescribeExecution|dynamodb:.*|xray:.*|logs:CreateLogStream|logs:PutLogEvents|events:PutEvents|s3:ListBucketMultipartUploads|s3:ListMultipartUploadParts|s3:AbortMultipartUpload|s3:ListBucket|s3:DeleteObject|ssm:SendCommand|ssm:GetCommandInvocation)$/.test(a));
    expect(other).toEqual([]);
    for (const name of ['jobs', 'broker', 'catalog', 'janitor'] as const) {
      expect(roleStatements(resources, roleIdOf(name)).flatMap(actionsOf).filter((a) => a.startsWith('states:')), name).toEqual([]);
    }
  });

  it('lets the scheduler (the idle drive unload) and the janitor (a stopped job\'s delete-snapshot) send the operator\'s document only, to managed and EC2 instances; only the scheduler reads what it sent; no other function sends commands', () => {
    const [documentId] = only('AWS::SSM::Document', 'AgentCommandDocument');
    for (const name of ['scheduler', 'janitor'] as const) {
      const statements = roleStatements(resources, roleIdOf(name)).filter((s) => s.Effect === 'Allow');
      const send = statements.filter((s) => actionsOf(s).includes('ssm:SendCommand'));
      expect(send.map(actionsOf), name).toEqual([['ssm:SendCommand']]);
      const targets = (send[0]!.Resource as unknown[]).map((r) => JSON.stringify(r));
      expect(targets).toHaveLength(3);
      expect(targets.filter((t) => t.includes(`:document/",{"Ref":"${documentId}"}`))).toHaveLength(1);
      expect(targets.filter((t) => t.includes(':ssm:') && t.includes(':managed-instance/*'))).toHaveLength(1);
      expect(targets.filter((t) => t.includes(':ec2:') && t.includes(':instance/*'))).toHaveLength(1);
      expect(statements.filter((s) => actionsOf(s).includes('ssm:GetCommandInvocation')).map((s) => s.Resource), name).toEqual(name === 'scheduler' ? ['*'] : []);
      const variables = (lambda(name).props.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(variables[AGENT_COMMAND_DOCUMENT_ENV], name).toEqual({ Ref: documentId });
    }
    for (const name of ['jobs', 'broker', 'catalog', 'restore', 'agentGrants'] as const) {
      expect(roleStatements(resources, roleIdOf(name)).flatMap(actionsOf).filter((a) => a.startsWith('ssm:')), name).toEqual([]);
    }
  });

  it('gives the scheduler and janitor functions the state machine ARN, and no other function', () => {
    const variables = (name: FunctionName) => (lambda(name).props.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(variables('scheduler')[STATE_MACHINE_ARN_ENV]).toEqual({ Ref: stateMachineId() });
    expect(variables('janitor')[STATE_MACHINE_ARN_ENV]).toEqual({ Ref: stateMachineId() });
    // Restore jobs' executions: the sweep describes them, the janitor tells their events from the backups'.
    const restoreMachineId = only('AWS::StepFunctions::StateMachine', 'RestoreJob')[0];
    expect(variables('scheduler')[RESTORE_STATE_MACHINE_ARN_ENV]).toEqual({ Ref: restoreMachineId });
    expect(variables('janitor')[RESTORE_STATE_MACHINE_ARN_ENV]).toEqual({ Ref: restoreMachineId });
    // Verify jobs' executions: the tick starts the scheduled ones, the sweep describes them, the janitor tells their events apart.
    const verifyMachineId = only('AWS::StepFunctions::StateMachine', 'VerifyJob')[0];
    expect(variables('scheduler')[VERIFY_STATE_MACHINE_ARN_ENV]).toEqual({ Ref: verifyMachineId });
    expect(variables('janitor')[VERIFY_STATE_MACHINE_ARN_ENV]).toEqual({ Ref: verifyMachineId });
    for (const name of ['jobs', 'broker', 'catalog'] as const) expect(variables(name)[STATE_MACHINE_ARN_ENV], name).toBeUndefined();
  });

  it('ticks at the rate the stack is given (context schedulerRate)', () => {
    const slow = synthCairnStack({ bundle: false, validate: false, schedulerRate: Duration.minutes(5) });
    try {
      slow.template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(5 minutes)', Target: Match.objectLike({ RetryPolicy: { MaximumRetryAttempts: SCHEDULER_RETRY_ATTEMPTS, MaximumEventAgeInSeconds: 300 } }) });
      slow.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumEventAgeInSeconds: 300 });
    } finally {
      slow.cleanup();
    }
  });
});

describe('execution janitor', () => {
  const stateMachineId = () => only('AWS::StepFunctions::StateMachine', 'BackupJob')[0];

  it('runs on every execution of the backup-job, restore-job and verify-job state machines that ends ABORTED, TIMED_OUT or FAILED, and on nothing else', () => {
    const [, rule] = only('AWS::Events::Rule', 'Janitor');
    expect(rule.State).toBe('ENABLED');
    expect(rule.EventPattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: { stateMachineArn: [{ Ref: stateMachineId() }, { Ref: only('AWS::StepFunctions::StateMachine', 'RestoreJob')[0] }, { Ref: only('AWS::StepFunctions::StateMachine', 'VerifyJob')[0] }, { Ref: only('AWS::StepFunctions::StateMachine', 'DuplicateJob')[0] }, { Ref: only('AWS::StepFunctions::StateMachine', 'CatalogJob')[0] }], status: ['ABORTED', 'TIMED_OUT', 'FAILED'] },
    });
    const targets = rule.Targets as { Arn: unknown; RetryPolicy?: unknown }[];
    expect(targets).toHaveLength(1);
    expect(targets[0]!.Arn).toEqual({ 'Fn::GetAtt': [lambda('janitor').logicalId, 'Arn'] });
    expect(targets[0]!.RetryPolicy).toEqual({ MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86_400 });
  });

  it('may be invoked by that rule only', () => {
    const [ruleId] = only('AWS::Events::Rule', 'Janitor');
    const permissions = ofType('AWS::Lambda::Permission').filter(([, p]) => JSON.stringify(p.Properties?.FunctionName).includes(lambda('janitor').logicalId));
    expect(permissions.map(([, p]) => p.Properties)).toEqual([
      { Action: 'lambda:InvokeFunction', FunctionName: { 'Fn::GetAtt': [lambda('janitor').logicalId, 'Arn'] }, Principal: 'events.amazonaws.com', SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] } },
    ]);
    const asyncConfig = ofType('AWS::Lambda::EventInvokeConfig').find(([, c]) => JSON.stringify(c.Properties?.FunctionName).includes(lambda('janitor').logicalId));
    expect(asyncConfig?.[1].Properties).toMatchObject({ MaximumRetryAttempts: JANITOR_RETRY_ATTEMPTS });
  });

  it('is given no Step Functions or S3 access, and SSM only to send the operator\'s document: the event carries the status, the job what it holds', () => {
    const statements = roleStatements(resources, roleIdOf('janitor')).filter((s) => s.Effect === 'Allow');
    const actions = statements.flatMap(actionsOf);
    // Besides its records: its own log group and traces, and publishing the job it ends (a job state change).
    // Query: the reservations and the drives of the media manager (a dead tape job's drive is recorded as possibly loaded).
    // ssm:SendCommand: a stopped backup job's delete-snapshot, to its agent.
    expect(actions.filter((a) => !/^(dynamodb:(GetItem|PutItem|UpdateItem|DeleteItem|Query)|xray:.*|logs:(CreateLogStream|PutLogEvents)|events:PutEvents|ssm:SendCommand)$/.test(a))).toEqual([]);
  });

  it('deploys the Catch paths that end the job when Release or EndJob keep failing', () => {
    const definition = JSON.parse((only('AWS::StepFunctions::StateMachine', 'BackupJob')[1].DefinitionString as string).replace(/\$\{([^}]*)\}/g, 'x')) as { States: Record<string, { Catch?: { ErrorEquals: string[]; Next: string }[]; Error?: string }> };
    expect(definition.States.Release?.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.releaseFailure', Next: 'EndJob' }]);
    expect(definition.States.EndJob?.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.endFailure', Next: 'NotEnded' }]);
    expect(definition.States.JobNotEnded?.Error).toBe('JobNotEnded');
    expect(definition.States.NotReleased?.Error).toBe('ReservationNotReleased');
  });
});

describe('edge agent access', () => {
  it('defines the agent Command document (schema 2.2, download then runShellScript, taskToken and command), named <prefix>-RunBackupTask-<stack id>', () => {
    synth.template.hasResourceProperties('AWS::SSM::Document', {
      Name: { 'Fn::Join': ['-', [`cairn-${AGENT_DOCUMENT_BASE_NAME}`, Match.anyValue()]] },
      DocumentType: 'Command',
      Content: {
        schemaVersion: '2.2',
        parameters: {
          taskToken: { type: 'String', interpolationType: 'ENV_VAR' },
          command: { type: 'String', interpolationType: 'ENV_VAR' },
        },
        mainSteps: [Match.objectLike({ action: 'aws:downloadContent' }), Match.objectLike({ action: 'aws:runShellScript' })],
      },
    });
  });

  it('defines the operator\'s document (<prefix>-RunAgentCommand-<stack id>): the same checked bundle, a command and no task token, run by run-command', () => {
    const [, document] = only('AWS::SSM::Document', 'AgentCommandDocument');
    const content = document.Content as { parameters: Record<string, unknown>; mainSteps: { name: string; inputs: { runCommand?: string[] } }[] };
    expect(JSON.stringify(document.Name)).toContain(`cairn-${AGENT_COMMAND_DOCUMENT_BASE_NAME}`);
    expect(Object.keys(content.parameters)).toEqual(['command']);
    expect(content.mainSteps.map((step) => step.name)).toEqual(['downloadAgent', AGENT_COMMAND_STEP]);
    const script = content.mainSteps[1]!.inputs.runCommand!;
    // The same state directory as run-task's: the janitor's delete-snapshot finds the images the workflow's commands recorded.
    expect(script.at(-1)).toBe('exec node "$agent" run-command --command "$SSM_command" --state-dir "${CAIRN_AGENT_STATE_DIR:-/var/lib/cairn-agent}"');
    expect(script.join('\n')).not.toContain('taskToken');
    const [, backupDocument] = only('AWS::SSM::Document', 'AgentDocument');
    // The same bundle, checked the same way, as the workflow's document.
    const sha = (doc: Record<string, unknown>) => /sha256 \$1, not the ([0-9a-f]{64})/.exec(JSON.stringify(doc.Content))?.[1];
    expect(sha(document)).toBeDefined();
    expect(sha(document)).toBe(sha(backupDocument));
  });

  it('has the document fetch the published agent bundle and check the sha256 of the file built at synth', () => {
    const [, document] = only('AWS::SSM::Document', 'AgentDocument');
    const content = JSON.stringify(document.Content);
    const assets = JSON.parse(fs.readFileSync(path.join(synth.assemblyDir, 'CairnStack.assets.json'), 'utf8')) as { files: Record<string, { source: { path: string }; destinations: Record<string, { objectKey: string }> }> };
    const bundle = Object.values(assets.files).find((file) => file.source.path.endsWith('.mjs'));
    expect(bundle, 'the agent bundle is a file asset').toBeDefined();
    const sha256 = createHash('sha256').update(fs.readFileSync(path.join(synth.assemblyDir, bundle!.source.path))).digest('hex');
    const objectKey = Object.values(bundle!.destinations)[0]!.objectKey;
    expect(content).toContain(sha256);
    expect(content).toContain(objectKey);
    // The region and the Jobs table come from the stack, not from the host's environment.
    expect(content).toContain('--region');
    expect(content).toContain(tableIds().jobs);
  });

  it('gives the agent role exactly its task callbacks, its job record and the image key; image objects only through its grant policies', () => {
    const [roleId, role] = only('AWS::IAM::Role', 'AgentRole');
    expect(role.AssumeRolePolicyDocument).toMatchObject({
      Statement: [
        {
          Effect: 'Allow',
          Action: 'sts:AssumeRole',
          Principal: { Service: 'ssm.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } }, ArnLike: { 'aws:SourceArn': expect.anything() } },
        },
        // EC2 instances run the agent through the instance profile.
        { Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { Service: 'ec2.amazonaws.com' } },
      ],
    });
    expect(referencedIds(only('AWS::IAM::InstanceProfile', 'Agent')[1].Roles)).toEqual([roleId]);
    expect(JSON.stringify(role.ManagedPolicyArns)).toContain(':iam::aws:policy/AmazonSSMManagedInstanceCore');

    const statements = roleStatements(resources, roleId).filter((s) => s.Effect === 'Allow');
    const byAction = (action: string) => statements.find((s) => actionsOf(s).includes(action));
    expect(byAction('states:SendTaskSuccess')?.Resource).toBe('*');
    expect(actionsOf(byAction('states:SendTaskSuccess')!).sort()).toEqual(['states:SendTaskFailure', 'states:SendTaskHeartbeat', 'states:SendTaskSuccess']);
    expect(actionsOf(byAction('dynamodb:UpdateItem')!)).toEqual(['dynamodb:UpdateItem']);
    expect(referencedIds(byAction('dynamodb:UpdateItem')!.Resource)).toEqual([tableIds().jobs]);
    expect(byAction('dynamodb:UpdateItem')!.Condition).toEqual({
      'ForAllValues:StringEquals': { 'dynamodb:Attributes': ['pk', 'sk', 'progress', 'updatedAt', 'rev', 'state'] },
      StringEqualsIfExists: { 'dynamodb:ReturnValues': ['NONE', 'UPDATED_NEW'] },
    });
    // No image-object grant on the role itself: per instance, in the grant policies (below); the one S3 read is the agent bundle.
    expect(statements.filter((s) => !JSON.stringify(s.Resource).includes('-assets-')).flatMap(actionsOf).filter((a) => a.startsWith('s3:'))).toEqual([]);
    expect(actionsOf(byAction('kms:GenerateDataKey')!).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    // Reading the agent bundle: GetObject on its one object in the CDK assets bucket (the bootstrap's, shared).
    const assetRead = statements.filter((s) => JSON.stringify(s.Resource).includes('-assets-'));
    expect(assetRead.flatMap(actionsOf)).toEqual(['s3:GetObject']);
    expect(JSON.stringify(assetRead[0]!.Resource)).toMatch(/\/[0-9a-f]{64}\.mjs"/);
    expect(statements.flatMap(actionsOf)).toHaveLength(3 + 1 + 2 + 1);
  });
});

describe('agent grants (per-instance image prefixes)', () => {
  const agentRoleId = () => only('AWS::IAM::Role', 'AgentRole')[0];
  const grantPolicies = () => ofType('AWS::IAM::ManagedPolicy').filter(([id]) => id.startsWith('AgentClientGrants'));

  it('no policy of the agent role grants image objects outright: every S3 grant is written later, per instance', () => {
    const attached = ofType('AWS::IAM::ManagedPolicy').filter(([, r]) => JSON.stringify(r.Properties?.Roles) === JSON.stringify([{ Ref: agentRoleId() }]));
    const statements = [...roleStatements(resources, agentRoleId()), ...attached.flatMap(([, r]) => asList((r.Properties!.PolicyDocument as { Statement: Statement[] }).Statement))];
    // The agent bundle's one object in the CDK assets bucket is the only S3 object the role itself may read.
    expect(statements.filter((s) => s.Effect === 'Allow' && actionsOf(s).some((a) => a.startsWith('s3:')) && !JSON.stringify(s.Resource).includes('-assets-'))).toEqual([]);
    expect(JSON.stringify(statements)).not.toContain('images/*');
  });

  it('attaches four customer managed policies to the agent role, each starting as a Deny that grants nothing', () => {
    expect(grantPolicies()).toHaveLength(AGENT_GRANT_POLICY_COUNT);
    for (const [id, policy] of grantPolicies()) {
      expect(policy.Properties!.Roles, id).toEqual([{ Ref: agentRoleId() }]);
      expect(policy.Properties!.ManagedPolicyName, 'no fixed name').toBeUndefined();
      const statements = asList((policy.Properties!.PolicyDocument as { Statement: Statement[] }).Statement);
      expect(statements.map((s) => s.Effect)).toEqual(['Deny']);
    }
  });

  it('lets its function change only the versions of those policies, and read the config table', () => {
    const roleId = roleIdOf('agentGrants');
    const statements = roleStatements(resources, roleId).filter((s) => s.Effect === 'Allow');
    const iamStatements = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('iam:')));
    expect(iamStatements).toHaveLength(1);
    expect(actionsOf(iamStatements[0]!).sort()).toEqual(['iam:CreatePolicyVersion', 'iam:DeletePolicyVersion', 'iam:GetPolicyVersion', 'iam:ListPolicyVersions']);
    expect(asList(iamStatements[0]!.Resource)).toEqual(grantPolicies().map(([id]) => ({ Ref: id })));
    expect(iamStatements[0]!.Condition).toBeUndefined();
    // Stream reads (Lambda polls with the function's role), X-Ray, and the one Query of policies.
    expect(statements.flatMap(actionsOf).sort()).toEqual(
      ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:ListStreams', 'dynamodb:Query', ...AGENT_GRANTS_IAM_ACTIONS, 'logs:CreateLogStream', 'logs:PutLogEvents', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments'].sort(),
    );
    const variables = (lambda('agentGrants').props.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(variables[AGENT_GRANTS_ENV.partition]).toEqual({ Ref: 'AWS::Partition' });
    expect(referencedIds(variables[AGENT_GRANTS_ENV.policyArns])).toEqual(grantPolicies().map(([id]) => id));
  });

  it('runs on changes to the config table’s policy and client items (a KEYS_ONLY stream on that table only)', () => {
    const ids = tableIds();
    for (const [id, table] of ofType('AWS::DynamoDB::Table')) {
      expect(table.Properties!.StreamSpecification, id).toEqual(id === ids.config ? { StreamViewType: 'KEYS_ONLY' } : undefined);
    }
    const [, mapping] = only('AWS::Lambda::EventSourceMapping');
    expect(mapping).toMatchObject({ StartingPosition: 'LATEST', MaximumRetryAttempts: 2, FunctionName: { Ref: lambda('agentGrants').logicalId } });
    expect(referencedIds(mapping.EventSourceArn)).toEqual([ids.config]);
    const patterns = (mapping.FilterCriteria as { Filters: { Pattern: string }[] }).Filters.map((f) => JSON.parse(f.Pattern) as unknown);
    expect(patterns).toEqual([{ dynamodb: { Keys: { pk: { S: ['POLICY', 'CLIENT'] } } } }]);
    expect(Object.keys(synth.template.toJSON().Outputs as Record<string, unknown>)).toContain('AgentGrantsFunctionName');
  });
});

describe('deletion role', () => {
  const deletionRole = () => only('AWS::IAM::Role', 'DeletionRole');

  it('is the only principal allowed to delete object versions; the agent and the Lambdas may not', () => {
    const [roleId] = deletionRole();
    const holders = allStatements(resources)
      .filter(({ kind, statement }) => kind === 'identity' && statement.Effect === 'Allow' && asList(statement.Action).some((a) => /^s3:(DeleteObjectVersion|\*|DeleteObject\*)$/.test(a)))
      .map(({ logicalId }) => logicalId);
    expect(holders.length).toBe(1);
    const [policyId] = holders;
    expect(asList(resources[policyId!]!.Properties!.Roles as unknown[])).toEqual([{ Ref: roleId }]);
    const [agentRoleId] = only('AWS::IAM::Role', 'AgentRole');
    expect(roleStatements(resources, agentRoleId).flatMap(actionsOf).filter((a) => a.includes('Version'))).toEqual([]);
  });

  it('may delete image objects and their versions and list versions under images/, and nothing else', () => {
    const [roleId] = deletionRole();
    const [bucketId] = only('AWS::S3::Bucket', 'ImagesImageBucket');
    const statements = roleStatements(resources, roleId);
    expect(statements.map((s) => [s.Effect, actionsOf(s).sort()])).toEqual([
      ['Allow', ['s3:DeleteObject', 's3:DeleteObjectVersion']],
      ['Allow', ['s3:ListBucketVersions']],
    ]);
    expect(statements[0]!.Resource).toEqual({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/*images/*']] });
    expect(statements[1]!.Resource).toEqual({ 'Fn::GetAtt': [bucketId, 'Arn'] });
    expect(statements[1]!.Condition).toEqual({ StringLike: { 's3:prefix': ['*images/*'] } });
    expect(JSON.stringify(statements)).not.toContain('BypassGovernanceRetention');
  });

  it('is assumable from this account only (an administrator, or a role granted sts:AssumeRole on it), and no role of the stack is', () => {
    const [roleId, role] = deletionRole();
    expect(role.AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':root']] } } }],
    });
    expect(role.ManagedPolicyArns).toBeUndefined();
    const assumers = allStatements(resources).filter(({ kind, statement }) => kind === 'identity' && asList(statement.Action).includes('sts:AssumeRole'));
    expect(assumers.filter(({ statement }) => referencedIds(statement.Resource).includes(roleId))).toEqual([]);
  });

  it('is enforced by the bucket policy: every other principal is denied s3:DeleteObjectVersion', () => {
    const [roleId] = deletionRole();
    const [bucketId] = only('AWS::S3::Bucket', 'ImagesImageBucket');
    synth.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 's3:DeleteObjectVersion',
            Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/*']] },
            Condition: { ArnNotEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': [roleId, 'Arn'] } } },
          },
        ]),
      },
    });
  });
});

describe('reports topic', () => {
  it('is KMS encrypted and refuses publishing without TLS', () => {
    synth.template.hasResourceProperties('AWS::SNS::Topic', { TopicName: { 'Fn::Join': ['-', ['cairn-reports', Match.anyValue()]] }, KmsMasterKeyId: Match.anyValue() });
    synth.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });
});

describe('IAM policies', () => {
  const dataServices = /^(dynamodb|s3|kms):/;

  it('never allow a whole data service (no "*" or "dynamodb:*", "s3:*", "kms:*" actions)', () => {
    const offending = allStatements(resources)
      .filter(({ statement }) => statement.Effect === 'Allow')
      // The one exemption: the default key policy statement that hands the key to
      // this account's IAM (root principal, kms:*). Without it no IAM policy could
      // grant any use of the key; the identity policies stay least privilege.
      .filter(({ resourceType, statement }) => !(resourceType === 'AWS::KMS::Key' && JSON.stringify(statement.Principal).endsWith(':root"]]}}')))
      .flatMap(({ logicalId, statement }) => asList(statement.Action).map((action) => ({ logicalId, action })))
      .filter(({ action }) => action === '*' || (dataServices.test(action) && action.endsWith(':*')));
    expect(offending).toEqual([]);
    for (const { statement } of allStatements(resources)) expect(statement.NotAction, 'NotAction widens a grant').toBeUndefined();
  });

  it('keeps the only kms:* to the key policies, granted to the account root', () => {
    const kmsStar = allStatements(resources).filter(({ statement }) => statement.Effect === 'Allow' && asList(statement.Action).includes('kms:*'));
    expect(kmsStar.map(({ resourceType }) => resourceType)).toEqual(['AWS::KMS::Key', 'AWS::KMS::Key']);
    for (const { statement } of kmsStar) expect(JSON.stringify(statement.Principal)).toMatch(/":iam::",\{"Ref":"AWS::AccountId"\},":root"/);
  });

  it('never allows a data-service action on Resource "*"', () => {
    const offending = allStatements(resources)
      .filter(({ kind, statement }) => kind === 'identity' && statement.Effect === 'Allow' && asList(statement.Resource).includes('*'))
      .flatMap(({ logicalId, statement }) => asList(statement.Action).map((action) => ({ logicalId, action })))
      // The one exemption: the agent-grants function's stream trigger. Lambda checks
      // ListStreams when it creates the event source mapping, and ListStreams has no
      // resource type (Service Authorization Reference); it lists stream ARNs, no data.
      .filter(({ logicalId, action }) => !(action === 'dynamodb:ListStreams' && logicalId.startsWith('AgentGrantsFunction')))
      .filter(({ action }) => dataServices.test(action));
    expect(offending).toEqual([]);
  });
});

describe('stack outputs', () => {
  it('publishes every output the CLI finds a deployment by (aws/deployment-outputs.ts), under the exact key it reads', () => {
    const outputs = synth.template.toJSON().Outputs as Record<string, unknown>;
    for (const key of Object.values(DEPLOYMENT_OUTPUT_KEYS)) expect(Object.keys(outputs), key).toContain(key);
  });

  it('publishes the table names, bucket, state machine, document and agent role', () => {
    const outputs = Object.keys(synth.template.toJSON().Outputs as Record<string, unknown>);
    expect(outputs).toEqual(
      expect.arrayContaining([
        'ConfigTableName',
        'JobsTableName',
        'CatalogTableName',
        'MediaTableName',
        'ImageBucketName',
        'BackupJobStateMachineArn',
        'SchedulerFunctionName',
        'AgentDocumentName',
        'AgentCommandDocumentName',
        'AgentRoleArn',
        'AgentRoleName',
        'AgentInstanceProfileName',
        'ReportsTopicArn',
        'DeletionRoleArn',
        'AccessLogBucketName',
      ]),
    );
  });
});

describe('cfn-lint', () => {
  const available = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' }).status === 0;

  it('finds nothing in the synthesized template', (ctx) => {
    if (!available) return ctx.skip('cfn-lint is not on PATH');
    // W3005 (a DependsOn already implied by a GetAtt) is how the CDK orders a
    // function or state machine after its role's default policy; it is not ours.
    let output = '[]';
    try {
      output = execFileSync('cfn-lint', ['--format', 'json', '--ignore-checks', 'W3005', '--', synth.templatePath], { encoding: 'utf8' });
    } catch (error) {
      output = (error as { stdout?: string }).stdout ?? String(error);
    }
    const findings = (JSON.parse(output) as { Rule: { Id: string }; Message: string }[]).map((f) => `${f.Rule.Id} ${f.Message}`);
    expect(findings).toEqual([]);
  });
});
