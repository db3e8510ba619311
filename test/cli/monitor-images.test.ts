import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { startMonitor, type Monitor } from '#cli/monitor/server.ts';
import { localBackend } from '#cli/backend.ts';
import { nameMatcher } from '#cli/monitor/name-match.ts';
import { runCairn } from './cli-process.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { newMedia } from '#core/model/tape-media.ts';
import { DISK_CHANGER, diskChangerLibrary, diskChangerSkipReason, type DiskChangerLibrary } from '#test/edge-agent/tape/disk-changer-library.ts';
import { tempDir } from '#test/edge-agent/helpers.ts';

/**
 * The Images area of the monitor over a real standalone runtime: images made
 * by `cairn backup`, listed, browsed by image and by client at a time,
 * searched by name, and restored from the page's API as a restore job that
 * ends DONE 0 with the files byte for byte; bad paths, targets and images
 * refused with the status that names them.
 */
let work: string;
let home: string;
let source: string;
let runtime: LocalRuntime;
let monitor: Monitor;
const token = 'a'.repeat(64);
const big = randomBytes(3 * 1024 * 1024 + 17);
let first: string;
let second: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cairn-monitor-images-'));
  home = join(work, 'home');
  source = join(work, 'source');
  mkdirSync(join(source, 'docs', 'deep'), { recursive: true });
  writeFileSync(join(source, 'docs', 'README.md'), 'read me\n');
  writeFileSync(join(source, 'docs', 'deep', 'big.bin'), big);
  writeFileSync(join(source, 'notes.txt'), 'first\n');
  const one = await runCairn(home, ['backup', '--client', 'web1', '--path', source, '--json']);
  expect(one.code, one.stderr).toBe(0);
  first = (JSON.parse(one.stdout) as { backupId: string }).backupId;
  writeFileSync(join(source, 'later.conf'), 'added later\n');
  const two = await runCairn(home, ['backup', '--client', 'web1', '--path', source, '--json']);
  expect(two.code, two.stderr).toBe(0);
  second = (JSON.parse(two.stdout) as { backupId: string }).backupId;
  runtime = await openLocalRuntime({ home });
  monitor = await startMonitor({ backend: localBackend(runtime), token, port: 0, actor: 'tester@host1, cairn monitor', pollMs: 20, assets: async () => new Map() });
}, 60_000);
afterAll(async () => {
  await monitor?.close();
  runtime?.close();
  rmSync(work, { recursive: true, force: true });
});

