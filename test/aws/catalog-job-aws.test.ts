import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import type { AwsClients } from '#aws/clients.ts';
import { cloudStorageOpener } from '#aws/cloud-storage-opener.ts';
import { createTables } from '#aws/create-tables.ts';
import { DynamoCatalogStore } from '#aws/dynamo-catalog-store.ts';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { DynamoMediaStore } from '#aws/dynamo-media-store.ts';
import { dynamoMediaDatabase } from '#aws/dynamo-media-manager.ts';
import { dumpTablesToFile, TABLES_FILE } from '#aws/dynamo-table-dump.ts';
import { S3ObjectStore } from '#aws/s3-object-store.ts';
import { checkImageObjects } from '#agent/catalog/image-objects-check.ts';
import { unitCatalogImageWriter } from '#agent/catalog/unit-catalog-image.ts';
import { CATALOG_CLIENT } from '#core/model/dr-file.ts';
import type { Image } from '#core/model/image.ts';
import type { CatalogBackupJob, CatalogCheckJob } from '#core/model/job.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { FakeClock } from '#core/ports/clock.ts';
import type { ExecutionStarter } from '#core/ports/execution-starter.ts';
import { readAll } from '#core/ports/object-store.ts';
import { createCatalogJobHandler } from '#lambdas/catalog-job-handler.ts';
import { systemTimer } from '#lambdas/system-clock.ts';
import { cloudCatalogCheckDeps } from '#lambdas/cloud-catalog-check.ts';
import { createJobsHandler } from '#lambdas/jobs-handler.ts';
import { createSchedulerHandler } from '#lambdas/scheduler-handler.ts';
import { loadCatalogJobDefinition } from '#local/asl-definition.ts';
import { runInProcess } from '#local/in-process-execution.ts';
import { claimAndCommit, samplePolicy } from '#test/contracts/fixtures.ts';
import { emulatorClients, startAwsEmulator } from '#test/setup/aws-emulator.ts';
import { forgeImage, keyOf } from '../edge-agent/forge.ts';
import { cliAwsEnv, runCairn } from '../cli/cli-process.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;
const everyDay = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const allDay = [{ days: [...everyDay], start: '00:00', duration: 86_400 }];
const DAY = 86_400_000;

/**
 * Executions of one state machine, as Step Functions keeps them: a name
 * starts one execution, ever (a second start of the name answers
 * 'already-started'). Started executions wait in `pending` until the test
 * runs them, so two ticks can start before either has queued its job.
 */
class NamedExecutions implements ExecutionStarter {
  readonly names: string[] = [];
  readonly pending: { name: string; input: unknown }[] = [];
  async start(name: string, input: unknown) {
    if (this.names.includes(name)) return 'already-started' as const;
    this.names.push(name);
    this.pending.push({ name, input });
    return 'started' as const;
  }
}

/**
 * The scheduled catalog jobs of the cloud runtime on the emulator (moto):
 * the scheduler handler starts a policy's due catalogBackup and
 * catalogCheck as catalog-job executions, which run here in process
 * (catalog-job.asl.json in aws-local-stepfunctions, its Task states on the
 * catalog-job and jobs handlers wired as lambdas/catalog-job.ts wires
 * them), on the four DynamoDB tables and an S3 unit.
 */
