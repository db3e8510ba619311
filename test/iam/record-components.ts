import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateMachine } from 'aws-local-stepfunctions';
import { CreateBucketCommand, CreateMultipartUploadCommand, PutBucketVersioningCommand } from '@aws-sdk/client-s3';
import { CreateStateMachineCommand } from '@aws-sdk/client-sfn';
import { CallLog, type AwsCall } from '#aws/call-recorder.ts';
import { createAwsClients, type AwsClients } from '#aws/clients.ts';
import { createTables } from '#aws/create-tables.ts';
import { S3ObjectStore, s3StorageUnitStore } from '#aws/s3-object-store.ts';
import { SfnExecutionStarter } from '#aws/sfn-execution-starter.ts';
import { SfnExecutionStatuses } from '#aws/sfn-execution-status.ts';
import { sfnTaskToken } from '#aws/sfn-task-reporter.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { systemClock, systemTimer } from '#lambdas/system-clock.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { createBrokerHandler } from '#lambdas/broker-handler.ts';
import { createCatalogHandler } from '#lambdas/catalog-handler.ts';
import { dynamoDeps } from '#lambdas/dynamo-deps.ts';
import { createJobsHandler } from '#lambdas/jobs-handler.ts';
import { withUsageRecording } from '#lambdas/usage-recording.ts';
import { createSchedulerHandler } from '#lambdas/scheduler-handler.ts';
import { cloudReachable, cloudStorageOpener } from '#aws/cloud-storage-opener.ts';
import { setImageExpiry } from '#core/catalog/expire-images.ts';
import { S3AbandonedUploads } from '#aws/multipart-sweep.ts';
import { SsmOperatorCommands } from '#aws/ssm-agent-command.ts';
import { holdersOfUnloads } from '#core/media/idle-unload.ts';
import { createJanitorHandler } from '#lambdas/janitor-handler.ts';
import { createReportHandler } from '#lambdas/report-handler.ts';
import { CreateTopicCommand } from '@aws-sdk/client-sns';
import { SnsReportPublisher } from '#aws/sns-report-publisher.ts';
import { sendSnapshotDelete } from '#core/jobs/snapshot-delete.ts';
import { runTask } from '#agent/transport/run-task.ts';
import { loadBackupJobDefinition, loadDuplicateJobDefinition, loadRestoreJobDefinition, loadVerifyJobDefinition } from '#local/asl-definition.ts';
import { createDuplicateHandler } from '#lambdas/duplicate-handler.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { createRestoreHandler } from '#lambdas/restore-handler.ts';
import { createVerifyHandler } from '#lambdas/verify-handler.ts';
import type { DuplicateJob, VerifyJob } from '#core/model/job.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { emulatorClientOptions } from '../setup/aws-emulator.ts';
import { createCatalogJobHandler } from '#lambdas/catalog-job-handler.ts';
import { cloudCatalogCheckDeps } from '#lambdas/cloud-catalog-check.ts';
import { dumpTablesToFile, TABLES_FILE } from '#aws/dynamo-table-dump.ts';
import { checkImageObjects } from '#agent/catalog/image-objects-check.ts';
import { unitCatalogImageWriter } from '#agent/catalog/unit-catalog-image.ts';
import { loadCatalogJobDefinition } from '#local/asl-definition.ts';
import { runInProcess } from '#local/in-process-execution.ts';
import { newMedia } from '#core/model/tape-media.ts';
import { DISK_CHANGER, diskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';
import { claimOf, sampleImage, sampleJob, samplePolicy, sampleRestoreJob } from '../contracts/fixtures.ts';

/** The principals of the stack whose calls our code makes (cdk/constructs/*). */
export const COMPONENTS = ['jobs', 'broker', 'catalog', 'restore', 'verify', 'duplicate', 'scheduler', 'janitor', 'report', 'agent', 'catalogJob'] as const;
export type Component = (typeof COMPONENTS)[number];

/** The names the emulator's resources got; the checker maps the template's tables and bucket onto them. */
export interface EmulatedNames {
  tables: { config: string; jobs: string; catalog: string; media: string };
  bucket: string;
  stateMachineArn: string;
  /** The restore-job state machine's; absent, the template's restore state machine maps to `stateMachineArn`. */
  restoreStateMachineArn?: string;
  /** The verify-job state machine's (mapped the same way). */
  verifyStateMachineArn?: string;
  /** The duplicate-job state machine's (mapped the same way). */
  duplicateStateMachineArn?: string;
  /** The reports topic on the emulator (the report function publishes to it). */
  reportsTopicArn?: string;
}

export interface Recording {
  calls: Record<Component, AwsCall[]>;
  names: EmulatedNames;
  /** What each scenario ended with, so the suite can tell a scenario that went wrong from one that ran. */
  outcomes: Record<string, unknown>;
}

const SCHEDULER_NOW = new Date('2026-11-24T22:30:00.000Z');

/**
 * Runs every cloud code path once against the emulator, each component with
 * its own recording SDK clients, as each runs in AWS: the Lambdas through
 * their handlers (wired by lambdas/dynamo-deps.ts) in the real backup-job ASL,
 * the agent through `runTask` on an S3 storage unit, the scheduler through its
 * tick. Paths: a full and an incremental backup, a backup that fails (nothing
 * to back up: the Failed, Release, RetryDecision and EndJob states), a job
 * cancelled under a running agent (its objects removed), and two ticks of the
 * scheduler (started, then already started; the first sweeps a job whose
 * execution does not exist), and the janitor on a stopped execution's job.
 * The janitor's and the sweep's jobs each hold a slot and have a catalogued
 * image, so ending them withdraws it and releases the slot. A tape backup
 * (Mount, Stream, Unmount by the agent on Debian's disk-changer, its index on
 * S3) makes the broker and the catalog use the media manager on the Media
 * table: callers need bacula-sd's disk-changer (iam-grants.test.ts skips
 * without it).
 */
export async function recordComponents(endpoint: string, options: { agentCommandDocument?: string } = {}): Promise<Recording> {
  const work = mkdtempSync(join(tmpdir(), 'cairn-iam-'));
  const setup = createAwsClients(emulatorClientOptions(endpoint), {});
  const logs = Object.fromEntries(COMPONENTS.map((c) => [c, new CallLog()])) as Record<Component, CallLog>;
  const clients = Object.fromEntries(COMPONENTS.map((c) => [c, createAwsClients({ ...emulatorClientOptions(endpoint), maxSockets: 4, recorder: logs[c] }, {})])) as Record<Component, AwsClients>;
  try {
    // Prepare: the stack's resources on the emulator (versioned bucket, as cdk/constructs/image-store.ts makes it).
    const tables = await createTables(setup.dynamodb, `iam${Date.now()}`);
    const bucket = `cairn-iam-${Date.now()}`;
    await setup.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await setup.s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    const created = await setup.sfn.send(
      new CreateStateMachineCommand({ name: `backup-job-${Date.now()}`, definition: JSON.stringify(loadBackupJobDefinition()), roleArn: 'arn:aws:iam::123456789012:role/cairn-state-machine' }),
    );
    const stateMachineArn = created.stateMachineArn!;
    const restoreStateMachineArn = (
      await setup.sfn.send(new CreateStateMachineCommand({ name: `restore-job-${Date.now()}`, definition: JSON.stringify(loadRestoreJobDefinition()), roleArn: 'arn:aws:iam::123456789012:role/cairn-state-machine' }))
    ).stateMachineArn!;
    const verifyStateMachineArn = (
      await setup.sfn.send(new CreateStateMachineCommand({ name: `verify-job-${Date.now()}`, definition: JSON.stringify(loadVerifyJobDefinition()), roleArn: 'arn:aws:iam::123456789012:role/cairn-state-machine' }))
    ).stateMachineArn!;
    const duplicateStateMachineArn = (
      await setup.sfn.send(new CreateStateMachineCommand({ name: `duplicate-job-${Date.now()}`, definition: JSON.stringify(loadDuplicateJobDefinition()), roleArn: 'arn:aws:iam::123456789012:role/cairn-state-machine' }))
    ).stateMachineArn!;
    const env = { CONFIG_TABLE: tables.config, JOBS_TABLE: tables.jobs, CATALOG_TABLE: tables.catalog, MEDIA_TABLE: tables.media, AWS_REGION: 'us-east-1' };
    const admin = dynamoDeps(env, setup);
    // 5 MiB parts (S3's smallest): the 9 MiB file below makes a multipart upload.
    await admin.config.putStorageUnit(StorageUnit.parse({ name: 's3-unit', kind: 's3', bucket, prefix: 'site1', fragmentSizeBytes: 1024 * 1024, partSizeBytes: 5 * 1024 * 1024 }));
    // Due every evening (SCHEDULER_NOW is a Tuesday 22:30 UTC), for both of its clients.
    const everyDay = { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '22:00', duration: 7200 };
    await admin.config.putPolicy(
      samplePolicy('nightly', { storageUnit: 's3-unit', selections: [join(work, 'source')], schedules: [{ name: 'full', type: 'full', frequency: 86400, windows: [everyDay], retention: { days: 7 } }] as never }),
    );

    // As the entry files wire them (lambdas/metered-deps.ts): each invocation adds its usage to its job.
    const metered = <O>(deps: ReturnType<typeof dynamoDeps>, handler: (event: unknown) => Promise<O>) =>
      withUsageRecording(handler, { jobs: deps.jobs, takeUsage: () => ({}), elapsedMs: () => performance.now(), arch: process.arch, onFailure: (error) => { throw error; } });
    const jobsDeps = dynamoDeps(env, clients.jobs);
    const brokerDeps = dynamoDeps(env, clients.broker);
    const catalogDeps = dynamoDeps(env, clients.catalog);
    const jobsHandler = metered(jobsDeps, createJobsHandler(jobsDeps));
    const brokerHandler = metered(brokerDeps, createBrokerHandler(brokerDeps));
    const catalogHandler = metered(catalogDeps, createCatalogHandler(catalogDeps));
    const agent = agentRunner(clients.agent, tables.jobs);
    const imageOf = (outcome: unknown): string | undefined => (outcome as { output?: { image?: { backupId?: string } } }).output?.image?.backupId;
    const runWorkflow = (request: Record<string, unknown>) => runBackupWorkflow({ jobs: jobsHandler, broker: brokerHandler, catalog: catalogHandler, stream: agent.stream }, request);

    // Act: the paths.
    const outcomes: Record<string, unknown> = {};
    const source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 9 * 1024 * 1024 });
    outcomes.full = await runWorkflow({ client: 'cloudhost', selections: [source], storageUnit: 's3-unit', owner: 'iam' });
    outcomes.incremental = await runWorkflow({ client: 'cloudhost', selections: [source], storageUnit: 's3-unit', level: 'differential-incremental', owner: 'iam' });
    outcomes.failed = await runWorkflow({ client: 'cloudhost', selections: [join(work, 'missing')], storageUnit: 's3-unit', owner: 'iam' });
    // The full verified by a verify job (verify-job.asl.json): the verify Lambda's Queue, Start and Record, the agent's Verify.
    const verifyDeps = dynamoDeps(env, clients.verify);
    const verifyHandler = metered(verifyDeps, createVerifyHandler(verifyDeps));
    const verifyHandlers = { verify: verifyHandler, broker: brokerHandler, jobs: jobsHandler, agent: agent.stream };
    outcomes.verify = await runVerifyWorkflow(verifyHandlers, { backupId: imageOf(outcomes.full), owner: 'iam' });
    // A disk image (a backup to a disk unit on the agent's host) copied to a second S3 unit by a duplicate job
    // (duplicate-job.asl.json): the duplicate Lambda's Queue, Start and Record, the agent's Copy (puts and read-back on S3).
    await admin.config.putStorageUnit(StorageUnit.parse({ name: 'disk-unit', kind: 'disk', path: join(work, 'disk-unit'), fragmentSizeBytes: 1024 * 1024 }));
    await admin.config.putStorageUnit(StorageUnit.parse({ name: 's3-copy', kind: 's3', bucket, prefix: 'site2', fragmentSizeBytes: 1024 * 1024, partSizeBytes: 5 * 1024 * 1024 }));
    outcomes.diskFull = await runWorkflow({ client: 'cloudhost', selections: [source], storageUnit: 'disk-unit', owner: 'iam' });
    const duplicateDeps = dynamoDeps(env, clients.duplicate);
    const duplicateHandler = metered(duplicateDeps, createDuplicateHandler(duplicateDeps));
    outcomes.duplicate = await runDuplicateWorkflow({ duplicate: duplicateHandler, jobs: jobsHandler, agent: agent.stream }, { backupId: imageOf(outcomes.diskFull), to: 's3-copy', owner: 'iam' });
    outcomes.duplicateCopies = (await admin.catalog.getImage(imageOf(outcomes.diskFull) ?? ''))?.copies.map((c) => [c.copyNumber, c.storageUnit]);
    // An S3 image copied to a second S3 unit the same way: the agent reads the source objects it is granted, and lists
    // nothing (write-copy.ts finds the objects from the catalog record and the index; the agent has no s3:ListBucket).
    outcomes.s3Duplicate = await runDuplicateWorkflow({ duplicate: duplicateHandler, jobs: jobsHandler, agent: agent.stream }, { backupId: imageOf(outcomes.full), to: 's3-copy', owner: 'iam' });
    outcomes.s3DuplicateCopies = (await admin.catalog.getImage(imageOf(outcomes.full) ?? ''))?.copies.map((c) => [c.copyNumber, c.storageUnit]);
    // A tape unit: the broker chooses a drive and a scratch volume from the media manager (and moves the volume into the
    // pool), the catalog records the tape files, Release records the drive as Unmount left it.
    const library = diskChangerLibrary({ slots: 2, drives: 1, barcodes: { 1: 'IAM001' } });
    try {
      await admin.emm.addRobot({ name: 'iamlib', client: 'cloudhost', changer: { type: 'changer-script', script: DISK_CHANGER, changerDevice: library.changerDevice }, fileTapeCapacityBytes: 64 * 1024 * 1024 }, new Date());
      await admin.emm.addDrive({ name: 'iamlib-d0', robot: 'iamlib', index: 0, path: library.drives[0]!, blockSize: 64 * 1024 });
      await admin.emm.addPool({ name: 'iampool' });
      await admin.emm.addMedia(newMedia('IAM001', new Date(), { robot: 'iamlib', slot: 1 }));
      await admin.config.putStorageUnit(StorageUnit.parse({ name: 'tape-unit', kind: 'tape', robot: 'iamlib', pool: 'iampool', index: { name: 'tape-index', kind: 's3', bucket, prefix: 'site1' } }));
      outcomes.tape = await runWorkflow({ client: 'cloudhost', selections: [source], storageUnit: 'tape-unit', owner: 'iam' });
      outcomes.tapeVolume = await admin.emm.getMedia('IAM001');
      // That image restored by a restore job (restore-job.asl.json): the restore Lambda's Queue, Plan, Reserve and
      // RecordRead, the broker's Release, the jobs function's EndJob, the agent's Mount, Read and Unmount.
      const restoreDeps = dynamoDeps(env, clients.restore);
      const restoreHandler = metered(restoreDeps, createRestoreHandler(restoreDeps));
      const tapeImage = (outcomes.tape as { output?: { image?: { backupId?: string } } }).output?.image?.backupId;
      outcomes.restore = await runRestoreWorkflow({ restore: restoreHandler, broker: brokerHandler, jobs: jobsHandler, agent: agent.stream }, { backupId: tapeImage, targetDir: join(work, 'restored'), owner: 'iam' });
      // And verified by a verify job: its Plan, Reserve and RecordRead read the media manager, Release the broker's.
      outcomes.tapeVerify = await runVerifyWorkflow(verifyHandlers, { backupId: tapeImage, owner: 'iam' });
    } finally {
      await library.cleanup();
    }
    outcomes.cancelled = await runCancelledAgent(admin, agent, source);
    // What a reader of the bucket still sees of the cancelled image (its bytes stay as noncurrent versions until they expire).
    outcomes.cancelledLeftovers = await new S3ObjectStore({ bucket, prefix: 'site1', client: setup.s3 }).list('images/cancelhost/');

    // The janitor on the event of a stopped execution, as EventBridge delivers it. Its policy takes snapshots: the janitor
    // sends its agent (the client's hybrid instance) delete-snapshot with the operator's document, as lambdas/janitor.ts wires it.
    const agentCommandDocument = options.agentCommandDocument ?? 'cairn-RunAgentCommand-iam';
    await admin.config.putPolicy(samplePolicy('snapshotting', { storageUnit: 's3-unit', clients: [{ name: 'stuckhost', priority: 1 }], snapshot: 'btrfs' }));
    await admin.config.putClient({ name: 'stuckhost', instanceId: 'mi-0123456789abcdef5' });
    await stuckJob(admin, 9001, 'iam-stopped', 'snapshotting');
    const janitorDeps = dynamoDeps(env, clients.janitor);
    const janitorAgents = new SsmOperatorCommands({ client: clients.janitor.ssm, documentName: agentCommandDocument });
    const janitor = createJanitorHandler({
      ...janitorDeps,
      deleteSnapshots: (job) => sendSnapshotDelete({ config: janitorDeps.config, emm: janitorDeps.emm, agents: janitorAgents }, job),
      stateMachineArn,
      restoreStateMachineArn,
      verifyStateMachineArn,
      duplicateStateMachineArn,
      clock: { now: () => SCHEDULER_NOW },
    });
    outcomes.janitor = await janitor(executionEvent(stateMachineArn, 'iam-stopped', 'ABORTED'));
    // A restore execution stopped while its job held the tape drive: the janitor records the drive as possibly loaded (the media manager).
    await stuckRestore(admin, 9003, 'iam-restore-stopped');
    outcomes.restoreJanitor = await janitor(executionEvent(restoreStateMachineArn, 'iam-restore-stopped', 'ABORTED'));
    // A verify execution that timed out: the janitor ends its job (of the verify kind, found on the verify-job machine).
    await stuckVerify(admin, 9005, 'iam-verify-stopped');
    outcomes.verifyJanitor = await janitor(executionEvent(verifyStateMachineArn, 'iam-verify-stopped', 'TIMED_OUT'));
    // A policy copy's duplicate execution that was stopped: the janitor ends its job (found on the duplicate-job machine).
    await stuckDuplicate(admin, 9007, 'iam-duplicate-stopped');
    outcomes.duplicateJanitor = await janitor(executionEvent(duplicateStateMachineArn, 'iam-duplicate-stopped', 'ABORTED'));

    // A drive kept loaded an hour past its unit's delay, on a robot whose client's agent runs on a hybrid instance: the first
    // tick sends it the unload (the operator's document, as the stack names it), the second reads the invocation (moto answers
    // Success with no output: no agent answer, so the drive stays recorded loaded and the hold is given back).
    await idleDrive(admin, 'mi-0123456789abcdef3');
    await stuckJob(admin, 9002, 'iam-gone');
    // A restore job whose restore execution does not exist: the sweep describes it on the restore-job state machine.
    await stuckRestore(admin, 9004, 'iam-restore-gone');
    // A verify job whose verify execution does not exist: the sweep describes it on the verify-job state machine.
    await stuckVerify(admin, 9006, 'iam-verify-gone');
    // A policy copy's duplicate job whose execution does not exist: the sweep describes it on the duplicate-job state machine.
    await stuckDuplicate(admin, 9008, 'iam-duplicate-gone');
    // A policy that copies its images to s3-copy: the tick starts a duplicate-job execution for its image.
    await admin.config.putPolicy(samplePolicy('copied', { storageUnit: 's3-unit', clients: [{ name: 'copyhost' }], selections: [join(work, 'source')], copies: [{ storageUnit: 's3-copy', retention: { days: 30 } }] } as never));
    await admin.catalog.claimBackupId(claimOf(sampleImage('copyhost', new Date(SCHEDULER_NOW.getTime() - 86_400_000), { policy: 'copied', storageUnit: 's3-unit' })));
    await admin.catalog.putImage(sampleImage('copyhost', new Date(SCHEDULER_NOW.getTime() - 86_400_000), { policy: 'copied', storageUnit: 's3-unit' }));
    // A policy whose verify schedule is due at the tick (its backups are not): the tick starts a verify-job execution of cloudhost's latest image of it.
    await admin.config.putPolicy(
      samplePolicy('verified', {
        storageUnit: 's3-unit',
        clients: [{ name: 'cloudhost' }],
        selections: [join(work, 'source')],
        verify: { frequency: 86400, windows: [everyDay] },
      } as never),
    );
    await admin.catalog.claimBackupId(claimOf(sampleImage('cloudhost', new Date(SCHEDULER_NOW.getTime() - 86_400_000), { policy: 'verified', storageUnit: 's3-unit' })));
    await admin.catalog.putImage(sampleImage('cloudhost', new Date(SCHEDULER_NOW.getTime() - 86_400_000), { policy: 'verified', storageUnit: 's3-unit' }));
    // A multipart upload a dead agent left (moto dates every upload's start to 2010): the sweep lists its parts and aborts it.
    await setup.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'site1/images/deadhost/deadhost_1795400000/fragment-000001.tar' }));
    // The incremental and the tape image past their retention (shortened by the administrator): the first tick's cleanup
    // expires them (their objects in the bucket deleted, the tape volume emptied and returned to scratch).
    for (const backupId of [imageOf(outcomes.incremental), imageOf(outcomes.tape)]) if (backupId) await setImageExpiry(admin, backupId, new Date('2026-11-01T00:00:00Z'));
    const schedulerDeps = dynamoDeps(env, clients.scheduler);
    const tick = createSchedulerHandler({
      ...schedulerDeps,
      starter: new SfnExecutionStarter({ client: clients.scheduler.sfn, stateMachineArn }),
      sweep: {
        executions: new SfnExecutionStatuses({ client: clients.scheduler.sfn, stateMachineArn }),
        restoreExecutions: new SfnExecutionStatuses({ client: clients.scheduler.sfn, stateMachineArn: restoreStateMachineArn }),
        verifyExecutions: new SfnExecutionStatuses({ client: clients.scheduler.sfn, stateMachineArn: verifyStateMachineArn }),
        duplicateExecutions: new SfnExecutionStatuses({ client: clients.scheduler.sfn, stateMachineArn: duplicateStateMachineArn }),
        media: schedulerDeps.media,
        emm: schedulerDeps.emm,
        spared: () => holdersOfUnloads(schedulerDeps.emm),
        uploads: new S3AbandonedUploads({ client: clients.scheduler.s3, buckets: [bucket] }),
      },
      idleUnload: { media: schedulerDeps.media, emm: schedulerDeps.emm, agents: new SsmOperatorCommands({ client: clients.scheduler.ssm, documentName: agentCommandDocument }) },
      expiration: { openStorageUnit: cloudStorageOpener(clients.scheduler.s3), canReach: cloudReachable, media: schedulerDeps.media, emm: schedulerDeps.emm },
      verifies: new SfnExecutionStarter({ client: clients.scheduler.sfn, stateMachineArn: verifyStateMachineArn }),
      duplicates: new SfnExecutionStarter({ client: clients.scheduler.sfn, stateMachineArn: duplicateStateMachineArn }),
      clock: { now: () => SCHEDULER_NOW },
    });
    outcomes.ticks = [await tick(), await tick()];

    // The catalog-job function (lambdas/catalog-job.ts, wired as its entry wires it) in catalog-job.asl.json: a scheduled
    // catalog backup to the S3 unit (the tables scanned, the image and its DR object written), then a scheduled check with
    // repair that finds a stray object (deleted) and looks at every copy and open job.
    const catalogJobDeps = dynamoDeps(env, clients.catalogJob);
    const later = { now: () => new Date(Date.now() + 3600_000) };
    const catalogJobHandler = metered(
      catalogJobDeps,
      createCatalogJobHandler({
        jobs: catalogJobDeps.jobs,
        config: catalogJobDeps.config,
        clock: later,
        timer: systemTimer,
        check: cloudCatalogCheckDeps({
          catalog: catalogJobDeps.catalog,
          config: catalogJobDeps.config,
          jobs: catalogJobDeps.jobs,
          media: catalogJobDeps.media,
          emm: catalogJobDeps.emm,
          s3: clients.catalogJob.s3,
          executions: {
            executions: new SfnExecutionStatuses({ client: clients.catalogJob.sfn, stateMachineArn }),
            restoreExecutions: new SfnExecutionStatuses({ client: clients.catalogJob.sfn, stateMachineArn: restoreStateMachineArn }),
            verifyExecutions: new SfnExecutionStatuses({ client: clients.catalogJob.sfn, stateMachineArn: verifyStateMachineArn }),
          },
          checkImageObjects,
          now: later.now,
        }),
        writeCatalogImage: unitCatalogImageWriter(
          { catalog: catalogJobDeps.catalog, jobs: catalogJobDeps.jobs, now: later.now, openStore: cloudStorageOpener(clients.catalogJob.s3) },
          { workDir: join(work, 'catalog-job'), fileName: TABLES_FILE, produce: (file) => dumpTablesToFile(clients.catalogJob.documents, tables, file) },
        ),
      }),
    );
    await new S3ObjectStore({ bucket, prefix: 'site1', client: setup.s3 }).put('images/ghost/ghost_1700000000/fragment-00001.tar', Buffer.alloc(10, 1));
    // Jobs of each kind whose executions Step Functions does not know: the check describes them and its repair ends them.
    await stuckJob(admin, 9101, 'iam-catalog-gone');
    await stuckRestore(admin, 9102, 'iam-catalog-restore-gone');
    await stuckVerify(admin, 9103, 'iam-catalog-verify-gone');
    outcomes.catalogJobs = [];
    for (const request of [
      { kind: 'catalog-backup', policy: 'iam-catalog', storageUnit: 's3-unit', dueAt: SCHEDULER_NOW.toISOString(), executionName: 'iam-catalog-backup' },
      { kind: 'catalog-check', policy: 'iam-catalog', repair: true, graceSeconds: 60, dueAt: SCHEDULER_NOW.toISOString(), executionName: 'iam-catalog-check' },
    ]) {
      const end = await runInProcess(loadCatalogJobDefinition(), { request }, {
        queue: async (input) => (await catalogJobHandler(input)) as { jobId: number },
        states: { Run: (input) => catalogJobHandler(input), EndJob: (input) => jobsHandler(input) },
      });
      (outcomes.catalogJobs as unknown[]).push({ ...end, job: end.jobId === undefined ? undefined : await admin.jobs.get(end.jobId) });
    }

    // The report function (lambdas/report.ts) on the day's report: it reads the jobs above and publishes to the reports topic.
    const reportsTopicArn = (await setup.sns.send(new CreateTopicCommand({ Name: `cairn-reports-${Date.now()}` }))).TopicArn!;
    const reportDeps = dynamoDeps(env, clients.report);
    const report = createReportHandler({ jobs: reportDeps.jobs, clock: reportDeps.clock, publisher: new SnsReportPublisher(reportsTopicArn, clients.report.sns) });
    outcomes.report = await report({ since: '24h' });

    const calls = Object.fromEntries(COMPONENTS.map((c) => [c, logs[c].calls])) as Record<Component, AwsCall[]>;
    return { calls, names: { tables, bucket, stateMachineArn, restoreStateMachineArn, verifyStateMachineArn, duplicateStateMachineArn, reportsTopicArn }, outcomes };
  } finally {
    for (const c of COMPONENTS) clients[c].destroy();
    setup.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

type Handler = (input: unknown) => Promise<unknown>;

/**
 * A workflow's real ASL in-process (aws-local-stepfunctions), each Task state
 * handled by the component that runs it in AWS; the run's output, or its error
 * as `name: message`. The four runners below only say which component runs
 * which state.
 */
async function runAsl(definition: unknown, token: string, states: Record<string, Handler>, request: Record<string, unknown>): Promise<unknown> {
  const machine = new StateMachine(definition as never, { validationOptions: { checkPaths: true, checkArn: false } });
  const execution = machine.run({ request } as never, {
    context: { Task: { Token: token } } as never,
    overrides: { taskResourceLocalHandlers: states as never },
  });
  try {
    return { output: await execution.result };
  } catch (error) {
    return { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}

/** The backup-job ASL in-process, each Task state handled by its component, as in AWS. */
function runBackupWorkflow(handlers: { jobs: Handler; broker: Handler; catalog: Handler; stream: Handler }, request: Record<string, unknown>): Promise<unknown> {
  const { jobs, broker, catalog, stream } = handlers;
  return runAsl(loadBackupJobDefinition(), 'iam-task-token', { Queue: jobs, RetryDecision: jobs, EndJob: jobs, Reserve: broker, Release: broker, Catalog: catalog, Mount: stream, Stream: stream, Unmount: stream }, request);
}

/** The restore-job ASL in-process, each Task state handled by its component, as in AWS. */
function runRestoreWorkflow(handlers: { restore: Handler; broker: Handler; jobs: Handler; agent: Handler }, request: Record<string, unknown>): Promise<unknown> {
  const { restore, broker, jobs, agent } = handlers;
  return runAsl(
    loadRestoreJobDefinition(),
    'iam-restore-token',
    { Queue: restore, Plan: restore, Reserve: restore, RecordRead: restore, NextCopy: restore, Release: broker, EndJob: jobs, Mount: agent, Read: agent, Unmount: agent },
    request,
  );
}

/** The verify-job ASL in-process, each Task state handled by its component, as in AWS (disk and S3 images: Start, Verify, Record; tape: the volume loop). */
function runVerifyWorkflow(handlers: { verify: Handler; broker: Handler; jobs: Handler; agent: Handler }, request: Record<string, unknown>): Promise<unknown> {
  const { verify, broker, jobs, agent } = handlers;
  return runAsl(
    loadVerifyJobDefinition(),
    'iam-verify-token',
    { Queue: verify, Start: verify, Record: verify, Plan: verify, Reserve: verify, RecordRead: verify, Release: broker, EndJob: jobs, Verify: agent, Mount: agent, Read: agent, Unmount: agent },
    request,
  );
}

/** The duplicate-job ASL in-process, each Task state handled by its component, as in AWS. */
function runDuplicateWorkflow(handlers: { duplicate: Handler; jobs: Handler; agent: Handler }, request: Record<string, unknown>): Promise<unknown> {
  const { duplicate, jobs, agent } = handlers;
  return runAsl(loadDuplicateJobDefinition(), 'iam-duplicate-token', { Queue: duplicate, Start: duplicate, Record: duplicate, EndJob: jobs, Copy: agent }, request);
}

/**
 * The agent as the SSM document runs it (`runTask`), with the agent's clients.
 * The task-token answer it sends (SendTaskSuccess / SendTaskFailure) is what
 * the Stream state returns or throws, as Step Functions would make it.
 */
function agentRunner(clients: AwsClients, jobsTable: string) {
  let answer: { output?: string; error?: string; cause?: string } = {};
  clients.sfn.middlewareStack.add(
    ((next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: { input: Record<string, string> }) => {
      // Answers here instead of the emulator, which has no task for the token (recorded already: the recorder runs first).
      if (context.commandName === 'SendTaskSuccessCommand') answer = { output: args.input.output };
      else if (context.commandName === 'SendTaskFailureCommand') answer = { error: args.input.error, cause: args.input.cause };
      else return next(args);
      return { output: {} };
    }) as never,
    { step: 'initialize', name: 'iamTaskAnswer', priority: 'low' } as never,
  );
  let afterPut: ((key: string) => Promise<void>) | undefined;
  const openStore = async (opened: StorageUnit) => {
    // A tape unit's store is its index unit's (its fragments go to the volume).
    const unit = opened.kind === 'tape' ? opened.index : opened;
    // A disk unit is on the agent's host: no AWS call (the duplicate job's source copy).
    if (unit.kind === 'disk') return new FsObjectStore(unit.path);
    if (unit.kind !== 's3') throw new Error('the IAM suite backs up to S3 and disk only');
    const store = s3StorageUnitStore(unit, clients.s3);
    const put: S3ObjectStore['put'] = async (key, body) => {
      const written = await S3ObjectStore.prototype.put.call(store, key, body);
      await afterPut?.(key);
      return written;
    };
    return Object.assign(store, { put });
  };
  /** Runs `hook` after each object the agent writes until the next run (a cancel that lands mid-stream). */
  const onPut = (hook: ((key: string) => Promise<void>) | undefined): void => void (afterPut = hook);
  const run = async (command: string, taskToken: string) => {
    answer = {};
    const statusCode = await runTask(
      { command },
      { token: sfnTaskToken(clients.sfn, taskToken), jobs: new DynamoJobStore({ client: clients.documents, tableName: jobsTable }), openStore, clock: systemClock },
    );
    return { statusCode, answer };
  };
  const stream: Handler = async (input) => {
    const parameters = (input as { Parameters: { command: string[]; taskToken: string[] } }).Parameters;
    const { answer: sent } = await run(parameters.command[0]!, parameters.taskToken[0]!);
    if (sent.output !== undefined) return JSON.parse(sent.output) as unknown;
    throw Object.assign(new Error(sent.cause ?? 'no answer'), { name: sent.error ?? 'States.TaskFailed' });
  };
  return { stream, run, onPut };
}

/** A job cancelled while its agent runs: the agent learns it from its progress report, removes what it wrote and fails the task. */
async function runCancelledAgent(admin: ReturnType<typeof dynamoDeps>, agent: ReturnType<typeof agentRunner>, source: string): Promise<unknown> {
  const jobId = await admin.jobs.nextJobId();
  const backupId = `cancelhost_${1795400000 + jobId}`;
  const at = new Date().toISOString();
  const unit = await admin.config.getStorageUnit('s3-unit');
  await admin.jobs.create({
    jobId, type: 'backup', state: 'ACTIVE', attempt: 1, client: 'cancelhost', policy: 'manual', schedule: 'manual', level: 'full', storageUnit: 's3-unit',
    selections: [source], exclude: [], retentionDays: 7, backupId, progress: { files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 },
    unreadable: [], attempts: [], queuedAt: at, updatedAt: at,
  });
  // `cairn jobs cancel` once the first fragment is stored: the agent sees DONE at its next report, stops and removes what it wrote.
  agent.onPut(async () => {
    agent.onPut(undefined);
    await admin.jobs.update(jobId, (job) => ({ ...job, state: 'DONE', statusCode: 150 }));
  });
  const task = { jobId, backupId, client: 'cancelhost', policy: 'manual', schedule: 'manual', level: 'full', selections: [source], storageUnit: unit };
  try {
    return await agent.run(JSON.stringify({ kind: 'backup', task }), 'iam-cancel-token');
  } finally {
    agent.onPut(undefined);
  }
}

/** A job its execution left ACTIVE: quiet since before the scheduler's tick, holding a slot, its image catalogued. */
async function stuckJob(admin: ReturnType<typeof dynamoDeps>, jobId: number, executionName: string, policy?: string): Promise<void> {
  const at = new Date(SCHEDULER_NOW.getTime() - 3 * 3600_000 + jobId * 1000);
  const image = sampleImage('stuckhost', at, { jobId, storageUnit: 's3-unit' });
  await admin.jobs.create(sampleJob(jobId, { client: 'stuckhost', state: 'ACTIVE', executionName, backupId: image.backupId, storageUnit: 's3-unit', updatedAt: at.toISOString(), ...(policy ? { policy } : {}) }));
  await admin.media.reserve({ jobId, resources: [{ kind: 'storage-unit-slot', storageUnit: 's3-unit', maxConcurrentJobs: 4 }], at });
  await admin.catalog.claimBackupId(claimOf(image));
  await admin.catalog.putImage(image);
}

/** Robot idlelib (its client idlehost on `instanceId`), its drive holding IDLE01 since an hour before the tick, its unit's delay the default 180 s. */
async function idleDrive(admin: ReturnType<typeof dynamoDeps>, instanceId: string): Promise<void> {
  const at = new Date(SCHEDULER_NOW.getTime() - 3600_000);
  await admin.config.putClient({ name: 'idlehost', instanceId });
  await admin.emm.addRobot({ name: 'idlelib', client: 'idlehost', changer: { type: 'changer-script', script: DISK_CHANGER, changerDevice: '/var/lib/idlelib.conf' } }, at);
  await admin.emm.addDrive({ name: 'idlelib-d0', robot: 'idlelib', index: 0, path: '/var/lib/idlelib/drive0', blockSize: 64 * 1024 });
  await admin.emm.addMedia({ ...newMedia('IDLE01', at, { robot: 'idlelib', slot: 1 }), pool: 'iampool' });
  const tapeUnit = await admin.config.getStorageUnit('tape-unit');
  await admin.config.putStorageUnit(StorageUnit.parse({ ...tapeUnit, name: 'idle-unit', robot: 'idlelib' }));
  await admin.emm.setDriveLoaded('idlelib-d0', 'IDLE01', at);
}

/** A restore job its execution left ACTIVE, quiet since before the scheduler's tick, holding the IAM library's drive and volume. */
async function stuckRestore(admin: ReturnType<typeof dynamoDeps>, jobId: number, executionName: string): Promise<void> {
  const at = new Date(SCHEDULER_NOW.getTime() - 3 * 3600_000 + jobId * 1000);
  await admin.jobs.create(sampleRestoreJob(jobId, { state: 'ACTIVE', executionName, updatedAt: at.toISOString() }));
  await admin.media.reserve({ jobId, resources: [{ kind: 'drive', storageUnit: 'tape-unit', drive: 'iamlib-d0' }, { kind: 'volume', pool: 'iampool', mediaId: 'IAM001' }], at });
}

/** A verify job its execution left ACTIVE, quiet since before the scheduler's tick (a disk or S3 image's: it holds nothing). */
async function stuckVerify(admin: ReturnType<typeof dynamoDeps>, jobId: number, executionName: string): Promise<void> {
  const at = new Date(SCHEDULER_NOW.getTime() - 3 * 3600_000 + jobId * 1000).toISOString();
  const job: VerifyJob = {
    jobId, type: 'verify', state: 'ACTIVE', attempt: 1, client: 'stuckhost', image: `stuckhost_${1795300000 + jobId}`, storageUnit: 's3-unit', problems: [], problemCount: 0,
    progress: { files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 }, attempts: [], executionName, queuedAt: at, startedAt: at, updatedAt: at,
  };
  await admin.jobs.create(job);
}

/** A policy copy's duplicate job its execution left ACTIVE: quiet since before the scheduler's tick. */
async function stuckDuplicate(admin: ReturnType<typeof dynamoDeps>, jobId: number, executionName: string): Promise<void> {
  const at = new Date(SCHEDULER_NOW.getTime() - 3 * 3600_000 + jobId * 1000).toISOString();
  const job: DuplicateJob = {
    jobId, type: 'duplicate', state: 'ACTIVE', attempt: 1, client: 'stuckhost', image: `stuckhost_${1795300000 + jobId}`, storageUnit: 's3-copy',
    progress: { files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 }, attempts: [], executionName, queuedAt: at, startedAt: at, updatedAt: at,
  };
  await admin.jobs.create(job);
}

/** The EventBridge event Step Functions sends when an execution of `stateMachineArn` ends with `status`. */
export function executionEvent(stateMachineArn: string, name: string, status: string, error: string | null = null, cause: string | null = null) {
  const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
  return {
    version: '0',
    id: `event-${name}`,
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    account: '123456789012',
    time: SCHEDULER_NOW.toISOString(),
    region: 'us-east-1',
    resources: [executionArn],
    detail: {
      executionArn,
      stateMachineArn,
      name,
      status,
      startDate: SCHEDULER_NOW.getTime() - 3600_000,
      stopDate: SCHEDULER_NOW.getTime(),
      input: '{}',
      inputDetails: { included: true },
      output: null,
      outputDetails: null,
      error,
      cause,
    },
  };
}
