import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallLog } from '#aws/call-recorder.ts';
import { createAwsClients, type AwsClients } from '#aws/clients.ts';
import { createTables } from '#aws/create-tables.ts';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import { IamPolicyVersions } from '#aws/iam-policy-versions.ts';
import { emptyGrantDocument, type PolicyDocument } from '#core/policies/agent-grants.ts';
import { configClientInstances } from '#core/policies/sync-agent-grants.ts';
import { readAgentGrantsEnvironment } from '#lambdas/agent-grants-environment.ts';
import { createAgentGrantsHandler } from '#lambdas/agent-grants-handler.ts';
import { samplePolicy } from '../contracts/fixtures.ts';
import { emulatorClientOptions, startAwsEmulator } from '../setup/aws-emulator.ts';
import { roleStatements } from '../cdk/policy-walk.ts';
import { synthCairnStack } from '../cdk/synth-fixture.ts';
import { allows, arnOf, grantsOf, type Template } from '../iam/policy-check.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;

const BUCKET = 'image-bucket';
const A = 'mi-0aaaaaaaaaaaaaaaa';
const B = 'mi-0bbbbbbbbbbbbbbbb';
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

/** CreatePolicy on the emulator: what the stack does at deploy (moto checks no signature). */
async function createPolicy(endpoint: string, name: string): Promise<string> {
  const body = new URLSearchParams({ Action: 'CreatePolicy', Version: '2010-05-08', PolicyName: name, PolicyDocument: JSON.stringify(emptyGrantDocument('aws', 'placeholder-of-the-stack')) });
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0' },
    body,
  });
  const text = await response.text();
  const arn = /<Arn>([^<]+)<\/Arn>/.exec(text)?.[1];
  if (!response.ok || arn === undefined) throw new Error(`CreatePolicy ${name}: ${response.status} ${text}`);
  return arn;
}

/**
 * The agent-grants Lambda on the emulator: real DynamoDB config store, real
 * IAM calls (moto keeps policy versions; it enforces nothing, so what the
 * documents allow is test/iam/agent-grants.test.ts's job).
 */
