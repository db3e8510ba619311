import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCairn } from './cli-process.ts';
import { ARTIFACTS, browserSkipReason as skip, startMonitorSession, type MonitorSession, openWatchedPage } from './monitor-browser-harness.ts';

const EVIL = '<img src=x onerror=alert(1)>';

/**
 * The Images page in headless Chromium against the real standalone service:
 * from a backup job's page to its image, walked by directory, a name found by
 * the search, ONE file picked and restored from the page as a restore job
 * that ends DONE 0 on the page, the file equal byte for byte, and a file
 * named like markup shown as text with nothing run. Screenshots at laptop
 * and phone width in test-artifacts/monitor/.
 */
describe.skipIf(Boolean(skip))(`the Images page in a browser${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let session: MonitorSession;
  let data: string;
  const content = randomBytes(256 * 1024 + 3);

  beforeAll(async () => {
    session = await startMonitorSession('monitor-browser-images');
    data = join(session.work, 'data');
    mkdirSync(join(data, 'sub'), { recursive: true });
    writeFileSync(join(data, 'plain.txt'), 'hello\n');
    writeFileSync(join(data, 'sub', 'other.txt'), 'other\n');
    writeFileSync(join(data, EVIL), content);
  }, 30_000);

  afterAll(async () => {
    await session?.close();
  });

  it('browses the image of a backup, finds a name, restores ONE picked file from the page byte for byte', async () => {
    const backup = await runCairn(session.home, ['backup', '--client', 'web-host', '--path', data, '--json']);
    expect(backup.code, backup.stderr).toBe(0);
    const { backupId, jobId } = JSON.parse(backup.stdout) as { backupId: string; jobId: number };
    const { context, page, dialogs, scriptErrors } = await openWatchedPage(session.browser, { viewport: { width: 1280, height: 800 } });
    await page.goto(session.loginUrl);

    // From the backup job's page to its image.
    await page.goto(`${session.origin}/#/jobs/${jobId}`);
    await page.getByRole('link', { name: 'Browse image / Restore…' }).click();
    await page.locator('h2', { hasText: `Image ${backupId}` }).waitFor();

    // Walk down to the backed-up directory, one directory at a time.
    for (const part of data.split('/').filter((p) => p !== '')) {
      await page.locator('table.entries').getByRole('button', { name: `${part}/`, exact: true }).click();
      await page.locator('.crumbs b', { hasText: part }).waitFor();
    }
    await page.locator(`tr[data-entry="sub"]`).waitFor();
    expect(await page.locator('table.entries td.name').allTextContents()).toEqual(['sub/', EVIL, 'plain.txt'].sort((a, b) => Number(b.endsWith('/')) - Number(a.endsWith('/')) || (a < b ? -1 : 1)));

    // Search a name across the client's images: the hit opens the image at its directory.
    await page.getByRole('link', { name: 'Images', exact: true }).click();
    await page.locator('tr[data-image]').first().waitFor();
    await page.getByLabel('Find a file').fill('onerror');
    await page.getByRole('button', { name: 'Search' }).click();
    const hit = page.locator('.hit-list li a');
    await hit.waitFor();
    expect(await hit.allTextContents()).toEqual([join(data, EVIL)]);
    await hit.click();
    await page.locator('.crumbs b', { hasText: 'data' }).waitFor();

    // Pick ONE file and restore it to a directory on the server.
    await page.getByLabel(`pick ${EVIL}`).check();
    const target = join(session.work, 'restored');
    await page.getByLabel('Destination directory on the Cairn server').fill(target);
    await page.screenshot({ path: join(ARTIFACTS, 'images-laptop.png'), fullPage: true });
    await page.getByRole('button', { name: 'Restore', exact: true }).click();
    const started = page.locator('.started a');
    await started.waitFor({ timeout: 10_000 });
    const restoreJob = Number(await started.textContent());
    await started.click();
    await page.locator('h1', { hasText: `Job ${restoreJob}` }).waitFor();
    await page.locator('dd', { hasText: 'DONE' }).waitFor({ timeout: 20_000 });
    expect(await page.locator('dd .ok b').textContent()).toBe('0');
    expect(await page.locator('dd', { hasText: /^restore$/ }).count()).toBe(1);
    expect(await page.locator('.image-link li').allTextContents()).toEqual([join(data, EVIL)]);

    // The one file, byte for byte, and nothing else.
    expect(readFileSync(join(target, data, EVIL)).equals(content)).toBe(true);
    expect(readdirSync(join(target, data))).toEqual([EVIL]);

    // The client at a time (cairn ls): walked from / the same way, each entry naming its image.
    await page.goto(`${session.origin}/#/images/web-host`);
    await page.getByRole('link', { name: /^Browse web-host at a time/ }).click();
    for (const part of data.split('/').filter((p) => p !== '')) {
      await page.locator('table.entries').getByRole('button', { name: `${part}/`, exact: true }).click();
      await page.locator('.crumbs b', { hasText: part }).waitFor();
    }
    await page.locator(`tr[data-entry="${EVIL}"]`).waitFor();
    expect(await page.locator(`tr[data-entry="${EVIL}"] td`).last().textContent()).toBe(backupId);

    // Phone width: the image view at the backed-up directory.
    await page.setViewportSize({ width: 375, height: 800 });
    await page.goto(`${session.origin}/#/images/web-host/${encodeURIComponent(backupId)}?path=${encodeURIComponent(data)}`);
    await page.locator(`tr[data-entry="${EVIL}"]`).waitFor();
    expect(await page.locator(`tr[data-entry="${EVIL}"] td.name`).textContent()).toBe(EVIL);
    await page.screenshot({ path: join(ARTIFACTS, 'image-phone.png'), fullPage: true });

    expect(await page.locator('img').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(scriptErrors).toEqual([]);
    await context.close();
  }, 60_000);
});
