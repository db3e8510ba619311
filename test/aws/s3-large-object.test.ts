import { randomUUID } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, DeleteBucketCommand, ListMultipartUploadsCommand, ListPartsCommand, type Part } from '@aws-sdk/client-s3';
import { CallLog } from '#aws/call-recorder.ts';
import { createAwsClients } from '#aws/clients.ts';
import { S3ObjectStore } from '#aws/s3-object-store.ts';
import { emulatorClientOptions, startAwsEmulator } from '#test/setup/aws-emulator.ts';

/**
 * Issue 9: a 12 GiB file (sparse: its holes cost no disk) through the S3
 * store on the emulator, in the part size the store chooses by default.
 *
 * The upload runs for real up to CompleteMultipartUpload, and there the test
 * stops it: moto joins every part into one in-memory buffer (twice) to
 * complete an upload, 24 GiB for this one, more than the machine has. So a
 * middleware on the client lists the parts S3 holds (ListParts) when the
 * store asks to complete, checks them against the Complete request, and
 * fails the request; the store then aborts the upload, which is checked too.
 * Completing a multipart upload with several parts is covered on smaller
 * objects in s3-upload.test.ts and s3-object-store.test.ts.
 *
 * It runs only with CAIRN_TEST_12GIB=1 (`npm run test:large`, which CI runs
 * after `npm test`): on this 2-core machine it took 176 s alone (2026-12-02,
 * about 70 MB/s into moto) and 1,460 s while the machine was shared (load
 * 15-19), too much for `npm test`'s 10-minute budget.
 */
const OPT_IN = 'CAIRN_TEST_12GIB';
const emulator = process.env[OPT_IN] === '1' ? await startAwsEmulator() : { skip: `12 GiB through moto takes minutes: npm run test:large (CI runs it) sets ${OPT_IN}=1` };
const skip = 'skip' in emulator ? emulator.skip : undefined;
afterAll(async () => {
  if ('stop' in emulator) await emulator.stop();
});

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;
const STOPPED = 'test stops here: moto would complete the upload in memory';

describe.skipIf(Boolean(skip))('S3ObjectStore with a 12 GiB file', () => {
  it('uploads it in 192 parts of 64 MiB', { timeout: 3_600_000 }, async () => {
    // Prepare: a sparse file, and a client that records every call and stops at Complete.
    const work = mkdtempSync(join(tmpdir(), 'cairn-s3-large-'));
    const file = join(work, 'disk.img');
    writeFileSync(file, '');
    truncateSync(file, 12 * GiB);
    const calls = new CallLog();
    const clients = createAwsClients({ ...emulatorClientOptions((emulator as { endpoint: string }).endpoint), maxSockets: 4, recorder: calls }, {});
    const s3 = clients.s3;
    const bucket = `cairn-large-${randomUUID().slice(0, 12)}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    let held: Part[] = [];
    let requested: { PartNumber?: number; ETag?: string }[] = [];
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'CompleteMultipartUploadCommand') return next(args);
        const input = args.input as { Bucket: string; Key: string; UploadId: string; MultipartUpload: { Parts: { PartNumber?: number; ETag?: string }[] } };
        requested = input.MultipartUpload.Parts;
        held = [];
        // By IsTruncated: the SDK's paginateListParts never ends on moto (see aws/multipart-sweep.ts).
        let PartNumberMarker: string | undefined;
        for (;;) {
          const page = await s3.send(new ListPartsCommand({ Bucket: input.Bucket, Key: input.Key, UploadId: input.UploadId, PartNumberMarker }));
          held.push(...(page.Parts ?? []));
          if (page.IsTruncated !== true) break;
          PartNumberMarker = page.NextPartNumberMarker;
        }
        throw new Error(STOPPED);
      },
      { step: 'initialize', name: 'stopAtComplete' },
    );
    const store = new S3ObjectStore({ bucket, prefix: 'site1', client: s3 });
    try {
      // Act
      const started = process.hrtime.bigint();
      const put = store.put('images/c1/c1_1/fragment-00001.tar', createReadStream(file, { highWaterMark: MiB }));
      await expect(put).rejects.toThrow(STOPPED);
      console.log(`12 GiB to the emulator up to Complete: ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s`);

      // Assess: 192 UploadPart calls, 192 parts of 64 MiB held, the same ones asked to complete, then aborted.
      const operations = calls.calls.map((c) => c.operation);
      expect(operations.filter((o) => o === 'UploadPart')).toHaveLength(192);
      expect(operations.filter((o) => o === 'CreateMultipartUpload')).toHaveLength(1);
      expect(held.map((p) => p.PartNumber)).toEqual(Array.from({ length: 192 }, (_, i) => i + 1));
      expect(held.every((p) => p.Size === 64 * MiB)).toBe(true);
      expect(requested.map((p) => [p.PartNumber, p.ETag])).toEqual(held.map((p) => [p.PartNumber, p.ETag]));
      expect(operations.at(-1)).toBe('AbortMultipartUpload');
      expect((await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []).toEqual([]);
    } finally {
      rmSync(work, { recursive: true, force: true });
      await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
      clients.destroy();
    }
  });
});
