import {
  CreatePolicyVersionCommand,
  DeletePolicyVersionCommand,
  GetPolicyVersionCommand,
  IAMClient,
  ListPolicyVersionsCommand,
} from '@aws-sdk/client-iam';
import type { AwsCredentialIdentity } from '@smithy/types';
import { CairnError } from '#core/errors.ts';
import type { ManagedPolicyVersions, PolicyVersion } from '#core/ports/managed-policies.ts';
import { StatusCode } from '#core/status-codes.ts';
import { errorName } from './aws-errors.ts';
import type { CallRecorder } from './call-recorder.ts';

/**
 * ManagedPolicyVersions on IAM (@aws-sdk/client-iam).
 *
 * IAM is a global service with one endpoint per partition, signed for that
 * partition's home region: the client is given that region, and the SDK
 * picks the endpoint (aws → iam.amazonaws.com, aws-cn →
 * iam.cn-north-1.amazonaws.com.cn, aws-us-gov → iam.us-gov.amazonaws.com).
 * An emulator endpoint replaces it.
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

/** Each partition's home region: the one IAM requests are signed for. */
const IAM_HOME_REGIONS: Record<string, string> = { aws: 'us-east-1', 'aws-cn': 'cn-north-1', 'aws-us-gov': 'us-gov-west-1' };

export class IamPolicyVersions implements ManagedPolicyVersions {
  readonly #client: IAMClient;
  readonly #recorder: CallRecorder | undefined;

  constructor(options: IamPolicyVersionsOptions) {
    const home = IAM_HOME_REGIONS[options.partition];
    if (home === undefined && options.endpoint === undefined) {
      throw new CairnError(StatusCode.INTERNAL_ERROR, `no IAM endpoint known for partition ${options.partition}`);
    }
    this.#client = new IAMClient({
      region: options.endpoint === undefined ? home! : 'us-east-1',
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    });
    this.#recorder = options.recorder;
  }

  async listVersions(policyArn: string): Promise<PolicyVersion[]> {
    const { Versions } = await this.#call('ListPolicyVersions', policyArn, () => this.#client.send(new ListPolicyVersionsCommand({ PolicyArn: policyArn, MaxItems: 100 })));
    return (Versions ?? []).map((v) => ({ versionId: v.VersionId!, isDefault: v.IsDefaultVersion === true, createdAt: v.CreateDate ?? new Date(0) }));
  }

  async getDocument(policyArn: string, versionId: string): Promise<string> {
    const { PolicyVersion: version } = await this.#call('GetPolicyVersion', policyArn, () => this.#client.send(new GetPolicyVersionCommand({ PolicyArn: policyArn, VersionId: versionId })));
    // IAM returns the document URL-encoded (RFC 3986), as its API reference says; the SDK passes it on as is.
    return decodeURIComponent(version?.Document ?? '');
  }

  async createDefaultVersion(policyArn: string, document: string): Promise<string> {
    const { PolicyVersion: version } = await this.#call('CreatePolicyVersion', policyArn, () =>
      this.#client.send(new CreatePolicyVersionCommand({ PolicyArn: policyArn, PolicyDocument: document, SetAsDefault: true })),
    );
    return version!.VersionId!;
  }

  async deleteVersion(policyArn: string, versionId: string): Promise<void> {
    await this.#call('DeletePolicyVersion', policyArn, () => this.#client.send(new DeletePolicyVersionCommand({ PolicyArn: policyArn, VersionId: versionId })));
  }

  async #call<T>(action: string, policyArn: string, send: () => Promise<T>): Promise<T> {
    this.#recorder?.record({ action: `iam:${action}`, operation: action, resource: { kind: 'arn', arn: policyArn } });
    try {
      return await send();
    } catch (cause) {
      throw new CairnError(StatusCode.INTERNAL_ERROR, `IAM ${action} on ${policyArn} failed (${errorName(cause)}): ${(cause as Error).message}`, { cause });
    }
  }
}
