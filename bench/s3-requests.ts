/**
 * S3 requests per GiB: what a backup and a restore of it cost in requests
 * through the S3 store, and at what list price.
 *
 *   npm run bench:s3 [-- --mib N] [--small-files N] [--part-mib N] [--json]
 *
 * Backs up a generated tree (N MiB in all, default 1024: one large file of
 * random data and 1,000 small files) with runBackup into an S3 storage unit
 * on moto_server, then restores the image with restoreImage, counting every
 * S3 call of each at the client (aws/call-recorder.ts). Prints the calls by
 * operation, per GiB of data, and their price at the us-east-1 list prices
 * below. Exits 0 with the reason when moto_server is absent (and
 * CAIRN_AWS_ENDPOINT unset), 1 when the restore differs from the source.
 * moto keeps objects in memory and temp files: about 3× N of each.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CallLog } from '#aws/call-recorder.ts';
import { createAwsClients } from '#aws/clients.ts';
import { S3ObjectStore } from '#aws/s3-object-store.ts';
import { runBackup } from '#agent/image/backup.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { imageRecord } from '#core/catalog/image-record.ts';
import { BackupTask } from '#core/model/task.ts';
import { emulatorClientOptions, startAwsEmulator } from '#test/setup/aws-emulator.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/**
 * Amazon S3 Standard request prices in US East (N. Virginia), USD per 1,000
 * requests, as listed on the Amazon S3 pricing page (unchanged since 2018;
 * written down 2026-12-02, not fetched: this machine has no network).
 * Multipart calls (Create, UploadPart, Complete) and LIST are PUT-class;
 * HEAD is GET-class; DELETE and AbortMultipartUpload are free.
 */
export const S3_REQUEST_PRICES_US_EAST_1 = {
  asOf: '2026-12-02',
  putCopyPostListPer1000: 0.005,
  getSelectOtherPer1000: 0.0004,
} as const;

const PUT_CLASS = new Set(['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload', 'ListObjectsV2', 'ListObjects', 'ListObjectVersions', 'ListMultipartUploads', 'ListParts', 'CopyObject']);
const FREE = new Set(['DeleteObject', 'DeleteObjects', 'AbortMultipartUpload']);

interface Options {
  mib: number;
  smallFiles: number;
  partMib: number | undefined;
  json: boolean;
}

function parseArgs(argv: string[]): Options {
  const value = (name: string, fallback: number | undefined): number | undefined => {
    const at = argv.indexOf(name);
    if (at === -1) return fallback;
    const parsed = Number(argv[at + 1]);
    if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`${name} takes a whole number, 1 or more`);
    return parsed;
  };
  return { mib: value('--mib', 1024)!, smallFiles: value('--small-files', 1000)!, partMib: value('--part-mib', undefined), json: argv.includes('--json') };
}

interface Phase {
  seconds: number;
  byOperation: Record<string, number>;
  putClass: number;
  getClass: number;
  free: number;
  priceUsd: number;
}

function phaseOf(calls: CallLog, seconds: number): Phase {
  const byOperation: Record<string, number> = {};
  for (const call of calls.calls) byOperation[call.operation] = (byOperation[call.operation] ?? 0) + 1;
  let putClass = 0;
  let getClass = 0;
  let free = 0;
  for (const [operation, count] of Object.entries(byOperation)) {
    if (PUT_CLASS.has(operation)) putClass += count;
    else if (FREE.has(operation)) free += count;
    else getClass += count;
  }
  const priceUsd = (putClass * S3_REQUEST_PRICES_US_EAST_1.putCopyPostListPer1000 + getClass * S3_REQUEST_PRICES_US_EAST_1.getSelectOtherPer1000) / 1000;
  return { seconds, byOperation, putClass, getClass, free, priceUsd };
}