describe.skipIf(Boolean(skip))(`scheduled catalog jobs in the cloud runtime${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let clients: AwsClients;
  let tables: Awaited<ReturnType<typeof createTables>>;
  let fresh: Awaited<ReturnType<typeof createTables>>;
  let work: string;
  let bucket: string;
  let store: S3ObjectStore;
  let good: Image;
  let gone: Image;
  const clock = new FakeClock(new Date());
  const catalogJobs = new NamedExecutions();
  let tick: ReturnType<typeof createSchedulerHandler>;
  let runPending: () => Promise<void>;
  let config: DynamoConfigStore;
  let jobs: DynamoJobStore;
  let catalog: DynamoCatalogStore;

  beforeAll(async () => {
    if ('skip' in emulator) return;
    work = mkdtempSync(join(tmpdir(), 'cairn-catalog-job-'));
    clients = emulatorClients(emulator.endpoint);
    const suffix = `${Date.now()}`;
    tables = await createTables(clients.dynamodb, `catjob${suffix}`);
    fresh = await createTables(clients.dynamodb, `catjobdr${suffix}`);
    bucket = `cairn-catjob-${randomUUID().slice(0, 12)}`;
    await clients.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const client = clients.documents;
    config = new DynamoConfigStore({ client, tableName: tables.config });
    jobs = new DynamoJobStore({ client, tableName: tables.jobs });
    catalog = new DynamoCatalogStore({ client, tableName: tables.catalog });
    const media = new DynamoMediaStore({ client, tableName: tables.media });
    const emm = dynamoMediaDatabase({ client, tableName: tables.media });
    await config.putStorageUnit(StorageUnit.parse({ name: 's3-unit', kind: 's3', bucket, prefix: 'site1' }));
    // A disk unit: a directory on an agent's host, which the Lambda cannot list.
    await config.putStorageUnit(StorageUnit.parse({ name: 'disk1', kind: 'disk', path: join(work, 'disk1') }));
    await config.putPolicy(
      samplePolicy('nightly', {
        storageUnit: 's3-unit',
        catalogBackup: { frequency: 7 * 86_400, windows: allDay },
        catalogCheck: { frequency: 86_400, windows: allDay, repair: false, grace: 60 },
      }),
    );
    store = new S3ObjectStore({ bucket, prefix: 'site1', client: clients.s3 });
    const onUnit = (image: Image): Image => ({ ...image, copies: [{ ...image.copies[0]!, storageUnit: 's3-unit' }] });
    good = onUnit(await forgeImage(store, 'good_1795400000', [{ name: 'a.txt', content: 'kept' }]));
    gone = onUnit(await forgeImage(store, 'gone_1795400001', [{ name: 'b.txt', content: 'lost' }]));
    for (const image of [good, gone]) await claimAndCommit(catalog, image);

    // The catalog-job function as lambdas/catalog-job.ts wires it, on the emulator's clients.
    const now = () => clock.now();
    const catalogJobHandler = createCatalogJobHandler({
      jobs,
      config,
      clock,
      timer: systemTimer,
      check: cloudCatalogCheckDeps({ catalog, config, jobs, media, emm, s3: clients.s3, executions: { executions: { describe: async () => undefined } }, checkImageObjects, now }),
      writeCatalogImage: unitCatalogImageWriter(
        { catalog, jobs, now, openStore: cloudStorageOpener(clients.s3) },
        { workDir: join(work, 'tmp'), fileName: TABLES_FILE, produce: (file) => dumpTablesToFile(client, tables, file) },
      ),
    });
    const jobsHandler = createJobsHandler({ config, jobs, clock });
    runPending = async () => {
      for (const { input } of catalogJobs.pending.splice(0)) {
        const end = await runInProcess(loadCatalogJobDefinition(), input as Record<string, unknown>, {
          queue: async (i) => (await catalogJobHandler(i)) as { jobId: number },
          states: { Run: (i) => catalogJobHandler(i), EndJob: (i) => jobsHandler(i) },
        });
        expect(end.jobId).toBeDefined();
      }
    };
    // Backups of the policy's clients are not this test's: their starter starts nothing.
    tick = createSchedulerHandler({ config, catalog, jobs, clock, starter: { start: async () => 'started' }, catalogJobs });
  });
  afterAll(async () => {
    clients?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
    if (!('skip' in emulator)) await emulator.stop();
  });

  it('backs the catalog up to the S3 unit from the tick, once for two ticks, with its DR file next to the image; recover from that DR file gives the same images', async () => {
    const first = await tick();
    const second = await tick();
    expect(first.catalogJobs?.started).toHaveLength(2);
    expect(second.catalogJobs).toEqual({ started: [], alreadyStarted: first.catalogJobs!.started, problems: [] });
    expect(catalogJobs.pending.map((p) => (p.input as { request: { kind: string } }).request.kind)).toEqual(['catalog-backup', 'catalog-check']);
    // The backup alone first (the check is this test's next step).
    const check = catalogJobs.pending.pop()!;
    await runPending();
    catalogJobs.pending.push(check);

    const backup = (await jobs.list({ limit: 50 })).find((j): j is CatalogBackupJob => j.type === 'catalog-backup')!;
    expect(backup).toMatchObject({ state: 'DONE', statusCode: 0, policy: 'nightly', storageUnit: 's3-unit', executionName: first.catalogJobs!.started[0] });
    const catalogImage = (await catalog.getImage(backup.image!))!;
    expect(catalogImage).toMatchObject({ client: CATALOG_CLIENT, state: 'ACTIVE', copies: [{ storageUnit: 's3-unit' }] });
    expect(backup.drFile).toBe(`s3://${bucket}/site1/catalog-dr/${catalogImage.backupId}.dr.json`);
    const dr = JSON.parse((await readAll(await store.get(`catalog-dr/${catalogImage.backupId}.dr.json`))).toString('utf8')) as { runtime: string; backupId: string };
    expect(dr).toMatchObject({ runtime: 'cloud', backupId: catalogImage.backupId });
    const imagesAtBackup = (await catalog.listImages()).map((i) => i.backupId).sort();

    // A third tick: the catalog was backed up this week, so no second backup.
    expect((await tick()).catalogJobs?.started).toEqual([]);

    const recovered = await runCairn(join(work, 'home'), ['--aws', '--endpoint', (emulator as { endpoint: string }).endpoint, 'catalog', 'recover', '--dr-file', backup.drFile!, '--json'], {
      env: cliAwsEnv(fresh, { CAIRN_AWS_ENDPOINT: (emulator as { endpoint: string }).endpoint }),
    });
    expect(recovered.code, recovered.stderr + recovered.stdout).toBe(0);
    expect(JSON.parse(recovered.stdout)).toMatchObject({ backupId: catalogImage.backupId, images: imagesAtBackup.length });
    const freshCatalog = new DynamoCatalogStore({ client: clients.documents, tableName: fresh.catalog });
    expect((await freshCatalog.listImages()).map((i) => i.backupId).sort()).toEqual(imagesAtBackup);
    expect(await freshCatalog.getImage(good.backupId)).toEqual(await catalog.getImage(good.backupId));
  }, 60_000);

  it('checks the catalog on schedule: finds a planted orphan and a deleted fragment, names the disk unit as not checked; with repair a later check is clean', async () => {
    await store.delete(keyOf(gone.copies[0]!.fragments[0]!));
    await store.put('images/ghost/ghost_1700000000/fragment-00001.tar', Buffer.alloc(321, 1));
    await runPending();
    const checks = async () => (await jobs.list({ limit: 50 })).filter((j): j is CatalogCheckJob => j.type === 'catalog-check').sort((a, b) => a.jobId - b.jobId);
    const [found] = await checks();
    expect(found).toMatchObject({ state: 'DONE', statusCode: 1, policy: 'nightly', repair: false, findings: { 'orphan-object': 1, 'damaged-image': 1 } });
    expect(found!.problems).toContain('storage unit disk1 could not be listed: disk1 is a disk unit on an agent\'s host, which the catalog-job Lambda cannot reach: it and the image copies on it were not checked (run `cairn --aws catalog check` where it is mounted)');

    // The next day, the policy asks for repairs: the tick starts one check, and the one after it finds nothing wrong.
    const policy = (await config.getPolicy('nightly'))!;
    await config.putPolicy({ ...policy, catalogCheck: { ...policy.catalogCheck!, repair: true } });
    clock.advance(DAY + 60_000);
    expect((await tick()).catalogJobs?.started).toHaveLength(1);
    await runPending();
    clock.advance(DAY + 60_000);
    expect((await tick()).catalogJobs?.started).toHaveLength(1);
    await runPending();
    const [, repaired, clean] = await checks();
    expect(repaired).toMatchObject({ state: 'DONE', repair: true, repairs: 2, unrepaired: 0 });
    expect(await store.head('images/ghost/ghost_1700000000/fragment-00001.tar')).toBeUndefined();
    expect(clean).toMatchObject({ state: 'DONE', findings: {}, unrepaired: 0 });
    // What is left is what the Lambda could not look at: said, by name, not skipped silently.
    expect(clean!.problems).toEqual([expect.stringContaining('storage unit disk1 could not be listed')]);
    expect(await catalog.getImage(good.backupId)).toMatchObject({ state: 'ACTIVE' });
  }, 60_000);
});
