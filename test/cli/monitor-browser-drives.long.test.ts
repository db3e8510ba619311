import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DISK_CHANGER, diskChangerLibrary, diskChangerSkipReason, type DiskChangerLibrary } from '#test/edge-agent/tape/disk-changer-library.ts';
import { runCairn } from './cli-process.ts';
import { ARTIFACTS, browserSkipReason, startMonitorSession, type MonitorSession, openWatchedPage } from './monitor-browser-harness.ts';

const skip = browserSkipReason ?? diskChangerSkipReason();

/**
 * The one-job page of tape jobs in headless Chromium against a real `cairn
 * local serve`, with a virtual library (Debian's disk-changer) set up by
 * real `cairn robot add`, `robot inventory`, `pool add` and `storage-unit
 * add` processes: a `cairn backup` to tape and the `cairn restore` job that
 * reads it back each show the volume and the drive they used, and the
 * restore's page charts its throughput as a backup's does. Screenshots
 * tape-job-laptop.png and tape-job-phone.png go to test-artifacts/monitor/.
 */
describe.skipIf(Boolean(skip))(`a tape job's page in a browser${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let session: MonitorSession;
  let library: DiskChangerLibrary;
  let backupJob: number;
  let restoreJob: number;
  const cairn = async <T>(...args: string[]): Promise<T> => {
    const result = await runCairn(session.home, [...args, '--json']);
    expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
    return JSON.parse(result.stdout) as T;
  };

  beforeAll(async () => {
    library = diskChangerLibrary({ slots: 4, drives: 1, barcodes: { 1: 'VOL001', 2: 'VOL002' } });
    session = await startMonitorSession('monitor-browser-drives');
    await Promise.all([cairn('robot', 'add', 'vtl', '--changer-script', DISK_CHANGER, '--changer-device', library.changerDevice, '--drive', library.drives[0]!, '--block-size', '64K', '--file-tape-capacity', '64MiB'), cairn('pool', 'add', 'weekly')]);
    await cairn('robot', 'inventory', 'vtl');
    await cairn('storage-unit', 'add', '--name', 'tape1', '--kind', 'tape', '--robot', 'vtl', '--pool', 'weekly', '--index-unit', 'local-disk');
    const source = join(session.work, 'source');
    mkdirSync(source);
    writeFileSync(join(source, 'big.bin'), randomBytes(8 * 1024 * 1024));
    const backup = await cairn<{ jobId: number; backupId: string }>('backup', '--client', 'host1', '--path', source, '--storage-unit', 'tape1');
    backupJob = backup.jobId;
    const restored = await cairn<{ jobId: number }>('restore', '--backup-id', backup.backupId, '--to', join(session.work, 'restored'));
    restoreJob = restored.jobId;
  }, 90_000);

  afterAll(async () => {
    await session?.close();
    await library?.cleanup();
  });

  it('shows the volume and the drive each job used, and the restore\'s throughput chart, at laptop and phone width', async () => {
    const { context, page, scriptErrors } = await openWatchedPage(session.browser, { viewport: { width: 1280, height: 800 } });
    await page.goto(session.loginUrl);

    await page.goto(`${session.origin}/#/jobs/${backupJob}`);
    await page.locator('h1', { hasText: `Job ${backupJob}` }).waitFor();
    const row = (label: string) => page.locator(`dt:text-is("${label}") + dd`);
    expect(await row('Volumes').textContent()).toBe('VOL001');
    expect(await row('Drives').textContent()).toBe('vtl-d0');

    await page.goto(`${session.origin}/#/jobs/${restoreJob}`);
    await page.locator('h1', { hasText: `Job ${restoreJob}` }).waitFor();
    expect(await row('Kind').textContent()).toBe('restore');
    expect(await row('Volumes').textContent()).toBe('VOL001');
    expect(await row('Drives').textContent()).toBe('vtl-d0');
    await page.locator('.throughput-chart canvas').first().waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'tape-job-laptop.png'), fullPage: true });

    await page.setViewportSize({ width: 375, height: 800 });
    await page.locator('.throughput-chart canvas').first().waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'tape-job-phone.png'), fullPage: true });
    expect(scriptErrors).toEqual([]);
    await context.close();
  }, 30_000);
});