/** Small files of 0–16 KiB, then one large file of random MiB blocks making up the rest; returns the bytes and a digest of every file. */
async function generateTree(root: string, options: Options): Promise<{ bytes: number; digests: Map<string, string> }> {
  const digests = new Map<string, string>();
  const pool = randomBytes(MiB);
  let bytes = 0;
  mkdirSync(path.join(root, 'small'), { recursive: true });
  for (let i = 0; i < options.smallFiles; i++) {
    const size = (i * 7919) % 16_384;
    const data = pool.subarray((i * 104_729) % (pool.length - size), ((i * 104_729) % (pool.length - size)) + size);
    await writeFile(path.join(root, 'small', `f${i}.dat`), data);
    digests.set(`small/f${i}.dat`, createHash('sha256').update(data).digest('hex'));
    bytes += size;
  }
  const bigMiB = Math.max(1, options.mib - Math.ceil(bytes / MiB));
  const handle = await open(path.join(root, 'big.bin'), 'w');
  const hash = createHash('sha256');
  try {
    const block = randomBytes(MiB);
    for (let i = 0; i < bigMiB; i++) {
      block.writeUInt32BE(i, 0);
      hash.update(block);
      await handle.write(block);
    }
  } finally {
    await handle.close();
  }
  digests.set('big.bin', hash.digest('hex'));
  return { bytes: bytes + bigMiB * MiB, digests };
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const log = (line: string): void => void (options.json ? process.stderr : process.stdout).write(`${line}\n`);
  const emulator = await startAwsEmulator();
  if ('skip' in emulator) {
    console.log(`s3-requests: skipped: ${emulator.skip}`);
    return;
  }
  const work = mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-s3-'));
  const backupCalls = new CallLog();
  const restoreCalls = new CallLog();
  let recorder = backupCalls;
  const clients = createAwsClients({ ...emulatorClientOptions(emulator.endpoint), maxSockets: 8, recorder: { record: (call) => recorder.record(call) } }, {});
  try {
    const source = path.join(work, 'source');
    log(`generating ${options.mib} MiB (${options.smallFiles} small files and one large one) ...`);
    const tree = await generateTree(source, options);
    recorder = new CallLog();
    await clients.s3.send(new CreateBucketCommand({ Bucket: 'cairn-bench' }));
    recorder = backupCalls;
    const unit = { name: 'cloud', kind: 's3' as const, bucket: 'cairn-bench', prefix: 'site1', ...(options.partMib === undefined ? {} : { partSizeBytes: options.partMib * MiB }) };
    const store = new S3ObjectStore({ bucket: unit.bucket, prefix: unit.prefix, client: clients.s3, ...(unit.partSizeBytes === undefined ? {} : { partSizeBytes: unit.partSizeBytes }) });
    const task = BackupTask.parse({ jobId: 1, backupId: 'bench_1795400000', client: 'bench', policy: 'bench', schedule: 'full', level: 'full', selections: [source], storageUnit: unit });

    log('backing up to S3 on the emulator ...');
    let started = process.hrtime.bigint();
    const result = await runBackup(task, { store, reporter: { progress: async () => undefined, heartbeat: async () => undefined }, now: () => new Date() });
    const backup = phaseOf(backupCalls, Number(process.hrtime.bigint() - started) / 1e9);

    log('restoring it ...');
    recorder = restoreCalls;
    const target = path.join(work, 'restore');
    const image = imageRecord({ ...task, storageUnit: unit.name, retentionDays: 30 }, result);
    started = process.hrtime.bigint();
    await restoreImage({ store, image, targetDir: target });
    const restore = phaseOf(restoreCalls, Number(process.hrtime.bigint() - started) / 1e9);
    const differing = [...tree.digests].filter(([file, digest]) => createHash('sha256').update(readFileSync(path.join(target, source, file))).digest('hex') !== digest).map(([file]) => file);

    const gib = tree.bytes / GiB;
    const perGiB = (phase: Phase): Record<string, number> => Object.fromEntries(Object.entries(phase.byOperation).map(([op, n]) => [op, Math.round((n / gib) * 10) / 10]));
    const report = {
      dataBytes: tree.bytes,
      files: result.fileCount,
      fragments: result.fragments.length,
      partSizeBytes: options.partMib === undefined ? 'default (64 MiB, growing past 99.6 GiB)' : options.partMib * MiB,
      prices: S3_REQUEST_PRICES_US_EAST_1,
      backup: { ...backup, perGiB: perGiB(backup), priceUsdPerGiB: backup.priceUsd / gib },
      restore: { ...restore, perGiB: perGiB(restore), priceUsdPerGiB: restore.priceUsd / gib },
      restoreMatches: differing.length === 0,
    };
    if (options.json) console.log(JSON.stringify(report, null, 2));
    else {
      const usd = (n: number): string => `$${n.toFixed(6)}`;
      log('');
      log(`${(tree.bytes / MiB).toFixed(0)} MiB in ${result.fileCount} files, ${result.fragments.length} fragment(s); part size ${String(report.partSizeBytes)}`);
      log(`prices: us-east-1 S3 Standard, PUT/COPY/POST/LIST $${S3_REQUEST_PRICES_US_EAST_1.putCopyPostListPer1000} and GET/other $${S3_REQUEST_PRICES_US_EAST_1.getSelectOtherPer1000} per 1,000 (as of ${S3_REQUEST_PRICES_US_EAST_1.asOf})`);
      for (const [name, phase] of [['backup', backup], ['restore', restore]] as const) {
        log(`${name.padEnd(8)} ${phase.seconds.toFixed(1)} s; requests: ${Object.entries(phase.byOperation).map(([op, n]) => `${op} ${n}`).join(', ')}`);
        log(`${''.padEnd(8)} per GiB: ${Object.entries(perGiB(phase)).map(([op, n]) => `${op} ${n}`).join(', ')}; ${usd(phase.priceUsd / gib)} per GiB (PUT-class ${phase.putClass}, GET-class ${phase.getClass}, free ${phase.free})`);
      }
      log(differing.length === 0 ? 'restore matches the source' : `restore DIFFERS: ${differing.join(', ')}`);
    }
    if (differing.length > 0) process.exitCode = 1;
  } finally {
    clients.destroy();
    await emulator.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
