import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalRuntime } from '#local/runtime.ts';
import { sampleJob } from '../contracts/fixtures.ts';
import { runCairn } from './cli-process.ts';
import { ARTIFACTS, browserSkipReason as skip, startMonitorSession, type MonitorSession } from './monitor-browser-harness.ts';

const EVIL = '<img src=x onerror=alert(1)>';

/**
 * The activity monitor in headless Chromium against the real standalone
 * service (`cairn local serve` as a child process): a backup appears and ends
 * 0 on the page, a queued job is cancelled from the page, and a file named
 * like markup shows as text with nothing run. Screenshots go to
 * test-artifacts/monitor/ at laptop and phone width.
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
  }, 30_000);

  afterAll(async () => {
    await session?.close();
  });

  it('shows a backup live until DONE 0, cancels a queued job, and escapes a file name', async () => {
    const context = await session.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    const scriptErrors: string[] = [];
    page.on('pageerror', (error) => scriptErrors.push(error.message));

    // Prepare: log in with the token; the URL drops it.
    await page.goto(loginUrl);
    expect(page.url()).not.toMatch(/token=/);
    await page.getByTestId('live').filter({ hasText: 'live' }).waitFor();

    // Act: a backup in its own process; the page shows it appear and end.
    const backup = await runCairn(home, ['backup', '--client', 'web-host', '--path', join(work, 'data'), '--json']);
    expect(backup.code, backup.stderr).toBe(0);
    const row = page.locator('tr[data-job="1"]');
    await row.locator('td.state', { hasText: 'DONE' }).waitFor({ timeout: 10_000 });
    expect(await row.locator('td.status b').textContent()).toBe('0');
    await page.screenshot({ path: join(ARTIFACTS, 'jobs-laptop.png'), fullPage: true });

    // A second job, queued (as a policy's job waiting for its turn), cancelled from its page.
    const runtime = await openLocalRuntime({ home });
    await runtime.jobs.create(sampleJob(await runtime.jobs.nextJobId(), { client: 'web-host', policy: 'queued-policy', waitingReason: `waiting for ${EVIL}`, queuedAt: new Date().toISOString(), updatedAt: new Date().toISOString() }));
    runtime.close();
    await page.locator('tr[data-job="2"] td.state', { hasText: 'QUEUED' }).waitFor({ timeout: 10_000 });
    expect(await page.locator('tr[data-job="2"] .waiting').textContent()).toBe(`waiting for ${EVIL}`);
    await page.locator('tr[data-job="2"] a').click();
    await page.locator('dd', { hasText: `waiting for ${EVIL}` }).waitFor();
    await page.getByRole('button', { name: 'Cancel job' }).click();
    await page.locator('dd', { hasText: 'cancelled by an administrator (monitor ' }).waitFor({ timeout: 10_000 });
    const shown = JSON.parse((await runCairn(home, ['jobs', 'show', '2', '--json'])).stdout) as { state: string; statusCode: number; error: string };
    expect(shown).toMatchObject({ state: 'DONE', statusCode: 150 });
    expect(shown.error).toMatch(/^cancelled by an administrator \(monitor .+@.+\)$/);
    await page.screenshot({ path: join(ARTIFACTS, 'job-laptop.png'), fullPage: true });

    // The pages at phone width.
    await page.goto(`${new URL(loginUrl).origin}/#/jobs/1`);
    await page.locator('h1', { hasText: 'Job 1' }).waitFor();
    await page.setViewportSize({ width: 375, height: 800 });
    await page.screenshot({ path: join(ARTIFACTS, 'job-phone.png'), fullPage: true });
    await page.goto(`${new URL(loginUrl).origin}/#/jobs`);
    await page.locator('tr[data-job="2"]').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'jobs-phone.png'), fullPage: true });

    // A backup of the file named like markup itself: its name is the job's selection, shown as text.
    const evil = await runCairn(home, ['backup', '--client', 'web-host', '--path', join(work, 'data', EVIL), '--json']);
    expect(evil.code, evil.stderr).toBe(0);
    await page.locator('tr[data-job="3"] td.state', { hasText: 'DONE' }).waitFor({ timeout: 10_000 });
    await page.goto(`${new URL(loginUrl).origin}/#/jobs/3`);
    expect(await page.locator('dd', { hasText: EVIL }).first().textContent()).toBe(join(work, 'data', EVIL));

    // Assess
    expect(await page.locator('img').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(scriptErrors).toEqual([]);
    await context.close();
  }, 60_000);
});
