import { randomBytes } from 'node:crypto';
import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCairn, spawnCairn } from './cli-process.ts';
import { ARTIFACTS, browserSkipReason as skip, startMonitorSession, type MonitorSession, openWatchedPage } from './monitor-browser-harness.ts';

const EVIL = '<img src=x onerror=alert(1)>';

/**
 * The activity monitor in headless Chromium against the real standalone
 * service (`cairn local serve` as a child process): a backup appears and ends
 * 0 on the page with its throughput chart; a real job waiting for a storage
 * unit's only slot (held by a long backup) is cancelled from the page, and
 * so is the one holding it; a failed backup is restarted from the page and
 * its status links to the status codes' document; a file named like markup
 * shows as text with nothing run, and no style or script breaks the CSP.
 * Screenshots go to test-artifacts/monitor/ at laptop and phone width.
 */
describe.skipIf(Boolean(skip))(`the activity monitor in a browser${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let session: MonitorSession;
  let work: string;
  let home: string;
  let loginUrl: string;

  beforeAll(async () => {
    session = await startMonitorSession('monitor-browser');
    ({ work, home, loginUrl } = session);
    mkdirSync(join(work, 'data'));
    writeFileSync(join(work, 'data', 'plain.txt'), 'hello');
    writeFileSync(join(work, 'data', EVIL), 'not markup');
    writeFileSync(join(work, 'data', 'random.bin'), randomBytes(8 * 1024 * 1024));
    // A file of 64 GiB, all hole: a backup of it reads for far longer than the test needs it to hold its unit's slot.
    mkdirSync(join(work, 'long'));
    writeFileSync(join(work, 'long', 'sparse.img'), '');
    truncateSync(join(work, 'long', 'sparse.img'), 64 * 1024 ** 3);
  }, 30_000);

  afterAll(async () => {
    await session?.close();
  });

  it('shows a backup live until DONE 0 with its chart, cancels real waiting and running jobs, restarts a failed one, and escapes a file name', async () => {
    // uPlot and Preact style through the CSSOM, which `style-src 'self'` allows; an inline style or script would be reported in cspViolations.
    const { context, page, dialogs, scriptErrors, cspViolations } = await openWatchedPage(session.browser, { viewport: { width: 1280, height: 800 } });
    const origin = new URL(loginUrl).origin;
    const jobShown = async (jobId: number): Promise<{ state: string; statusCode: number; error?: string; details?: { message: string }[] }> => JSON.parse((await runCairn(home, ['jobs', 'show', String(jobId), '--json'])).stdout);

    // Prepare: log in with the token; the URL drops it.
    await page.goto(loginUrl);
    expect(page.url()).not.toMatch(/token=/);
    await page.getByTestId('live').filter({ hasText: 'live' }).waitFor();

    // Act: a backup in its own process; the page shows it appear and end, and its throughput over time.
    const backup = await runCairn(home, ['backup', '--client', 'web-host', '--path', join(work, 'data'), '--json']);
    expect(backup.code, backup.stderr).toBe(0);
    const row = page.locator('tr[data-job="1"]');
    await row.locator('td.state', { hasText: 'DONE' }).waitFor({ timeout: 10_000 });
    expect(await row.locator('td.status b').textContent()).toBe('0');
    await page.goto(`${origin}/#/jobs/1`);
    await page.locator('.throughput-chart canvas').first().waitFor();
    await page.locator('dt', { hasText: 'Bottleneck' }).waitFor();

    // A unit with one slot: a long backup holds it, a second backup waits for it (both real `cairn backup` processes).
    // A waiting job looks again every resourceRetrySeconds (default 30): 2 lets the cancelled one's process end within the test.
    const setUp = await Promise.all([
      runCairn(home, ['storage-unit', 'add', '--name', 'one-slot', '--kind', 'disk', '--path', join(work, 'one-slot'), '--max-jobs', '1', '--json']),
      runCairn(home, ['config', 'set', 'resourceRetrySeconds', '2', '--json']),
    ]);
    expect(setUp.map((r) => r.code)).toEqual([0, 0]);
    const long = spawnCairn(home, ['backup', '--client', 'web-host', '--path', join(work, 'long'), '--storage-unit', 'one-slot', '--json']);
    await page.goto(`${origin}/#/jobs`);
    await page.locator('tr[data-job="2"] td.state', { hasText: 'ACTIVE' }).waitFor({ timeout: 10_000 });
    const waiting = spawnCairn(home, ['backup', '--client', 'web-host', '--path', join(work, 'data'), '--storage-unit', 'one-slot', '--json']);
    await page.locator('tr[data-job="3"] td.state', { hasText: 'QUEUED' }).waitFor({ timeout: 10_000 });
    await page.locator('tr[data-job="3"] .waiting', { hasText: /^waiting for storage unit/ }).waitFor({ timeout: 10_000 });

    // The waiting job, cancelled from its page.
    await page.locator('tr[data-job="3"] a').click();
    await page.locator('dt', { hasText: 'Waiting for' }).waitFor();
    await page.getByRole('button', { name: 'Cancel job' }).click();
    await page.locator('dd', { hasText: 'cancelled by an administrator (monitor ' }).waitFor({ timeout: 10_000 });
    const cancelled = await jobShown(3);
    expect(cancelled).toMatchObject({ state: 'DONE', statusCode: 150 });
    expect(cancelled.error).toMatch(/^cancelled by an administrator \(monitor .+@.+\)$/);
    // The running one too: its agent stops at its next report and the process ends.
    await page.goto(`${origin}/#/jobs/2`);
    await page.getByRole('button', { name: 'Cancel job' }).click();
    await page.locator('dd', { hasText: 'cancelled by an administrator (monitor ' }).waitFor({ timeout: 10_000 });
    expect(await jobShown(2)).toMatchObject({ state: 'DONE', statusCode: 150 });

    // A failed backup (its path does not exist), restarted from its page: a new job that ends the same way, naming who restarted it.
    const failed = await runCairn(home, ['backup', '--client', 'web-host', '--path', join(work, 'no-such-dir'), '--json']);
    expect(JSON.parse(failed.stdout)).toMatchObject({ jobId: 4, statusCode: 71 });
    await page.goto(`${origin}/#/jobs/4`);
    await page.getByRole('button', { name: 'Restart job' }).click();
    await page.locator('h1', { hasText: 'Job 5' }).waitFor({ timeout: 10_000 });
    await page.locator('dd .failed b', { hasText: '71' }).waitFor({ timeout: 10_000 });
    await page.locator('.timeline li', { hasText: 'restart of job 4, requested by monitor ' }).waitFor();
    expect(await jobShown(5)).toMatchObject({ state: 'DONE', statusCode: 71 });
    await page.screenshot({ path: join(ARTIFACTS, 'job-laptop.png'), fullPage: true });
    // Its status code opens the status codes' document, served by the monitor.
    await page.locator('a.status-link').click();
    await page.locator('h1', { hasText: 'Status 71' }).waitFor();
    expect(await page.locator('tr.chosen').textContent()).toContain('none of the files in the file list exist');

    // A backup of the file named like markup itself: its name is the job's selection, shown as text.
    const evil = await runCairn(home, ['backup', '--client', 'web-host', '--path', join(work, 'data', EVIL), '--json']);
    expect(evil.code, evil.stderr).toBe(0);
    await page.goto(`${origin}/#/jobs`);
    await page.locator('tr[data-job="6"] td.state', { hasText: 'DONE' }).waitFor({ timeout: 10_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'jobs-laptop.png'), fullPage: true });
    await page.goto(`${origin}/#/jobs/6`);
    expect(await page.locator('dd', { hasText: EVIL }).first().textContent()).toBe(join(work, 'data', EVIL));

    // The pages at phone width.
    await page.setViewportSize({ width: 375, height: 800 });
    await page.goto(`${origin}/#/jobs/1`);
    await page.locator('.throughput-chart canvas').first().waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'job-phone.png'), fullPage: true });
    await page.goto(`${origin}/#/jobs`);
    await page.locator('tr[data-job="6"]').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'jobs-phone.png'), fullPage: true });

    // Assess: both backups on the one-slot unit have ended their processes (the waiting one at its next look after a backoff).
    await Promise.all([long.exited, waiting.exited]);
    expect(await page.locator('img').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(scriptErrors).toEqual([]);
    expect(cspViolations).toEqual([]);
    await context.close();
  }, 60_000);
});
