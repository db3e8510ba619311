import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateStateMachineCommand, DescribeExecutionCommand, ListExecutionsCommand, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { CallLog } from '#aws/call-recorder.ts';
import { dynamoMediaDatabase } from '#aws/dynamo-media-manager.ts';
import { UsageMeter } from '#aws/usage-meter.ts';
import { openAwsBackend } from '#cli/aws-backend.ts';
import type { Backend } from '#cli/backend-interface.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { startMonitor, type Monitor } from '#cli/monitor/server.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { newMedia } from '#core/model/tape-media.ts';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import { loadSettings, settingKeys } from '#core/settings.ts';
import { queueRestoreJob } from '#core/jobs/restore-job.ts';
import { claimAndCommit, sampleImage, sampleJob } from '#test/contracts/fixtures.ts';
import { createJobsHandler } from '#lambdas/jobs-handler.ts';
import { systemClock } from '#lambdas/system-clock.ts';
import { withUsageRecording } from '#lambdas/usage-recording.ts';
import { runBackupJob, type JobEngineDeps } from '#local/job-engine.ts';
import { startAwsEmulator } from '#test/setup/aws-emulator.ts';
import { emulatorJobDeps, type EmulatorJobDeps } from '#test/setup/emulator-job-deps.ts';
import { cliAwsEnv, runCairn } from '../cli/cli-process.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;
afterAll(() => ('stop' in emulator ? emulator.stop() : undefined));

const BUCKET = 'cairn-images-monareas';
const ACTOR = `monitor ${userInfo().username}@${hostname()}`;
const POLICY = `
name: nightly
clients: [{ name: cloudhost }]
selections: [/srv/data]
schedules:
  - name: daily
    type: full
    frequency: 1d
    windows: [{ days: [mon, tue, wed, thu, fri, sat, sun], start: "22:00", duration: 8h }]
storageUnit: s3-unit
`;
/** A Wednesday night, in the nightly window. */
const WEDNESDAY_NIGHT = '2026-12-02T23:00:00Z';

/**
 * The monitor's areas other than the jobs table over a deployed stack's
 * tables on moto (`openAwsBackend`, what `cairn --aws monitor` serves from):
 * a policy applied by `cairn --aws policy apply`, an image written to an S3
 * unit by the real backup job (the ASL run in process, as in
 * backup-job-aws.test.ts) and catalogued in DynamoDB, robots, drives and
 * volumes put through the DynamoDB media manager; every GET route of the
 * Policies, Schedule, Images, Storage and job pages, the actions read back
 * from the tables, the restore of an S3 image from the page (downloaded by
 * this process, as `cairn --aws restore` does), and the restart of a backup
 * (an execution of the backup-job state machine, as `cairn --aws jobs
 * restart` starts; moto's Step Functions runs no Lambda, so the test plays
 * its Queue and EndJob with the real jobs handler).
 */