describe.skipIf(Boolean(skip))(`agent-grants function on the emulator${skip ? ` (skipped: ${skip})` : ''}`, () => {
  /** The test's own clients (setup, inspection), not recorded; the handler gets recorded ones. */
  let admin: AwsClients;
  let clients: AwsClients;
  let config: DynamoConfigStore;
  let iam: IamPolicyVersions;
  let tables: Record<'config' | 'jobs' | 'catalog' | 'media', string>;
  let policyArns: string[];
  const log = new CallLog();
  let handler: ReturnType<typeof createAgentGrantsHandler>;

  /** The default version's document of each grant policy, and how many versions each keeps. */
  const state = async () =>
    Promise.all(
      policyArns.map(async (arn) => {
        const versions = await iam.listVersions(arn);
        const current = versions.find((v) => v.isDefault)!;
        return { document: JSON.parse(await iam.getDocument(arn, current.versionId)) as PolicyDocument, versions: versions.length };
      }),
    );
  const assign = (policy: string, clients: [string, string][]) =>
    config.putPolicy(samplePolicy(policy, { clients: clients.map(([name, agentInstanceId]) => ({ name, agentInstanceId, priority: 500 })) }));

  beforeAll(async () => {
    if ('skip' in emulator) return;
    const run = `agrants${Date.now()}`;
    admin = createAwsClients(emulatorClientOptions(emulator.endpoint), {});
    clients = createAwsClients({ ...emulatorClientOptions(emulator.endpoint), recorder: log }, {});
    tables = await createTables(admin.dynamodb, run);
    config = new DynamoConfigStore({ client: admin.documents, tableName: tables.config });
    iam = new IamPolicyVersions({ partition: 'aws', endpoint: emulator.endpoint, credentials });
    policyArns = [];
    for (let i = 0; i < 4; i++) policyArns.push(await createPolicy(emulator.endpoint, `${run}-AgentClientGrants${i}`));
    // Wired as lambdas/agent-grants.ts wires it, on recorded clients.
    handler = createAgentGrantsHandler({
      mapping: configClientInstances(new DynamoConfigStore({ client: clients.documents, tableName: tables.config })),
      policies: new IamPolicyVersions({ partition: 'aws', endpoint: emulator.endpoint, credentials, recorder: log }),
      slots: { partition: 'aws', bucket: BUCKET, policyArns },
    });
  }, 60_000);
  afterAll(async () => {
    clients?.destroy();
    admin?.destroy();
    if (!('skip' in emulator)) await emulator.stop();
  });

  it('writes each instance’s grants into the first policy, grant-nothing into the rest, and nothing when run again unchanged', async () => {
    await assign('daily', [['db1', A], ['web1', B], ['nohost', undefined as unknown as string]]);
    const first = await handler({ Records: [{ eventName: 'INSERT' }] });
    expect(first).toMatchObject({ assignments: 2, written: policyArns, unchanged: [] });
    const [slot0, ...rest] = await state();
    expect(slot0!.document.Statement).toEqual([
      expect.objectContaining({ Resource: [`arn:aws:s3:::${BUCKET}/*images/db1/*`], Condition: { StringLike: { 'aws:userid': `*:${A}` } } }),
      expect.objectContaining({ Resource: [`arn:aws:s3:::${BUCKET}/*images/web1/*`], Condition: { StringLike: { 'aws:userid': `*:${B}` } } }),
    ]);
    for (const slot of rest) expect(slot.document).toEqual(emptyGrantDocument('aws', BUCKET));
    // Any event means "resync"; the same mapping writes nothing.
    expect(await handler({})).toMatchObject({ written: [], unchanged: policyArns });
    expect((await state()).map((s) => s.versions)).toEqual([2, 2, 2, 2]);
  });

  it('moves a client with its mapping, and prunes old versions: a policy keeps at most two of IAM’s five', async () => {
    for (let i = 0; i < 6; i++) {
      await assign('daily', [['db1', i % 2 === 0 ? B : A], ['web1', B], [`extra${i}`, A]]);
      const result = await handler({});
      expect(result.written).toEqual([policyArns[0]]);
    }
    const [slot0, ...rest] = await state();
    expect(slot0!.versions).toBe(2);
    expect(rest.map((s) => s.versions)).toEqual([2, 2, 2]);
    // Last round (i = 5): db1 on A with extra5; web1 on B.
    expect(slot0!.document.Statement.map((s) => [s.Condition!.StringLike!['aws:userid'], s.Resource])).toEqual([
      [`*:${A}`, [`arn:aws:s3:::${BUCKET}/*images/db1/*`, `arn:aws:s3:::${BUCKET}/*images/extra5/*`]],
      [`*:${B}`, [`arn:aws:s3:::${BUCKET}/*images/web1/*`]],
    ]);
    const deletes = log.calls.filter((c) => c.action === 'iam:DeletePolicyVersion');
    expect(deletes.length).toBeGreaterThanOrEqual(6);
  });

  it('follows the client mapping as well as policy clients’ agentInstanceId (as backups are routed)', async () => {
    await assign('daily', [['db1', A], ['web1', undefined as unknown as string]]);
    await config.putClient({ name: 'web1', instanceId: A });
    await config.putClient({ name: 'laptop', instanceId: B });
    await handler({});
    const [slot0] = await state();
    expect(slot0!.document.Statement.map((s) => [s.Condition!.StringLike!['aws:userid'], s.Resource])).toEqual([
      [`*:${A}`, [`arn:aws:s3:::${BUCKET}/*images/db1/*`, `arn:aws:s3:::${BUCKET}/*images/web1/*`]],
      [`*:${B}`, [`arn:aws:s3:::${BUCKET}/*images/laptop/*`]],
    ]);
    await config.deleteClient('web1');
    await config.deleteClient('laptop');
    await handler({});
  });

  it('fills further policies as the mapping grows, and empties them again as it shrinks', async () => {
    const clientsOfA = Array.from({ length: 120 }, (_, i): [string, string] => [`host-${String(i).padStart(4, '0')}.example.lan`, A]);
    await assign('big', clientsOfA);
    await handler({});
    const grown = await state();
    expect(grown.filter((s) => s.document.Statement[0]!.Effect === 'Allow').length).toBeGreaterThanOrEqual(2);
    await config.deletePolicy('big');
    await handler({});
    const shrunk = await state();
    expect(shrunk.slice(1).map((s) => s.document)).toEqual([1, 2, 3].map(() => emptyGrantDocument('aws', BUCKET)));
  });

  it('refuses a mapping too large for the policies as Status20 and changes none of them', async () => {
    const before = await state();
    await assign('huge', Array.from({ length: 400 }, (_, i): [string, string] => [`host-${String(i).padStart(4, '0')}.example.lan`, A]));
    const error = await handler({}).then(
      () => new Error('expected a refusal'),
      (e: unknown) => e as Error,
    );
    expect(error.name).toBe('Status20');
    expect(error.message).toMatch(/too many client assignments for the agent role: 40\d assignments need \d policies of 6144 characters, the stack has 4/);
    expect(await state()).toEqual(before);
    await config.deletePolicy('huge');
  });

  it('makes only the calls its role in the stack allows, and its role allows no other', async () => {
    // The stack's function role, with its grant policies named by the emulator's ARNs (slot i = AgentClientGrants{i}).
    // The role is the subject, not the template's validity (see synth-fixture.ts): no built-in validation.
    const synth = synthCairnStack({ bundle: false, validate: false });
    try {
      const template = synth.template.toJSON() as Template;
      const slotArn = (id: string) => policyArns[Number(/^AgentClientGrants(\d)/.exec(id)![1])]!;
      const roleId = Object.keys(template.Resources).find((id) => id.startsWith('AgentGrantsFunctionServiceRole') && template.Resources[id]!.Type === 'AWS::IAM::Role')!;
      const resolved = JSON.parse(JSON.stringify(template), (_key, value: unknown) => {
        const ref = (value as { Ref?: unknown } | null)?.Ref;
        return typeof ref === 'string' && template.Resources[ref]?.Type === 'AWS::IAM::ManagedPolicy' ? slotArn(ref) : value;
      }) as Template;
      const names = { tables, bucket: BUCKET, stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:unused' };
      const grants = grantsOf(roleStatements(resolved.Resources, roleId), resolved, names);
      const calls = log.calls;
      expect(new Set(calls.map((c) => c.action))).toEqual(new Set(['dynamodb:Query', 'iam:ListPolicyVersions', 'iam:GetPolicyVersion', 'iam:CreatePolicyVersion', 'iam:DeletePolicyVersion']));
      expect(calls.filter((c) => !grants.some((g) => allows(g, c))).map((c) => `${c.action} ${arnOf(c.resource)}`)).toEqual([]);
      // Reading the stream is Lambda's own doing (the event source mapping); its log group and X-Ray are the runtime's.
      const byService = grants.filter((g) => !/^(dynamodb:(DescribeStream|GetRecords|GetShardIterator|ListStreams)|xray:|logs:(CreateLogStream|PutLogEvents)$)/.test(g.action));
      // Nothing more: the same actions, on the config table and exactly the four grant policies (each one written to).
      expect(new Set(byService.map((g) => g.action))).toEqual(new Set(calls.map((c) => c.action)));
      expect(new Set(byService.map((g) => g.resource))).toEqual(new Set([`arn:aws:dynamodb:us-east-1:123456789012:table/${tables.config}`, ...policyArns]));
      for (const arn of policyArns) expect(calls.some((c) => c.action === 'iam:CreatePolicyVersion' && arnOf(c.resource) === arn), arn).toBe(true);
    } finally {
      synth.cleanup();
    }
  }, 60_000);
});

describe('agent-grants environment', () => {
  const base = { CONFIG_TABLE: 'c', JOBS_TABLE: 'j', CATALOG_TABLE: 'k', MEDIA_TABLE: 'm', IMAGE_BUCKET: 'image-bucket', AWS_PARTITION: 'aws-cn' };
  it('reads the partition and the grant policies in slot order', () => {
    const env = readAgentGrantsEnvironment({ ...base, AGENT_GRANT_POLICY_ARNS: 'arn:aws-cn:iam::123456789012:policy/p0,arn:aws-cn:iam::123456789012:policy/p1' });
    expect(env.AGENT_GRANT_POLICY_ARNS).toEqual(['arn:aws-cn:iam::123456789012:policy/p0', 'arn:aws-cn:iam::123456789012:policy/p1']);
    expect(Object.isFrozen(env)).toBe(true);
  });
  it('refuses to start without them, naming the variable', () => {
    expect(() => readAgentGrantsEnvironment(base)).toThrow(/AGENT_GRANT_POLICY_ARNS/);
    expect(() => readAgentGrantsEnvironment({ ...base, AGENT_GRANT_POLICY_ARNS: 'arn:aws:iam::aws:policy/AdministratorAccess' })).toThrow(/AGENT_GRANT_POLICY_ARNS/);
  });
});
