import { describe, expect, it } from 'vitest';
import { CairnError } from '#core/errors.ts';
import {
  AGENT_OBJECT_ACTIONS,
  MANAGED_POLICY_MAX_CHARS,
  agentGrantDocuments,
  agentGrantStatements,
  emptyGrantDocument,
  policySize,
  type ClientInstance,
} from '#core/policies/agent-grants.ts';

const A = 'mi-0aaaaaaaaaaaaaaaa';
const B = 'mi-0bbbbbbbbbbbbbbbb';
const EC2 = 'i-0123456789abcdef0';
const BUCKET = 'cairnstack-imagesimagebucket83590bb4-1a2b3c4d5e6f';
const target = { partition: 'aws', bucket: BUCKET, documents: 4 };

/** n clients named like real hosts (`host-0001.example.lan`), all on one instance. */
const many = (n: number, instanceId: string, prefix = 'host'): ClientInstance[] =>
  Array.from({ length: n }, (_, i) => ({ client: `${prefix}-${String(i).padStart(4, '0')}.example.lan`, instanceId }));

const refusal = (run: () => unknown): CairnError => {
  try {
    run();
  } catch (error) {
    return error as CairnError;
  }
  throw new Error('expected a refusal');
};

describe('agent grants: per-instance S3 statements from the client → instance mapping', () => {
  it('gives each instance one Allow of the four object actions on its clients’ image prefixes, conditioned on its session', () => {
    const statements = agentGrantStatements(
      [
        { client: 'web1', instanceId: B },
        { client: 'db1', instanceId: A },
        { client: 'app1', instanceId: A },
        { client: 'files', instanceId: EC2 },
      ],
      target,
    );
    expect(statements).toEqual([
      { Effect: 'Allow', Action: [...AGENT_OBJECT_ACTIONS], Resource: [`arn:aws:s3:::${BUCKET}/*images/files/*`], Condition: { StringLike: { 'aws:userid': `*:${EC2}` } } },
      {
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:GetObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
        Resource: [`arn:aws:s3:::${BUCKET}/*images/app1/*`, `arn:aws:s3:::${BUCKET}/*images/db1/*`],
        Condition: { StringLike: { 'aws:userid': `*:${A}` } },
      },
      { Effect: 'Allow', Action: [...AGENT_OBJECT_ACTIONS], Resource: [`arn:aws:s3:::${BUCKET}/*images/web1/*`], Condition: { StringLike: { 'aws:userid': `*:${B}` } } },
    ]);
  });

  it('gives the same documents whatever order the mapping comes in, and counts a repeated assignment once', () => {
    const mapping = [...many(30, A, 'a'), ...many(30, B, 'b')];
    const shuffled = [...mapping].reverse().concat(mapping.slice(0, 5));
    expect(JSON.stringify(agentGrantDocuments(shuffled, target))).toBe(JSON.stringify(agentGrantDocuments(mapping, target)));
  });

  it('gives a client on two instances to both', () => {
    const [first, second] = agentGrantStatements([{ client: 'shared', instanceId: A }, { client: 'shared', instanceId: B }], target);
    expect(first!.Resource).toEqual(second!.Resource);
    expect([first!.Condition, second!.Condition]).toEqual([{ StringLike: { 'aws:userid': `*:${A}` } }, { StringLike: { 'aws:userid': `*:${B}` } }]);
  });

  it('writes the partition it is given (aws-cn, aws-us-gov), never a fixed arn:aws', () => {
    for (const partition of ['aws-cn', 'aws-us-gov']) {
      const [document] = agentGrantDocuments([{ client: 'db1', instanceId: A }], { ...target, partition });
      expect(document!.Statement[0]!.Resource).toEqual([`arn:${partition}:s3:::${BUCKET}/*images/db1/*`]);
      expect(emptyGrantDocument(partition, BUCKET).Statement[0]!.Resource).toBe(`arn:${partition}:s3:::${BUCKET}/cairn-no-client-assigned`);
    }
  });

  it('an empty mapping needs no document, and the placeholder grants nothing', () => {
    expect(agentGrantDocuments([], target)).toEqual([]);
    const placeholder = emptyGrantDocument('aws', BUCKET);
    expect(placeholder.Statement.every((s) => s.Effect === 'Deny')).toBe(true);
  });

  it('splits into several documents, each within IAM’s 6,144 characters, and one instance’s clients across statements when one document cannot hold them', () => {
    const mapping = [...many(100, A, 'a'), ...many(40, B, 'b'), { client: 'solo', instanceId: EC2 }];
    const documents = agentGrantDocuments(mapping, target);
    expect(documents.length).toBeGreaterThan(1);
    for (const document of documents) expect(policySize(document)).toBeLessThanOrEqual(MANAGED_POLICY_MAX_CHARS);
    // Every assignment is granted exactly once, to its own instance.
    const granted = documents.flatMap((d) =>
      d.Statement.flatMap((s) => (s.Resource as string[]).map((r) => `${/\/\*images\/([^/]+)\/\*$/.exec(r)![1]} ${(s.Condition!.StringLike!['aws:userid'] as string).slice(2)}`)),
    );
    expect(granted.sort()).toEqual(mapping.map((m) => `${m.client} ${m.instanceId}`).sort());
    const statementsForA = documents.flatMap((d) => d.Statement).filter((s) => s.Condition!.StringLike!['aws:userid'] === `*:${A}`);
    expect(statementsForA.length).toBeGreaterThan(1);
    // Packed in order: a later document never holds a statement that would have fit the one before.
    for (let i = 1; i < documents.length; i++) {
      const first = documents[i]!.Statement[0]!;
      expect(policySize({ ...documents[i - 1]!, Statement: [...documents[i - 1]!.Statement, first] })).toBeGreaterThan(MANAGED_POLICY_MAX_CHARS);
    }
  });

  it('counts size as IAM does, without whitespace', () => {
    const document = agentGrantDocuments([{ client: 'db1', instanceId: A }], target)[0]!;
    expect(policySize(document)).toBe(JSON.stringify(document, null, 2).replace(/\s/g, '').length);
  });

  it('holds about 240 assignments of 20-character client names in four policies, and refuses one document more with status 20, naming the limit', () => {
    let fits = 0;
    for (let n = 200; n < 400; n++) {
      try {
        agentGrantDocuments(many(n, A), target);
        fits = n;
      } catch {
        break;
      }
    }
    expect(fits).toBeGreaterThan(200);
    const error = refusal(() => agentGrantDocuments(many(fits + 1, A), target));
    expect(error).toBeInstanceOf(CairnError);
    expect(error.statusCode).toBe(20);
    expect(error.message).toMatch(new RegExp(`${fits + 1} assignments need 5 policies of 6144 characters, the stack has 4`));
  });

  it('refuses an instance id that is not mi-… or i-…, and a client name that could widen a Resource (wildcards, slashes)', () => {
    for (const instanceId of ['*', 'mi-*', 'i-0123', 'MI-0AAAAAAAAAAAAAAAA', 'mi-0aaaaaaaaaaaaaaaa ', '']) {
      const error = refusal(() => agentGrantStatements([{ client: 'db1', instanceId }], target));
      expect(error.statusCode, instanceId).toBe(20);
      expect(error.message).toMatch(/is not an SSM managed node \(mi-…\) or EC2 instance \(i-…\) id/);
    }
    for (const client of ['*', 'db?', 'a/b', '../x', '', '-lead']) {
      const error = refusal(() => agentGrantStatements([{ client, instanceId: A }], target));
      expect(error.statusCode, client).toBe(20);
      expect(error.message).toMatch(/not a client name/);
    }
  });
});
