import { describe, expect, it } from 'vitest';
import { agentGrantDocuments, type ClientInstance } from '#core/policies/agent-grants.ts';
import type { Statement } from '../cdk/policy-walk.ts';
import { allows, grantsOf, type SessionCall, type Template } from './policy-check.ts';
import type { EmulatedNames } from './record-components.ts';

const A = 'mi-0aaaaaaaaaaaaaaaa';
const B = 'i-0bbbbbbbbbbbbbbbb';
const ROLE_ID = 'AROAAGENTROLEEXAMPLE1';
const names: EmulatedNames = { tables: { config: 'c', jobs: 'j', catalog: 'k', media: 'm' }, bucket: 'image-bucket', stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:x' };
const template: Template = { Resources: {} };

const mapping: ClientInstance[] = [
  { client: 'alpha', instanceId: A },
  { client: 'beta', instanceId: B },
  { client: 'alphabet', instanceId: B },
];
const statements = agentGrantDocuments(mapping, { partition: 'aws', bucket: names.bucket, documents: 4 }).flatMap((d) => d.Statement) as unknown as Statement[];
const grants = grantsOf(statements, template, names);

/** Would IAM allow this call from this session, by the written grants alone? */
const allowed = (action: string, key: string, userid: string | undefined): boolean => {
  const call: SessionCall = { action, operation: action.slice(3), resource: { kind: 'object', bucket: names.bucket, key }, ...(userid === undefined ? {} : { userid }) };
  return grants.some((g) => allows(g, call));
};
const key = (client: string) => `site1/images/${client}/${client}_1700000000/fragment-0001`;

/**
 * The agent role's per-instance grants as IAM evaluates them (test/iam/policy-check.ts):
 * one role, told apart by session (`aws:userid` = `<role id>:<instance id>`).
 */
describe('agent grants, evaluated: a host reaches its own clients’ images only', () => {
  it('lets instance A put, get, delete and abort under client alpha, and refuses it beta’s and alphabet’s', () => {
    const sessionA = `${ROLE_ID}:${A}`;
    for (const action of ['s3:PutObject', 's3:GetObject', 's3:DeleteObject', 's3:AbortMultipartUpload']) expect(allowed(action, key('alpha'), sessionA), action).toBe(true);
    expect(allowed('s3:PutObject', key('beta'), sessionA)).toBe(false);
    expect(allowed('s3:GetObject', key('beta'), sessionA)).toBe(false);
    // A client whose name starts with another's is a different prefix.
    expect(allowed('s3:GetObject', key('alphabet'), sessionA)).toBe(false);
  });

  it('lets the EC2 instance B reach beta and alphabet, and refuses it alpha', () => {
    const sessionB = `${ROLE_ID}:${B}`;
    expect(allowed('s3:PutObject', key('beta'), sessionB)).toBe(true);
    expect(allowed('s3:GetObject', key('alphabet'), sessionB)).toBe(true);
    expect(allowed('s3:GetObject', key('alpha'), sessionB)).toBe(false);
  });

  it('refuses a host with no clients, a session whose name only contains the instance id, and a call with no session at all', () => {
    expect(allowed('s3:GetObject', key('alpha'), `${ROLE_ID}:mi-0cccccccccccccccc`)).toBe(false);
    expect(allowed('s3:GetObject', key('alpha'), `${ROLE_ID}:${A}-copy`)).toBe(false);
    expect(allowed('s3:GetObject', key('alpha'), undefined)).toBe(false);
  });

  it('grants objects only: not the bucket, not a key outside images/<client>/, not another action', () => {
    const sessionA = `${ROLE_ID}:${A}`;
    expect(allowed('s3:GetObject', 'site1/alpha/x', sessionA)).toBe(false);
    expect(allowed('s3:GetObject', 'site1/images/alpha', sessionA)).toBe(false);
    expect(allowed('s3:DeleteObjectVersion', key('alpha'), sessionA)).toBe(false);
    const list: SessionCall = { action: 's3:ListBucket', operation: 'ListObjectsV2', resource: { kind: 'bucket', bucket: names.bucket }, userid: sessionA };
    expect(grants.some((g) => allows(g, list))).toBe(false);
  });
});
