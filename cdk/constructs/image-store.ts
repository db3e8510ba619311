import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { settingsOf } from '../stack-settings.ts';

/** How long a deleted image object's bytes stay recoverable (a marker added by mistake can be removed meanwhile). */
export const NONCURRENT_VERSION_DAYS = 7;

export const OBJECT_LOCK_MODES = ['GOVERNANCE', 'COMPLIANCE'] as const;
export type ObjectLockMode = (typeof OBJECT_LOCK_MODES)[number];

/**
 * S3 Object Lock with a bucket default retention: every object version Cairn
 * writes is locked for `days` from its creation. GOVERNANCE lets a principal
 * with s3:BypassGovernanceRetention (Cairn grants it to nobody) shorten it;
 * COMPLIANCE lets nobody, not even the account root, until the days pass.
 */
export interface ObjectLockSettings {
  readonly mode: ObjectLockMode;
  /** 1 to 36500. Keep it at most the shortest image retention of your policies: a locked version cannot be expired before it. */
  readonly days: number;
}

/** What `-c objectLock=true` means: governance mode (an administrator can still undo a mistake), two weeks. */
export const DEFAULT_OBJECT_LOCK: ObjectLockSettings = Object.freeze({ mode: 'GOVERNANCE', days: 14 });

export interface ImageStoreProps {
  /**
   * Create the bucket with S3 Object Lock and this default retention (context
   * `objectLock`, `objectLockDays`). Default: no Object Lock. Object Lock can
   * only be turned on when a bucket is created, and it cannot be turned off.
   */
  readonly objectLock?: ObjectLockSettings;
  /** Days a noncurrent version (a deleted or overwritten object's bytes) is kept before S3 expires it. Default 7. */
  readonly noncurrentVersionDays?: number;
  /**
   * Lifecycle transitions of the image objects to colder storage classes
   * (context `imageTransitions`, `STANDARD_IA:30,GLACIER_IR:90`), counted
   * from each object's creation. Only classes a GET reads at once: a restore
   * or verify of an object in GLACIER or DEEP_ARCHIVE would fail.
   */
  readonly transitions?: readonly ImageTransition[];
}

/** Storage classes image objects may move to: read at once by a GET (core/model/storage-unit.ts S3StorageClass, without STANDARD). */
export const TRANSITION_CLASSES = ['STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR'] as const;
export interface ImageTransition {
  readonly storageClass: (typeof TRANSITION_CLASSES)[number];
  readonly days: number;
}

/** Checks transitions as S3 would refuse them at deploy time: known classes, days in order, at least 30 days before an infrequent-access class. */
export function validateTransitions(transitions: readonly ImageTransition[]): readonly ImageTransition[] {
  let last = -1;
  for (const t of transitions) {
    if (!TRANSITION_CLASSES.includes(t.storageClass)) throw new Error(`image transition storage class must be one of ${TRANSITION_CLASSES.join(', ')} (a GET reads them at once), not ${JSON.stringify(t.storageClass)}`);
    if (!Number.isInteger(t.days) || t.days < 0 || t.days > 36_500) throw new Error(`image transition days must be a whole number from 0 to 36500, not ${JSON.stringify(t.days)}`);
    if ((t.storageClass === 'STANDARD_IA' || t.storageClass === 'ONEZONE_IA') && t.days < 30) throw new Error(`S3 moves objects to ${t.storageClass} after 30 days at the earliest, not ${t.days}`);
    if (t.days <= last) throw new Error(`image transitions must be in order of days: ${t.days} comes after ${last}`);
    last = t.days;
  }
  return transitions;
}

export function validateObjectLock(lock: ObjectLockSettings): ObjectLockSettings {
  if (!OBJECT_LOCK_MODES.includes(lock.mode)) throw new Error(`objectLock mode must be GOVERNANCE or COMPLIANCE, not ${JSON.stringify(lock.mode)}`);
  if (!Number.isInteger(lock.days) || lock.days < 1 || lock.days > 36_500) throw new Error(`objectLock days must be a whole number from 1 to 36500, not ${JSON.stringify(lock.days)}`);
  return lock;
}

/**
 * The bucket that holds backup images (tar fragments), their file indexes and
 * manifests, and the customer managed key that encrypts them.
 *
 * A customer managed key (not aws/s3) so that access to image data needs a KMS
 * grant as well as an S3 grant, key use is visible in CloudTrail, and the key can
 * be disabled to cut off all access at once. Both the key and the bucket are
 * RETAINed: deleting the stack must never make backups unreadable.
 *
 * Every request to the bucket is recorded in a second bucket (S3 server access
 * logs): who read, wrote or deleted which image object, including requests
 * CloudTrail data events (off by default, and billed per event) would miss.
 */
export class ImageStore extends Construct {
  readonly key: kms.Key;
  readonly bucket: s3.Bucket;
  /** The server access logs of the image bucket, under `image-bucket/`. */
  readonly accessLogs: s3.Bucket;
  readonly objectLock?: ObjectLockSettings;

  constructor(scope: Construct, id: string, props: ImageStoreProps = {}) {
    super(scope, id);
    this.objectLock = props.objectLock && validateObjectLock(props.objectLock);
    const noncurrentDays = props.noncurrentVersionDays ?? NONCURRENT_VERSION_DAYS;
    if (!Number.isInteger(noncurrentDays) || noncurrentDays < 1) throw new Error(`noncurrentVersionDays must be a whole number of days, at least 1, not ${noncurrentDays}`);
    const transitions = validateTransitions(props.transitions ?? []);
    const { logRetention } = settingsOf(this);

    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      // Server access logs can only be delivered to a bucket with SSE-S3 (not SSE-KMS).
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Kept as long as the stack's logs (RetentionDays.INFINITE: for ever).
      lifecycleRules: logRetention === logs.RetentionDays.INFINITE ? [] : [{ id: 'expire-access-logs', expiration: Duration.days(logRetention) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // cdk-nag S1: logging the log bucket would log each log delivery into itself, without end.
    Validations.of(this.accessLogs).acknowledge({ id: 'AwsSolutions-S1', reason: 'This is the access log bucket of the image bucket; its own requests are S3 log deliveries' });

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
      objectLockEnabled: this.objectLock !== undefined,
      objectLockDefaultRetention:
        this.objectLock === undefined
          ? undefined
          : this.objectLock.mode === 'COMPLIANCE'
            ? s3.ObjectLockRetention.compliance(Duration.days(this.objectLock.days))
            : s3.ObjectLockRetention.governance(Duration.days(this.objectLock.days)),
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'image-bucket/',
      lifecycleRules: [
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
        // A failed or cancelled backup's objects, deleted by the agent, stay as
        // noncurrent versions (the agent may not delete versions): they expire
        // here, and the delete marker left alone once they have gone goes too.
        // Committed images are never overwritten or deleted by the agent, so
        // their versions stay current. Under Object Lock a version is expired
        // only once its retention has passed.
        { id: 'expire-deleted-image-objects', noncurrentVersionExpiration: Duration.days(noncurrentDays), expiredObjectDeleteMarker: true },
        // Older images' objects to colder classes, as the stack's settings say (docs/architecture.md, Duplication: S3 storage classes).
        ...(transitions.length === 0
          ? []
          : [{ id: 'transition-image-objects', transitions: transitions.map((t) => ({ storageClass: new s3.StorageClass(t.storageClass), transitionAfter: Duration.days(t.days) })) }]),
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
