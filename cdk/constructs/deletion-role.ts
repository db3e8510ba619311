import { Duration, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { bucketObjectsFinding } from '../nag-findings.ts';

/** Every image object: `<storage unit prefix>/images/<client>/<backup id>/...` (core/ids.ts), of every client. */
export const IMAGE_OBJECT_KEYS = '*images/*';

export interface DeletionRoleProps {
  readonly imageBucket: s3.Bucket;
}

/** What the deletion role may do, and nobody else may: destroy an image object's versions. */
export const VERSION_DELETE_ACTIONS = ['s3:DeleteObjectVersion'] as const;

/**
 * The one principal that may destroy image data: delete object versions
 * (the bytes themselves, not just a delete marker) under `images/`, and list
 * versions to find them. Image expiration (the image lifecycle) runs with it;
 * nothing else in the stack holds `s3:DeleteObjectVersion`, and the bucket
 * policy denies it to every other principal, so a compromised agent or Lambda
 * cannot remove a backup, only hide it behind a marker that can be deleted.
 *
 * Trust: this account. Only a principal whose own IAM policy allows
 * `sts:AssumeRole` on this role can use it (an administrator, or later the
 * expiration function through `grantAssume`); no role of the stack has that
 * today. It cannot bypass Object Lock (no s3:BypassGovernanceRetention):
 * retained versions outlive any delete until their retention ends.
 */
export class DeletionRole extends Construct {
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: DeletionRoleProps) {
    super(scope, id);
    this.role = new iam.Role(this, 'Role', {
      description: 'Cairn: the only principal that may delete backup image object versions',
      assumedBy: new iam.AccountRootPrincipal(),
      maxSessionDuration: Duration.hours(1),
    });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: [...VERSION_DELETE_ACTIONS, 's3:DeleteObject'],
        resources: [props.imageBucket.arnForObjects(IMAGE_OBJECT_KEYS)],
      }),
    );
    // Finding an image's versions: ListObjectVersions with its prefix.
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucketVersions'],
        resources: [props.imageBucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [IMAGE_OBJECT_KEYS] } },
      }),
    );
    // Enforced on the bucket too, not only by no other role having the grant:
    // an identity policy added outside the stack (an admin's, say) cannot
    // destroy versions either without first changing the bucket policy,
    // which CloudTrail records.
    props.imageBucket.addToResourcePolicy(
      new iam.PolicyStatement({
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: [...VERSION_DELETE_ACTIONS],
        resources: [props.imageBucket.arnForObjects('*')],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': this.role.roleArn } },
      }),
    );
    // cdk-nag IAM5: image objects sit under `<storage unit prefix>/images/`,
    // one prefix per storage unit and client, known only at run time.
    Validations.of(this.role).acknowledge({
      id: bucketObjectsFinding(props.imageBucket, IMAGE_OBJECT_KEYS),
      reason: 'Image objects live under <storage unit>/images/<client>/<backup id>/, chosen at run time; the grant stays inside images/',
    });
  }

  /** Lets `grantee` assume this role (the image expiration, when it runs in the cloud). */
  grantAssume(grantee: iam.IGrantable): iam.Grant {
    return this.role.grantAssumeRole(grantee.grantPrincipal);
  }
}
