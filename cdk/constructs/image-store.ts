import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** How long a deleted image object's bytes stay recoverable (a marker added by mistake can be removed meanwhile). */
export const NONCURRENT_VERSION_DAYS = 7;

export interface ImageStoreProps {
  /**
   * Create the bucket with S3 Object Lock enabled (context `objectLock=true`).
   * Object Lock can only be turned on when a bucket is created, and it cannot be
   * turned off; retention is then set per object or as a bucket default.
   */
  readonly objectLock: boolean;
}

/**
 * The bucket that holds backup images (tar fragments), their file indexes and
 * manifests, and the customer managed key that encrypts them.
 *
 * A customer managed key (not aws/s3) so that access to image data needs a KMS
 * grant as well as an S3 grant, key use is visible in CloudTrail, and the key can
 * be disabled to cut off all access at once. Both the key and the bucket are
 * RETAINed: deleting the stack must never make backups unreadable.
 */
export class ImageStore extends Construct {
  readonly key: kms.Key;
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: ImageStoreProps) {
    super(scope, id);
    this.key = new kms.Key(this, 'ImageKey', {
      description: 'Cairn: encrypts backup images, file indexes and manifests',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.bucket = new s3.Bucket(this, 'ImageBucket', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      // One data key per bucket instead of per object: multipart uploads of large
      // images would otherwise call KMS for every part.
      bucketKeyEnabled: true,
      versioned: true,
      objectLockEnabled: props.objectLock,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
        // A failed or cancelled backup's objects, deleted by the agent, stay as
        // noncurrent versions (the agent may not delete versions): they expire
        // here. Committed images are never overwritten or deleted by Cairn, so
        // their versions stay current; Object Lock retention outlasts this rule.
        { id: 'expire-deleted-image-objects', noncurrentVersionExpiration: Duration.days(NONCURRENT_VERSION_DAYS) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
