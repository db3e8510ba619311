import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { CallLog } from '#aws/call-recorder.ts';
import { createAwsClients, type AwsClients } from '#aws/clients.ts';
import { S3ObjectStore } from '#aws/s3-object-store.ts';
import { uploadObject } from '#aws/s3-upload.ts';
import { CairnError } from '#core/errors.ts';
import { readAll } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { emulatorClientOptions, startAwsEmulator } from '#test/setup/aws-emulator.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;
afterAll(async () => {
  if ('stop' in emulator) await emulator.stop();
});

const MiB = 1024 * 1024;

interface Setup {
  clients: AwsClients;
  s3: S3Client;
  bucket: string;
  calls: CallLog;
  cleanup(): Promise<void>;
}

/** Clients of its own (so a test's middleware stays in it), recording every call, and a fresh bucket. */
async function setUp(): Promise<Setup> {
  const calls = new CallLog();
  const clients = createAwsClients({ ...emulatorClientOptions((emulator as { endpoint: string }).endpoint), maxSockets: 4, recorder: calls }, {});
  const s3 = clients.s3;
  const bucket = `cairn-upload-${randomUUID().slice(0, 12)}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    clients,
    s3,
    bucket,
    calls,
    async cleanup() {
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'obj' }));
      await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
      clients.destroy();
    },
  };
}

/** `bytes` of `data` in 1 MiB chunks, all yielded from ONE buffer refilled each time, as the port allows callers to. */
async function* reusedChunks(data: Buffer, onYield: (yielded: number) => void = () => {}): AsyncGenerator<Uint8Array> {
  const chunk = Buffer.alloc(MiB);
  for (let offset = 0; offset < data.length; offset += MiB) {
    const n = data.copy(chunk, 0, offset, Math.min(data.length, offset + MiB));
    onYield(offset + n);
    yield chunk.subarray(0, n);
  }
}

function operations(calls: CallLog, operation: string): number {
  return calls.calls.filter((c) => c.operation === operation).length;
}

async function uploadsLeft(s3: S3Client, bucket: string): Promise<unknown[]> {
  return (await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? [];
}

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

describe.skipIf(Boolean(skip))('S3 uploads', () => {
  it('sends parts that grow as a stream goes on, and S3 joins them into the same bytes', async () => {
    // Prepare: 5 MiB parts for the first two, 6 MiB after, as a growing plan would on a larger scale.
    const { s3, bucket, calls, cleanup } = await setUp();
    const data = randomBytes(23 * MiB);
    const sizes: number[] = [];
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'UploadPartCommand') sizes.push((args.input as { ContentLength: number }).ContentLength);
        return next(args);
      },
      { step: 'initialize', name: 'partSizes' },
    );
    try {
      // Act
      const plan = { sizeOf: (n: number) => (n <= 2 ? 5 * MiB : 6 * MiB), largest: 6 * MiB };
      const result = await uploadObject({ client: s3, bucket, key: 'obj', body: reusedChunks(data), partSizeBytes: 5 * MiB, concurrency: 2, plan });

      // Assess
      expect(result).toEqual({ bytes: data.length, parts: 5 });
      expect(sizes).toEqual([5, 5, 6, 6, 1].map((m) => m * MiB));
      expect(operations(calls, 'CompleteMultipartUpload')).toBe(1);
      expect((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'obj' }))).ETag).toMatch(/-5"$/);
      const back = await readAll(await new S3ObjectStore({ bucket, client: s3 }).get('obj'));
      expect(sha256(back)).toBe(sha256(data));
    } finally {
      await cleanup();
    }
  });

  it('keeps at most its parts in flight, and reads the body no further ahead than one more part', async () => {
    // Prepare: count UploadParts in flight, and the bytes read from the body that S3 has not acknowledged.
    const { s3, bucket, cleanup } = await setUp();
    const data = randomBytes(26 * MiB);
    let inFlight = 0;
    let mostInFlight = 0;
    let acknowledged = 0;
    let mostAhead = 0;
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'UploadPartCommand') return next(args);
        inFlight += 1;
        mostInFlight = Math.max(mostInFlight, inFlight);
        try {
          return await next(args);
        } finally {
          inFlight -= 1;
          acknowledged += (args.input as { ContentLength: number }).ContentLength;
        }
      },
      { step: 'initialize', name: 'inFlight' },
    );
    try {
      // Act
      const body = reusedChunks(data, (yielded) => {
        mostAhead = Math.max(mostAhead, yielded - acknowledged);
      });
      await uploadObject({ client: s3, bucket, key: 'obj', body, partSizeBytes: 5 * MiB, concurrency: 2 });

      // Assess: two parts in flight, and the one filling (the chunk being handed over is the caller's own buffer).
      expect(mostInFlight).toBe(2);
      expect(mostAhead).toBeLessThanOrEqual(3 * 5 * MiB + MiB);
      expect(mostAhead).toBeGreaterThan(2 * 5 * MiB);
      expect(sha256(await readAll(await new S3ObjectStore({ bucket, client: s3 }).get('obj')))).toBe(sha256(data));
    } finally {
      await cleanup();
    }
  });

  it('aborts the upload when S3 refuses a part, stops reading the body, and reports a media write error', async () => {
    // Prepare: the third UploadPart fails as a dropped connection would, after the SDK's retries.
    const { s3, bucket, calls, cleanup } = await setUp();
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'UploadPartCommand' && (args.input as { PartNumber: number }).PartNumber === 3) throw Object.assign(new Error('socket hang up'), { name: 'RequestTimeout' });
        return next(args);
      },
      { step: 'initialize', name: 'failPart3' },
    );
    let bodyEnded = false;
    let read = 0;
    async function* body(): AsyncGenerator<Uint8Array> {
      try {
        for (let i = 0; i < 40; i += 1) {
          read += MiB;
          yield randomBytes(MiB);
        }
      } finally {
        bodyEnded = true;
      }
    }
    const store = new S3ObjectStore({ bucket, client: s3, partSizeBytes: 5 * MiB });
    try {
      // Act
      const failure = await store.put('obj', body()).catch((error: unknown) => error);

      // Assess
      expect(failure).toBeInstanceOf(CairnError);
      expect((failure as CairnError).statusCode).toBe(StatusCode.MEDIA_WRITE_ERROR);
      expect((failure as CairnError).message).toContain('UploadPart 3');
      expect(bodyEnded).toBe(true);
      expect(read).toBeLessThan(40 * MiB);
      expect(operations(calls, 'AbortMultipartUpload')).toBe(1);
      expect(await uploadsLeft(s3, bucket)).toEqual([]);
      expect(await store.head('obj')).toBeUndefined();
    } finally {
      await cleanup();
    }
  });

  it('starts no multipart upload when the body fails within its first part', async () => {
    const { s3, bucket, calls, cleanup } = await setUp();
    async function* body(): AsyncGenerator<Uint8Array> {
      yield randomBytes(MiB);
      throw new Error('reader died');
    }
    try {
      await expect(new S3ObjectStore({ bucket, client: s3 }).put('obj', body())).rejects.toThrow('reader died');
      expect(calls.calls.map((c) => c.operation)).not.toContain('CreateMultipartUpload');
      expect(calls.calls.map((c) => c.operation)).not.toContain('PutObject');
      expect(await uploadsLeft(s3, bucket)).toEqual([]);
    } finally {
      await cleanup();
    }
  });
});