const get = async (path: string): Promise<{ status: number; body: Record<string, unknown> }> => {
  const response = await fetch(`${monitor.origin}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};
const post = async (path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
  const response = await fetch(`${monitor.origin}${path}`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};
const names = (body: Record<string, unknown>): string[] => (body.entries as { name: string }[]).map((e) => e.name);

async function waitForDone(jobId: number): Promise<Record<string, unknown>> {
  for (let i = 0; i < 400; i += 1) {
    const { body } = await get(`/api/jobs/${jobId}`);
    if (body.state === 'DONE') return body;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`job ${jobId} did not end`);
}

describe('the image list', () => {
  it('lists the clients and a client images newest first, as cairn images does', async () => {
    const { status, body } = await get('/api/images?client=web1');
    expect(status).toBe(200);
    expect(body.clients).toEqual(['web1']);
    const images = body.images as { backupId: string; level: string; fileCount: number; bytes: number; copies: unknown[]; expiresAt: string; policy: string }[];
    expect(images.map((i) => i.backupId)).toEqual([second, first]);
    expect(images[0]).toMatchObject({ level: 'full', copies: [{ copyNumber: 1 }] });
    expect(images[0]!.bytes).toBeGreaterThan(big.length);
    expect(images[0]!.expiresAt).toMatch(/^\d{4}-/);
  });

  it('refuses a parameter it does not take, naming it', async () => {
    const { status, body } = await get('/api/images?clinet=web1');
    expect(status).toBe(400);
    expect(body.message).toMatch(/^clinet: not a parameter/);
  });
});

describe('browsing', () => {
  it('walks one image: directories first, each entry with its type, size and time', async () => {
    const { status, body } = await get(`/api/images/${first}/entries?path=${encodeURIComponent(source)}`);
    expect(status).toBe(200);
    expect(names(body)).toEqual(['docs', 'notes.txt']);
    const deep = await get(`/api/images/${first}/entries?path=${encodeURIComponent(join(source, 'docs', 'deep'))}`);
    expect(deep.body.entries).toEqual([expect.objectContaining({ name: 'big.bin', type: 'file', size: big.length, path: join(source, 'docs', 'deep', 'big.bin') })]);
  });

  it('leads from / down to what was backed up through the directories above it (implied, with no line in the index)', async () => {
    const top = source.split('/')[1]!;
    const root = await get(`/api/images/${first}/entries`);
    expect(root.body.path).toBe('/');
    expect(root.body.entries).toEqual([{ path: `/${top}`, name: top, type: 'directory', mode: 0, size: 0, mtimeMs: 0, implied: true }]);
    const parent = await get(`/api/images/${first}/entries?path=${encodeURIComponent(join(source, '..'))}`);
    expect(parent.body.entries).toEqual([expect.objectContaining({ path: source, type: 'directory' })]);
    expect((parent.body.entries as { implied?: boolean }[])[0]!.implied).toBeUndefined();
  });

  it('pages a directory by offset and limit, with the total', async () => {
    const { body } = await get(`/api/images/${second}/entries?path=${encodeURIComponent(source)}&offset=1&limit=1`);
    expect(body).toMatchObject({ total: 3, offset: 1, limit: 1 });
    expect(names(body)).toEqual(['later.conf']);
  });

  it('shows a client at a time like cairn ls: before the second backup, no later.conf', async () => {
    const image = (await get('/api/images?client=web1')).body.images as { backupId: string; createdAt: string }[];
    const now = await get(`/api/clients/web1/entries?path=${encodeURIComponent(source)}`);
    expect(now.body.backupId).toBe(second);
    expect(names(now.body)).toContain('later.conf');
    const firstAt = image.find((i) => i.backupId === first)!.createdAt;
    if (firstAt !== image[0]!.createdAt) {
      const then = await get(`/api/clients/web1/entries?path=${encodeURIComponent(source)}&at=${encodeURIComponent(firstAt)}`);
      expect(then.body.backupId).toBe(first);
      expect(names(then.body)).not.toContain('later.conf');
    }
    const root = await get('/api/clients/web1/entries');
    expect(root.body.entries).toEqual([expect.objectContaining({ name: source.split('/')[1], type: 'directory', implied: true })]);
    const before = await get(`/api/clients/web1/entries?at=2001-01-01T00:00:00Z`);
    expect(before.status).toBe(404);
    expect(before.body.message).toMatch(/no image of client web1/);
  });

  it('refuses ../../etc, a relative path and a bad time, naming the field', async () => {
    for (const path of ['../../etc', `${source}/../../etc`, 'etc/passwd', `${source}//x`]) {
      const { status, body } = await get(`/api/images/${first}/entries?path=${encodeURIComponent(path)}`);
      expect(status, path).toBe(400);
      expect(body.message, path).toMatch(/^path: /);
    }
    const at = await get('/api/clients/web1/entries?at=yesterday');
    expect(at.status).toBe(400);
    expect(at.body.message).toMatch(/^at: /);
  });

  it('answers 404 for an image that does not exist', async () => {
    const { status, body } = await get('/api/images/web1_1000000000/entries');
    expect(status).toBe(404);
    expect(body.message).toMatch(/image web1_1000000000 not found/);
  });
});

