import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_EVENT_STREAMS } from '#cli/monitor/job-events.ts';
import { cairnBin, runCairn } from './cli-process.ts';
import { ARTIFACTS, browserSkipReason as skip, startMonitorSession } from './monitor-browser-harness.ts';

/**
 * The page in headless Chromium when its live feed is taken from it: every
 * feed the service allows held by another client (the page's is a 503, which
 * a browser's EventSource gives up on for good), then the service stopped and
 * started again. Both times the page says "reconnecting" and comes back to
 * "live" by itself. Between the two, Restart double-clicked runs one job.
 */
describe.skipIf(Boolean(skip))(`the page's live feed, refused and lost${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('shows reconnecting while refused (503) or while the service is down, and recovers without a reload; Restart double-clicked runs one job', async () => {
    const session = await startMonitorSession('monitor-browser-attacks');
    let again: ChildProcess | undefined;
    const held: AbortController[] = [];
    try {
      const token = new URL(session.loginUrl).searchParams.get('token')!;
      for (let i = 0; i < MAX_EVENT_STREAMS; i++) {
        const controller = new AbortController();
        const feed = await fetch(`${session.origin}/api/events`, { headers: { Authorization: `Bearer ${token}` }, signal: controller.signal });
        expect(feed.status).toBe(200);
        held.push(controller);
      }
      const page = await session.browser.newPage({ viewport: { width: 1280, height: 800 } });
      const errors: Error[] = [];
      page.on('pageerror', (error) => errors.push(error));
      const badge = page.locator('[data-testid=live]');
      await page.goto(session.loginUrl);
      await expect.poll(() => badge.textContent(), { timeout: 10_000 }).toBe('reconnecting');
      for (const controller of held) controller.abort();
      await expect.poll(() => badge.textContent(), { timeout: 15_000 }).toBe('live');

      // A double click on Restart of a failed backup: one new job, which the page opens; the original names it.
      const failed = await runCairn(session.home, ['backup', '--client', 'web-host', '--path', join(session.work, 'no-such-dir'), '--json']);
      const failedId = (JSON.parse(failed.stdout) as { jobId: number }).jobId;
      const jobCount = async (): Promise<number> => (JSON.parse((await runCairn(session.home, ['jobs', '--json'])).stdout) as unknown[]).length;
      const before = await jobCount();
      await page.goto(`${session.origin}/#/jobs/${failedId}`);
      await page.locator('button.restart').dblclick();
      await page.waitForURL(/#\/jobs\/\d+$/, { timeout: 10_000 });
      await expect.poll(() => page.url(), { timeout: 10_000 }).not.toMatch(new RegExp(`#/jobs/${failedId}$`));
      const newId = Number(/#\/jobs\/(\d+)$/.exec(page.url())![1]);
      expect(await jobCount()).toBe(before + 1);
      await page.goto(`${session.origin}/#/jobs/${failedId}`);
      await expect.poll(() => page.locator('[data-testid=restarted-as]').textContent(), { timeout: 10_000 }).toBe(`job ${newId}`);
      expect(await page.locator('button.restart').count()).toBe(0);

      const port = new URL(session.origin).port;
      const stopped = new Promise((resolve) => session.serve.once('exit', resolve));
      session.serve.kill('SIGTERM');
      await stopped;
      await expect.poll(() => badge.textContent(), { timeout: 10_000 }).toBe('reconnecting');
      await page.screenshot({ path: join(ARTIFACTS, 'attacks-reconnecting-1280.png') });
      // The same home: the same token, so the page's cookie still opens it.
      again = spawn(process.execPath, [cairnBin, '--home', session.home, 'local', 'serve', '--monitor-port', port, '--json'], { stdio: 'ignore' });
      await expect.poll(() => badge.textContent(), { timeout: 20_000 }).toBe('live');
      expect(errors).toEqual([]);
    } finally {
      for (const controller of held) controller.abort();
      if (again && again.exitCode === null && again.signalCode === null) {
        const exited = new Promise((resolve) => again!.once('exit', resolve));
        again.kill('SIGTERM');
        await exited;
      }
      await session.close();
    }
  }, 60_000);
});