describe.skipIf(Boolean(skip))(`the monitor's areas over a stack's tables${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let work: string;
  let home: string;
  let emulated: EmulatorJobDeps;
  let deps: JobEngineDeps;
  let emm: MediaDatabase;
  let backend: Backend;
  let calls: CallLog;
  let monitor: Monitor;
  let stateMachineArn: string;
  let restoreStateMachineArn: string;
  let source: string;
  let backupId: string;
  let backupJobId: number;
  const token = 'b'.repeat(64);
  const saved = { ...process.env };
  const bearer = { Authorization: `Bearer ${token}` };
  const get = async (path: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const response = await fetch(`${monitor.origin}${path}`, { headers: bearer });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const post = async (path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
    const response = await fetch(`${monitor.origin}${path}`, { method: 'POST', headers: { ...bearer, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    if ('skip' in emulator) return;
    work = mkdtempSync(join(tmpdir(), 'cairn-monitor-areas-'));
    home = join(work, 'operator');
    emulated = await emulatorJobDeps(emulator.endpoint, 'monareas', BUCKET);
    deps = emulated.deps;
    emm = dynamoMediaDatabase({ client: emulated.clients.documents, tableName: emulated.tables.media });
    await deps.config.putStorageUnit(StorageUnit.parse({ name: 's3-unit', kind: 's3', bucket: BUCKET, prefix: 'site1', fragmentSizeBytes: 1024 * 1024 }));
    // The stack's backup-job state machine: on moto a Pass machine, whose executions stay RUNNING (moto runs no Lambda).
    stateMachineArn = (await emulated.clients.sfn.send(new CreateStateMachineCommand({ name: `backup-job-${Date.now()}`, roleArn: 'arn:aws:iam::123456789012:role/x', definition: JSON.stringify({ StartAt: 'Queue', States: { Queue: { Type: 'Pass', End: true } } }) }))).stateMachineArn!;
    restoreStateMachineArn = (await emulated.clients.sfn.send(new CreateStateMachineCommand({ name: `restore-job-${Date.now()}`, roleArn: 'arn:aws:iam::123456789012:role/x', definition: JSON.stringify({ StartAt: 'Queue', States: { Queue: { Type: 'Pass', End: true } } }) }))).stateMachineArn!;
    Object.assign(process.env, cliAwsEnv(emulated.tables, { CAIRN_STATE_MACHINE_ARN: stateMachineArn, CAIRN_RESTORE_STATE_MACHINE_ARN: restoreStateMachineArn }));

    // An image on the S3 unit, by the real backup job (stores on DynamoDB, data through the real S3 SDK).
    source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 256 * 1024 });
    writeFileSync(join(source, 'needle-report.txt'), 'the needle in the haystack\n');
    const run = await runBackupJob(deps, { client: 'cloudhost', selections: [source], storageUnit: 's3-unit' });
    expect(run.error).toBeUndefined();
    backupId = run.backupId!;
    backupJobId = run.jobId!;

    // A robot, its drives, a pool and volumes through the DynamoDB media manager (what `cairn --aws robot add`, `drive add`, `pool add` and an inventory write).
    await emm.addRobot({ name: 'lib1', changer: { type: 'mtx', device: '/dev/sch0' } }, new Date());
    await emm.addDrive({ name: 'lib1-d0', robot: 'lib1', index: 0, path: '/dev/nst0', blockSize: 64 * 1024 });
    await emm.addDrive({ name: 'lib1-d1', robot: 'lib1', index: 1, path: '/dev/nst1', blockSize: 64 * 1024 });
    await emm.addPool({ name: 'weekly', description: 'weekly fulls' });
    for (const [slot, mediaId] of ['VOL001', 'VOL002', 'VOL003'].entries()) await emm.addMedia(newMedia(mediaId, new Date(), { robot: 'lib1', slot: slot + 1 }));
    await emm.label('VOL001', 'weekly');

    calls = new CallLog();
    backend = await openAwsBackend({ aws: true, endpoint: emulator.endpoint, region: 'us-east-1' }, { recorder: calls });
    monitor = await startMonitor({ backend, token, port: 0, actor: ACTOR, pollMs: 50, assets: async () => new Map() });
  }, 120_000);

  afterAll(async () => {
    await monitor?.close();
    backend?.close();
    emulated?.clients.destroy();
    process.env = saved;
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('lists a policy applied by `cairn --aws policy apply`, with its YAML, and 404 for one the table lacks', async () => {
    const policyFile = join(work, 'policy.yaml');
    writeFileSync(policyFile, POLICY);
    const applied = await runCairn(home, ['--aws', '--endpoint', (emulator as { endpoint: string }).endpoint, 'policy', 'apply', '-f', policyFile, '--json'], { env: process.env });
    expect(applied.code, applied.stderr).toBe(0);
    const listed = await get('/api/policies');
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({ schedulerSuspended: false, policies: [{ name: 'nightly', active: true, clients: ['cloudhost'], storageUnit: 's3-unit' }] });
    const one = await get('/api/policies/nightly');
    expect(one.body.yaml).toMatch(/^name: nightly$/m);
    expect(one.body.yaml).toMatch(/frequency: 1d/);
    expect((await get('/api/policies/weekly')).status).toBe(404);
  }, 60_000);

  it('previews what is due at a chosen time with its reasons, and refuses a time it cannot read', async () => {
    calls.calls.length = 0;
    const preview = await get(`/api/schedule/due?at=${WEDNESDAY_NIGHT}&client=cloudhost`);
    // What `cairn --aws schedule due` reads, as the scheduler tick does: the policies, every image (a Scan), the newest
    // jobs (one Query of up to 5000), and the settings (a GetItem each).
    const read = calls.calls.map((c) => `${c.action} ${(c.resource as { table: string }).table}`);
    expect(read.filter((c) => !c.startsWith('dynamodb:GetItem'))).toEqual([`dynamodb:Query ${emulated.tables.config}`, `dynamodb:Scan ${emulated.tables.catalog}`, `dynamodb:Query ${emulated.tables.jobs}`]);
    expect(read.filter((c) => c.startsWith('dynamodb:GetItem'))).toEqual(Array<string>(settingKeys.length).fill(`dynamodb:GetItem ${emulated.tables.config}`));
    expect(preview.status).toBe(200);
    expect(preview.body).toMatchObject({ at: '2026-12-02T23:00:00.000Z', suspended: false, due: [{ policy: 'nightly', client: 'cloudhost', schedule: 'daily' }] });
    expect(JSON.stringify(preview.body.due)).toMatch(/window/);
    const bad = await get('/api/schedule/due?at=yesterday-ish');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/at/);
  });

  it('suspends and resumes the scheduler in the Config table', async () => {
    expect((await post('/api/schedule/suspend')).body).toEqual({ schedulerSuspended: true });
    expect((await loadSettings(deps.config)).schedulerSuspended).toBe(true);
    expect((await get(`/api/schedule/due?at=${WEDNESDAY_NIGHT}`)).body).toMatchObject({ suspended: true, due: [] });
    expect((await post('/api/schedule/resume')).body).toEqual({ schedulerSuspended: false });
    expect((await loadSettings(deps.config)).schedulerSuspended).toBe(false);
  });

  it("lists the catalog table's clients and images, and browses the image's index on S3 down to a file", async () => {
    const all = await get('/api/images');
    expect(all.body.clients).toEqual(['cloudhost']);
    calls.calls.length = 0;
    const mine = await get('/api/images?client=cloudhost');
    // The clients need every image: a Scan of the Catalog table per request, as `cairn --aws images` makes (no index by client).
    expect(calls.calls.map((c) => `${c.action} ${(c.resource as { table: string }).table}`)).toEqual([`dynamodb:Scan ${emulated.tables.catalog}`]);
    expect(mine.body).toMatchObject({ client: 'cloudhost', images: [{ backupId, level: 'full' }] });
    // From / down to what was backed up: the directories above it are implied (no index line).
    const root = await get(`/api/images/${encodeURIComponent(backupId)}/entries?path=/`);
    expect(root.status).toBe(200);
    expect(JSON.stringify(root.body.entries)).toMatch(/"implied":true/);
    const dir = await get(`/api/images/${encodeURIComponent(backupId)}/entries?path=${encodeURIComponent(source)}`);
    const names = (dir.body.entries as { path: string }[]).map((e) => e.path);
    expect(names).toContain(join(source, 'needle-report.txt'));
    expect((await get('/api/images/nohost_1/entries?path=/')).status).toBe(404);
  });

  it('shows the client at a time and finds a name across its images', async () => {
    const tree = await get(`/api/clients/cloudhost/entries?path=${encodeURIComponent(source)}`);
    expect(tree.status).toBe(200);
    expect(tree.body).toMatchObject({ client: 'cloudhost', backupId });
    expect((tree.body.entries as { path: string }[]).map((e) => e.path)).toContain(join(source, 'needle-report.txt'));
    const found = await get('/api/clients/cloudhost/search?name=NEEDLE');
    expect(found.body).toMatchObject({ match: 'substring', imagesSearched: 1, truncated: false, hits: [{ backupId, path: join(source, 'needle-report.txt') }] });
    const glob = await get('/api/clients/cloudhost/search?name=*.txt');
    expect((glob.body.hits as unknown[]).length).toBeGreaterThanOrEqual(1);
    expect((await get('/api/clients/nohost/entries?path=/')).status).toBe(404);
  });

  it('restores a file of the S3 image from the page as a restore job in the Jobs table, byte for byte, and refuses a target that is not empty', async () => {
    const target = join(work, 'restored');
    const file = join(source, 'needle-report.txt');
    const started = await post(`/api/images/${encodeURIComponent(backupId)}/restore`, { paths: [file], targetDir: target });
    expect(started.status, JSON.stringify(started.body)).toBe(200);
    const jobId = started.body.jobId as number;
    let job = await deps.jobs.get(jobId);
    for (let i = 0; i < 200 && job?.state !== 'DONE'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      job = await deps.jobs.get(jobId);
    }
    expect(job).toMatchObject({ type: 'restore', state: 'DONE', statusCode: 0, owner: `cli:${hostname()}:${process.pid}` });
    expect(job?.details?.[0]?.message).toBe(`started by ${ACTOR}`);
    expect(readFileSync(join(target, file))).toEqual(readFileSync(file));
    // As `cairn --aws restore --to` a directory with something in it, without --overwrite: refused, nothing queued.
    const again = await post(`/api/images/${encodeURIComponent(backupId)}/restore`, { paths: [file], targetDir: target });
    expect(again.status).toBe(409);
    expect(String(again.body.message)).toMatch(/not empty/);
  }, 60_000);

  it("starts a tape image's restore as an execution of the restore-job state machine, as `cairn --aws restore` does, leaving its target to the robot's agent host", async () => {
    // A tape image in the catalog (a record only: no drive here writes one) on a tape unit of the robot.
    await deps.config.putStorageUnit(StorageUnit.parse({ name: 'tape1', kind: 'tape', robot: 'lib1', pool: 'weekly', index: { name: 'tape1-index', kind: 's3', bucket: BUCKET, prefix: 'tape-index' } }));
    const image = sampleImage('tapehost', new Date('2026-11-30T01:00:00Z'), { storageUnit: 'tape1' });
    await claimAndCommit(deps.catalog, image);
    // A directory that is not empty on this machine: the restore writes on the robot's host, whose agent checks its own.
    const restored = post(`/api/images/${encodeURIComponent(image.backupId)}/restore`, { paths: ['/home/a.txt'], targetDir: work });
    let executions: { executionArn?: string }[] = [];
    for (let i = 0; i < 100 && executions.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      executions = (await emulated.clients.sfn.send(new ListExecutionsCommand({ stateMachineArn: restoreStateMachineArn }))).executions ?? [];
    }
    expect(executions).toHaveLength(1);
    const executionArn = executions[0]!.executionArn!;
    const input = JSON.parse((await emulated.clients.sfn.send(new DescribeExecutionCommand({ executionArn }))).input!) as { request: Record<string, unknown> };
    expect(input.request).toMatchObject({ backupId: image.backupId, targetDir: work, paths: ['/home/a.txt'], existing: 'refuse', owner: expect.stringMatching(/^cli:restore:tapehost_/) });
    // Step Functions' Queue state: the restore Lambda's queueRestoreJob on the tables.
    const queued = await queueRestoreJob({ config: deps.config, jobs: deps.jobs, catalog: deps.catalog }, input.request, new Date());
    const answer = await restored;
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body).toMatchObject({ jobId: queued.jobId, backupId: image.backupId, targetDir: work });
    const job = await deps.jobs.get(queued.jobId);
    expect(job).toMatchObject({ type: 'restore', state: 'QUEUED', storageUnit: 'tape1' });
    expect(job?.details?.[0]?.message).toBe(`started by ${ACTOR}`);
    // The execution stopped, the monitor's follow of it ends (the job's record is left as the stack would leave it to its janitor).
    await emulated.clients.sfn.send(new StopExecutionCommand({ executionArn }));
  }, 60_000);

  it('lists the units, the robot, its drives and the pools from the Media table, and the volumes by filter', async () => {
    const overview = await get('/api/storage');
    expect(overview.status).toBe(200);
    expect(overview.body).toMatchObject({
      units: [{ name: 's3-unit', kind: 's3', inUse: 0 }, { name: 'tape1', kind: 'tape', pool: 'weekly', inUse: 0 }],
      robots: [{ name: 'lib1', drives: ['lib1-d0', 'lib1-d1'], volumes: 3 }],
      drives: [{ name: 'lib1-d0', state: 'UP' }, { name: 'lib1-d1', state: 'UP' }],
      pools: [{ name: 'scratch', volumes: 2 }, { name: 'weekly', description: 'weekly fulls', volumes: 1 }],
    });
    const media = async (query: string): Promise<string[]> => ((await get(`/api/storage/media${query}`)).body.media as { mediaId: string }[]).map((m) => m.mediaId);
    expect(await media('')).toEqual(['VOL001', 'VOL002', 'VOL003']);
    expect(await media('?pool=weekly')).toEqual(['VOL001']);
    expect(await media('?state=unassigned')).toEqual(['VOL001', 'VOL002', 'VOL003']);
    expect((await get('/api/storage/drives/lib1-d1')).body).toMatchObject({ name: 'lib1-d1', robot: 'lib1', index: 1 });
    expect((await get('/api/storage/media/VOL001')).body).toMatchObject({ mediaId: 'VOL001', pool: 'weekly' });
    expect((await get('/api/storage/drives/nodrive')).status).toBe(404);
    expect((await get('/api/storage/media/NOVOL')).status).toBe(404);
  });

  it('takes a drive down with who and why, and up, and freezes and unfreezes a volume, as the Media table then holds', async () => {
    expect((await post('/api/storage/drives/lib1-d1/down', { reason: 'cleaning' })).body).toMatchObject({ state: 'DOWN' });
    expect(await emm.getDrive('lib1-d1')).toMatchObject({ state: 'DOWN', downReason: `cleaning (${ACTOR})` });
    expect((await post('/api/storage/drives/lib1-d1/up')).body).toMatchObject({ state: 'UP' });
    expect((await emm.getDrive('lib1-d1'))?.state).toBe('UP');
    expect((await post('/api/storage/media/VOL002/freeze')).body).toMatchObject({ state: 'FROZEN' });
    expect(await emm.getMedia('VOL002')).toMatchObject({ state: 'FROZEN', heldFrom: 'UNASSIGNED' });
    expect((await post('/api/storage/media/VOL002/unfreeze')).body).toMatchObject({ state: 'UNASSIGNED' });
    expect((await emm.getMedia('VOL002'))?.state).toBe('UNASSIGNED');
    // An error the agent recorded on the drive, cleared from the page as `cairn --aws drive reset` clears it.
    await emm.recordDriveError('lib1-d0', { at: new Date().toISOString(), kind: 'write', mediaId: 'VOL001', message: 'write error at record 3' });
    expect((await get('/api/storage/drives/lib1-d0')).body).toMatchObject({ errorCount: 1 });
    expect((await post('/api/storage/drives/lib1-d0/reset')).body).toMatchObject({ name: 'lib1-d0', errorCount: 0, errors: [] });
    expect(await emm.getDrive('lib1-d0')).toMatchObject({ errorCount: 0, errors: [] });
    expect((await post('/api/storage/drives/nodrive/up')).status).toBe(404);
  });

  it('serves the status codes, and lists the backup job that wrote the S3 image by kind', async () => {
    const codes = await get('/api/status-codes');
    expect(codes.status).toBe(200);
    expect(JSON.stringify(codes.body)).toMatch(/"code":48/);
    const listed = await get('/api/jobs?kind=backup');
    expect((listed.body.jobs as { jobId: number; backupId?: string }[]).find((j) => j.jobId === backupJobId)).toMatchObject({ state: 'DONE', statusCode: 0 });
  });

  it('reads each listing of the Media and Config tables once per Storage page load', async () => {
    calls.calls.length = 0;
    // One load of the page: what storage-page.ts fetches (the overview with the media of its filter).
    const load = await get('/api/storage?pool=weekly');
    expect(load.status).toBe(200);
    expect((load.body.media as { mediaId: string }[]).map((m) => m.mediaId)).toEqual(['VOL001']);
    const queries = calls.calls.filter((c) => c.action === 'dynamodb:Query' || c.action === 'dynamodb:Scan');
    // The Config table's units, and the Media table's robots, drives, pools, volumes and reservations: one Query each.
    expect(queries.map((c) => (c.resource as { table: string }).table).sort()).toEqual([emulated.tables.config, ...Array<string>(5).fill(emulated.tables.media)].sort());
    expect(calls.calls.filter((c) => c.action === 'dynamodb:GetItem')).toEqual([]);
  });

  it('restarts an ended backup as an execution of the backup-job state machine, as `cairn --aws jobs restart` does, and prices the new job', async () => {
    const meter = new UsageMeter();
    let elapsed = 0;
    const lambda = withUsageRecording(createJobsHandler({ config: deps.config, jobs: deps.jobs, clock: systemClock }), { jobs: deps.jobs, takeUsage: () => meter.take(), elapsedMs: () => (elapsed += 100), arch: 'arm64', onFailure: (error) => { throw error; } });
    const context = { memoryLimitInMB: '512' } as never;
    // As `cairn --aws jobs restart`: a client no agent serves is refused before anything starts (48, saying how to map it).
    const unmapped = await post(`/api/jobs/${backupJobId}/restart`);
    expect(unmapped.status).toBe(409);
    expect(unmapped.body.message).toMatch(/client cloudhost has no agent instance: map it .*cairn --aws client add cloudhost --instance/);
    expect((await emulated.clients.sfn.send(new ListExecutionsCommand({ stateMachineArn }))).executions).toEqual([]);
    const mapped = await runCairn(home, ['--aws', '--endpoint', (emulator as { endpoint: string }).endpoint, 'client', 'add', 'cloudhost', '--instance', 'mi-0123456789abcdef0', '--json'], { env: process.env });
    expect(mapped.code, mapped.stderr).toBe(0);
    const restarted = post(`/api/jobs/${backupJobId}/restart`);
    // Step Functions' part: the execution the monitor started, whose Queue state the jobs Lambda runs.
    let executions: { executionArn?: string }[] = [];
    for (let i = 0; i < 100 && executions.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      executions = (await emulated.clients.sfn.send(new ListExecutionsCommand({ stateMachineArn }))).executions ?? [];
    }
    expect(executions).toHaveLength(1);
    const input = JSON.parse((await emulated.clients.sfn.send(new DescribeExecutionCommand({ executionArn: executions[0]!.executionArn }))).input!) as { request: Record<string, unknown> };
    expect(input.request).toMatchObject({ client: 'cloudhost', selections: [source], storageUnit: 's3-unit', owner: expect.stringMatching(/^cli:cloudhost:\d+$/) });
    const queued = (await lambda({ action: 'queue', request: input.request }, context)) as { jobId: number };
    const answer = await restarted;
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body).toEqual({ restartedFrom: backupJobId, jobId: queued.jobId });
    await lambda({ action: 'finish', jobId: queued.jobId, outcome: { statusCode: 0 } }, context);

    calls.calls.length = 0;
    const shown = await get(`/api/jobs/${queued.jobId}`);
    // What one look at a job's page costs with --aws: the job, its usage item, and its execution's history (one page here).
    expect(calls.calls.map((c) => c.action).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:GetItem', 'states:GetExecutionHistory']);
    expect(shown.body).toMatchObject({ jobId: queued.jobId, state: 'DONE', statusCode: 0 });
    expect(JSON.stringify(shown.body.details)).toContain(`restart of job ${backupJobId}`);
    const cost = shown.body.cost as { region: string; lines: { what: string; quantity: number }[]; totalUsd?: number };
    expect(cost.region).toBe('us-east-1');
    // moto's history of any execution is one Pass state: 1 billed transition; the Lambda's two invocations as recorded.
    expect(cost.lines.find((l) => /^state transitions/.test(l.what))).toMatchObject({ quantity: 1 });
    expect(cost.lines.find((l) => /invocations/.test(l.what))).toMatchObject({ quantity: 2 });
    expect(cost.totalUsd).toBeGreaterThan(0);
    // Just ended: its Lambdas may still record usage, so the next look reads it again.
    calls.calls.length = 0;
    await get(`/api/jobs/${queued.jobId}`);
    expect(calls.calls.map((c) => c.action)).toContain('states:GetExecutionHistory');
    expect((await post(`/api/jobs/${queued.jobId + 100}/restart`)).status).toBe(404);
  }, 60_000);

  it("reads a settled job's cost once, however often its page is looked at", async () => {
    // A backup that ended ten minutes ago, with its execution on the stack's state machine.
    await emulated.clients.sfn.send(new StartExecutionCommand({ stateMachineArn, name: 'nightly-settled-1', input: '{}' }));
    const ended = new Date(Date.now() - 10 * 60_000).toISOString();
    const jobId = (await deps.jobs.nextJobId()) + 1000;
    await deps.jobs.create(sampleJob(jobId, { state: 'DONE', statusCode: 0, executionName: 'nightly-settled-1', queuedAt: ended, updatedAt: ended }));
    calls.calls.length = 0;
    const first = await get(`/api/jobs/${jobId}`);
    const second = await get(`/api/jobs/${jobId}`);
    expect(second.body.cost).toEqual(first.body.cost);
    expect((first.body.cost as { lines: { what: string; quantity: number }[] }).lines.find((l) => /^state transitions/.test(l.what))).toMatchObject({ quantity: 1 });
    // The job's record is read each time (it may change); its usage and its execution's history once.
    expect(calls.calls.map((c) => c.action).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:GetItem', 'dynamodb:GetItem', 'states:GetExecutionHistory']);
  });
});