describe('searching a name', () => {
  it('finds a substring in any case across the client images, newest first, and says it was a substring', async () => {
    const { status, body } = await get('/api/clients/web1/search?name=readme');
    expect(status).toBe(200);
    expect(body).toMatchObject({ match: 'substring', imagesSearched: 2, truncated: false });
    expect((body.hits as { backupId: string; name: string }[]).map((h) => [h.backupId, h.name])).toEqual([
      [second, 'README.md'],
      [first, 'README.md'],
    ]);
  });

  it('matches a glob against the whole name: *.conf only in the second image', async () => {
    const { body } = await get('/api/clients/web1/search?name=*.conf');
    expect(body.match).toBe('glob');
    expect((body.hits as { backupId: string; path: string }[]).map((h) => [h.backupId, h.path])).toEqual([[second, join(source, 'later.conf')]]);
  });

  it('refuses an empty name or one with a slash', async () => {
    expect((await get('/api/clients/web1/search?name=')).status).toBe(400);
    expect((await get('/api/clients/web1/search?name=a%2Fb')).body.message).toMatch(/^name: /);
  });

  it('globs as the shell does: ? one character, [..] a class, [! ..] its complement, regex characters literal', () => {
    expect(nameMatcher('report-202?.pdf').matches('report-2024.pdf')).toBe(true);
    expect(nameMatcher('report-202?.pdf').matches('report-20245.pdf')).toBe(false);
    expect(nameMatcher('[Rr]eadme*').matches('readme.txt')).toBe(true);
    expect(nameMatcher('[!R]eadme*').matches('Readme')).toBe(false);
    expect(nameMatcher('a+b(*').matches('a+b(c')).toBe(true);
    expect(nameMatcher('a+b(*').matches('aab(c')).toBe(false);
  });
});

