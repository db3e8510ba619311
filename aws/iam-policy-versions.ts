import { createHash, createHmac } from 'node:crypto';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { parseXML } from '@aws-sdk/xml-builder';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, Checksum, SourceData } from '@smithy/types';
import { CairnError } from '#core/errors.ts';
import type { ManagedPolicyVersions, PolicyVersion } from '#core/ports/managed-policies.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { CallRecorder } from './call-recorder.ts';

/**
 * ManagedPolicyVersions on IAM's Query API, signed with SigV4.
 *
 * Why not @aws-sdk/client-iam: it is not among the installed packages, and
 * these four calls are small (form-encoded POST, XML answer). Swap this file
 * for the SDK client when it is added; the port does not change.
 *
 * IAM is a global service with one endpoint per partition, signed for that
 * partition's home region: aws → iam.amazonaws.com (us-east-1), aws-cn →
 * iam.cn-north-1.amazonaws.com.cn (cn-north-1), aws-us-gov →
 * iam.us-gov.amazonaws.com (us-gov-west-1). An emulator endpoint replaces it.
 */
export interface IamPolicyVersionsOptions {
  readonly partition: string;
  /** An emulator's URL (CAIRN_AWS_ENDPOINT); signed for us-east-1. */
  readonly endpoint?: string;
  /** Emulators only; real deployments use the default chain (the Lambda's role). */
  readonly credentials?: AwsCredentialIdentity;
  /** Records each call as IAM action and policy ARN (test/iam). */
  readonly recorder?: CallRecorder;
}

const IAM_ENDPOINTS: Record<string, { url: string; region: string }> = {
  aws: { url: 'https://iam.amazonaws.com', region: 'us-east-1' },
  'aws-cn': { url: 'https://iam.cn-north-1.amazonaws.com.cn', region: 'cn-north-1' },
  'aws-us-gov': { url: 'https://iam.us-gov.amazonaws.com', region: 'us-gov-west-1' },
};

export class IamPolicyVersions implements ManagedPolicyVersions {
  readonly #url: URL;
  readonly #signer: SignatureV4;
  readonly #recorder: CallRecorder | undefined;

  constructor(options: IamPolicyVersionsOptions) {
    const home = IAM_ENDPOINTS[options.partition];
    if (home === undefined && options.endpoint === undefined) {
      throw new CairnError(StatusCode.INTERNAL_ERROR, `no IAM endpoint known for partition ${options.partition}`);
    }
    this.#url = new URL(options.endpoint ?? home!.url);
    const credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider = options.credentials ?? fromNodeProviderChain();
    this.#signer = new SignatureV4({ service: 'iam', region: options.endpoint === undefined ? home!.region : 'us-east-1', credentials, sha256: NodeSha256 });
    this.#recorder = options.recorder;
  }

  async listVersions(policyArn: string): Promise<PolicyVersion[]> {
    const result = await this.#call('ListPolicyVersions', policyArn, { PolicyArn: policyArn, MaxItems: '100' });
    return members(result.Versions).map((v) => ({
      versionId: text(v.VersionId),
      isDefault: text(v.IsDefaultVersion) === 'true',
      createdAt: new Date(text(v.CreateDate)),
    }));
  }

  async getDocument(policyArn: string, versionId: string): Promise<string> {
    const result = await this.#call('GetPolicyVersion', policyArn, { PolicyArn: policyArn, VersionId: versionId });
    // IAM returns the document URL-encoded (RFC 3986), as its API reference says.
    return decodeURIComponent(text(field(result.PolicyVersion, 'Document')));
  }

  async createDefaultVersion(policyArn: string, document: string): Promise<string> {
    const result = await this.#call('CreatePolicyVersion', policyArn, { PolicyArn: policyArn, PolicyDocument: document, SetAsDefault: 'true' });
    return text(field(result.PolicyVersion, 'VersionId'));
  }

  async deleteVersion(policyArn: string, versionId: string): Promise<void> {
    await this.#call('DeletePolicyVersion', policyArn, { PolicyArn: policyArn, VersionId: versionId });
  }

  async #call(action: string, policyArn: string, params: Record<string, string>): Promise<Record<string, unknown>> {
    this.#recorder?.record({ action: `iam:${action}`, operation: action, resource: { kind: 'arn', arn: policyArn } });
    const body = new URLSearchParams({ Action: action, Version: '2010-05-08', ...params }).toString();
    const request = await this.#signer.sign({
      method: 'POST',
      protocol: this.#url.protocol,
      hostname: this.#url.hostname,
      ...(this.#url.port === '' ? {} : { port: Number(this.#url.port) }),
      path: this.#url.pathname,
      query: {},
      headers: { host: this.#url.host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body,
    });
    let response: Response;
    try {
      response = await fetch(new URL(this.#url.pathname, this.#url), { method: 'POST', headers: request.headers, body });
    } catch (cause) {
      throw new CairnError(StatusCode.INTERNAL_ERROR, `IAM ${action} on ${policyArn} failed: ${(cause as Error).message}`, { cause });
    }
    const xml = parseXML(await response.text()) as Record<string, Record<string, unknown>>;
    if (!response.ok) {
      const error = (xml.ErrorResponse?.Error ?? {}) as Record<string, unknown>;
      throw new CairnError(StatusCode.INTERNAL_ERROR, `IAM ${action} on ${policyArn} failed (${response.status} ${text(error.Code)}): ${text(error.Message)}`);
    }
    return (xml[`${action}Response`]?.[`${action}Result`] ?? {}) as Record<string, unknown>;
  }
}

/** A list in IAM's XML: absent, one `member`, or several. */
function members(list: unknown): Record<string, unknown>[] {
  const member = (list as { member?: unknown } | undefined)?.member;
  if (member === undefined) return [];
  return (Array.isArray(member) ? member : [member]) as Record<string, unknown>[];
}

function field(node: unknown, name: string): unknown {
  return (node as Record<string, unknown> | undefined)?.[name];
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : value === undefined ? '' : String(value);
}

/** SHA-256 (and HMAC-SHA-256 with a secret) for the signer, from node:crypto. */
class NodeSha256 implements Checksum {
  readonly #secret: SourceData | undefined;
  #hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;

  constructor(secret?: SourceData) {
    this.#secret = secret;
    this.#hash = NodeSha256.#fresh(secret);
  }

  update(data: Uint8Array | string): void {
    this.#hash.update(typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }

  reset(): void {
    this.#hash = NodeSha256.#fresh(this.#secret);
  }

  static #fresh(secret: SourceData | undefined): ReturnType<typeof createHash> | ReturnType<typeof createHmac> {
    if (secret === undefined) return createHash('sha256');
    const key = typeof secret === 'string' ? secret : ArrayBuffer.isView(secret) ? Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength) : Buffer.from(secret);
    return createHmac('sha256', key);
  }
}