describe('restoring from the page', () => {
  it('starts a restore job that ends DONE 0 and writes the picked file byte for byte, and nothing else', async () => {
    const target = join(work, 'restored-1');
    const picked = join(source, 'docs', 'deep', 'big.bin');
    const { status, body } = await post(`/api/images/${first}/restore`, { paths: [picked], targetDir: target });
    expect(status, JSON.stringify(body)).toBe(200);
    const job = await waitForDone(body.jobId as number);
    expect(job).toMatchObject({ type: 'restore', state: 'DONE', statusCode: 0, source: { backupId: first }, target: { directory: target, existing: 'refuse' }, paths: [picked] });
    expect((job.progress as { bytes: number }).bytes).toBe(big.length);
    expect((job.details as { message: string }[])[0]!.message).toBe('started by tester@host1, cairn monitor');
    expect(readFileSync(join(target, picked)).equals(big)).toBe(true);
    expect(existsSync(join(target, source, 'notes.txt'))).toBe(false);
    expect((await get('/api/jobs?kind=restore')).body.jobs).toEqual([expect.objectContaining({ jobId: body.jobId })]);
  });

  it('is cancelled from the Jobs API as any job: it ends 150 and keeps that status', async () => {
    const target = join(work, 'restored-cancelled');
    const { body } = await post(`/api/images/${second}/restore`, { paths: [source], targetDir: target });
    const cancel = await post(`/api/jobs/${body.jobId as number}/cancel`, {});
    expect(cancel.status, JSON.stringify(cancel.body)).toBe(200);
    const job = await waitForDone(body.jobId as number);
    expect(job).toMatchObject({ type: 'restore', statusCode: 150 });
    expect(job.error).toMatch(/cancelled by an administrator \(tester@host1, cairn monitor\)/);
    // The restore stops at its next member; the record is not overwritten by its end.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await get(`/api/jobs/${body.jobId as number}`)).body).toMatchObject({ state: 'DONE', statusCode: 150 });
  });

  it('refuses a target that is not empty (409) and changes nothing in it, as cairn restore does', async () => {
    const target = join(work, 'restored-busy');
    mkdirSync(target);
    writeFileSync(join(target, 'keep.txt'), 'mine\n');
    const jobsBefore = ((await get('/api/jobs')).body.jobs as unknown[]).length;
    const { status, body } = await post(`/api/images/${first}/restore`, { paths: [join(source, 'notes.txt')], targetDir: target });
    expect(status).toBe(409);
    expect(body.message).toMatch(/restore target .*restored-busy is not empty/);
    expect(readdirSync(target)).toEqual(['keep.txt']);
    expect(readFileSync(join(target, 'keep.txt'), 'utf8')).toBe('mine\n');
    expect(((await get('/api/jobs')).body.jobs as unknown[]).length).toBe(jobsBefore);
  });

  it('with existing: rename keeps what was there as NAME.cairn-old', async () => {
    const target = join(work, 'restored-rename');
    const picked = join(source, 'notes.txt');
    mkdirSync(join(target, source), { recursive: true });
    writeFileSync(join(target, picked), 'mine\n');
    const { body } = await post(`/api/images/${first}/restore`, { paths: [picked], targetDir: target, existing: 'rename' });
    expect(await waitForDone(body.jobId as number)).toMatchObject({ statusCode: 0 });
    expect(readFileSync(join(target, picked), 'utf8')).toBe('first\n');
    expect(readFileSync(`${join(target, picked)}.cairn-old`, 'utf8')).toBe('mine\n');
  });

  it('refuses ../../etc in a path, a relative or absent target and an unknown field, each named, with no job', async () => {
    const cases: [unknown, RegExp][] = [
      [{ paths: ['../../etc'], targetDir: join(work, 'x') }, /^paths\[0\]: "\.\.\/\.\.\/etc" is not an absolute path/],
      [{ paths: [`${source}/../../../etc`], targetDir: join(work, 'x') }, /^paths\[0\]: .* has a \. or \.\. part/],
      [{ paths: [join(source, 'notes.txt')], targetDir: 'restored' }, /^targetDir: "restored" is not an absolute path/],
      [{ paths: [join(source, 'notes.txt')], targetDir: `${work}/../../etc` }, /^targetDir: .* has a \. or \.\. part/],
      [{ paths: [join(source, 'notes.txt')] }, /^targetDir: missing/],
      [{ paths: [], targetDir: join(work, 'x') }, /^paths: give at least one/],
      [{ paths: [join(source, 'notes.txt')], targetDir: join(work, 'x'), existing: 'clobber' }, /^existing: "clobber" is not one of/],
      [{ paths: [join(source, 'notes.txt')], targetDir: join(work, 'x'), overwrite: true }, /^overwrite: not a field/],
    ];
    const jobsBefore = ((await get('/api/jobs')).body.jobs as unknown[]).length;
    for (const [body, message] of cases) {
      const answer = await post(`/api/images/${first}/restore`, body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.message).toMatch(message);
    }
    expect(((await get('/api/jobs')).body.jobs as unknown[]).length).toBe(jobsBefore);
    expect(existsSync(join(work, 'x'))).toBe(false);
  });

  it('answers 404 for an unknown image', async () => {
    const { status, body } = await post('/api/images/web1_1000000000/restore', { paths: ['/x'], targetDir: join(work, 'y') });
    expect(status).toBe(404);
    expect(body.message).toMatch(/image web1_1000000000 not found/);
  });

  it('ends the job with 227 naming a picked path the image does not hold, writing nothing', async () => {
    const target = join(work, 'restored-none');
    const { status, body } = await post(`/api/images/${first}/restore`, { paths: [join(source, 'later.conf')], targetDir: target });
    expect(status).toBe(200);
    const job = await waitForDone(body.jobId as number);
    expect(job).toMatchObject({ statusCode: 227 });
    expect(job.error).toMatch(/later\.conf/);
    expect(existsSync(join(target, source, 'later.conf'))).toBe(false);
  });
});

const tapeSkip = diskChangerSkipReason();

/** A tape image restored from the page: the restore job `cairn restore` runs (a drive, the volume mounted), started through the same API. */
describe.skipIf(Boolean(tapeSkip))(`restoring a tape image from the page${tapeSkip ? ` (skipped: ${tapeSkip})` : ''}`, () => {
  let library: DiskChangerLibrary;
  let tapeHome: { dir: string; cleanup: () => void };
  let tapeRuntime: LocalRuntime;
  let tapeMonitor: Monitor;
  let tapeSource: string;
  let backupId: string;
  const AT = new Date('2026-12-03T04:00:00.000Z');

  beforeAll(async () => {
    library = diskChangerLibrary({ slots: 2, drives: 1, barcodes: { 1: 'VOL001' } });
    tapeHome = tempDir('monitor-images-tape');
    tapeSource = join(tapeHome.dir, 'source');
    mkdirSync(tapeSource);
    writeFileSync(join(tapeSource, 'one.bin'), big.subarray(0, 300_000));
    writeFileSync(join(tapeSource, 'two.txt'), 'two\n');
    tapeRuntime = await openLocalRuntime({ home: tapeHome.dir });
    await tapeRuntime.emm.addRobot({ name: 'vtl', changer: { type: 'changer-script', script: DISK_CHANGER, changerDevice: library.changerDevice }, fileTapeCapacityBytes: 64 * 1024 * 1024 }, AT);
    await tapeRuntime.emm.addDrive({ name: 'vtl-d0', robot: 'vtl', index: 0, path: library.drives[0]!, blockSize: 64 * 1024 });
    await tapeRuntime.emm.addPool({ name: 'daily' });
    await tapeRuntime.emm.addMedia(newMedia('VOL001', AT, { robot: 'vtl', slot: 1 }));
    await tapeRuntime.config.putStorageUnit(StorageUnit.parse({ name: 'tape1', kind: 'tape', robot: 'vtl', pool: 'daily', index: { name: 'idx', kind: 'disk', path: join(tapeHome.dir, 'idx') } }));
    const backup = await runBackupJob(tapeRuntime, { client: 'tape-host', selections: [tapeSource], storageUnit: 'tape1' });
    expect(backup.statusCode, backup.error).toBe(0);
    backupId = backup.backupId!;
    tapeMonitor = await startMonitor({ backend: localBackend(tapeRuntime), token, port: 0, actor: 'tester@host1, cairn monitor', pollMs: 20, assets: async () => new Map() });
  }, 120_000);
  afterAll(async () => {
    await tapeMonitor?.close();
    tapeRuntime?.close();
    await library?.cleanup();
    tapeHome?.cleanup();
  });

  it('browses it and restores one file through a tape restore job that ends DONE 0 with its volume, byte for byte', async () => {
    const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
    const listed = (await (await fetch(`${tapeMonitor.origin}/api/images/${backupId}/entries?path=${encodeURIComponent(tapeSource)}`, { headers })).json()) as { entries: { name: string }[] };
    expect(listed.entries.map((e) => e.name)).toEqual(['one.bin', 'two.txt']);
    const target = join(tapeHome.dir, 'restored');
    const picked = join(tapeSource, 'one.bin');
    const started = await fetch(`${tapeMonitor.origin}/api/images/${backupId}/restore`, { method: 'POST', headers, body: JSON.stringify({ paths: [picked], targetDir: target }) });
    const { jobId } = (await started.json()) as { jobId: number };
    expect(started.status).toBe(200);
    let job: Record<string, unknown> = {};
    for (let i = 0; i < 600 && job.state !== 'DONE'; i += 1) {
      job = (await (await fetch(`${tapeMonitor.origin}/api/jobs/${jobId}`, { headers })).json()) as Record<string, unknown>;
      if (job.state !== 'DONE') await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(job).toMatchObject({ type: 'restore', state: 'DONE', statusCode: 0, storageUnit: 'tape1', volumes: [{ mediaId: 'VOL001', read: true }] });
    expect((job.details as { message: string }[]).map((d) => d.message)).toContain('started by tester@host1, cairn monitor');
    expect(readFileSync(join(target, picked)).equals(big.subarray(0, 300_000))).toBe(true);
    expect(existsSync(join(target, tapeSource, 'two.txt'))).toBe(false);
  }, 60_000);
});
