import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCairn } from './cli-process.ts';
import { ARTIFACTS, browserSkipReason as skip, startMonitorSession, type MonitorSession, openWatchedPage } from './monitor-browser-harness.ts';

const EVIL = '<img src=x onerror=alert(1)>';
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/**
 * The Policies and Schedule pages in headless Chromium against a real
 * `cairn local serve`: a policy applied with `cairn policy apply` is listed,
 * its YAML is what `cairn policy show --yaml` prints and shows markup as
 * text, the scheduler is suspended and resumed from the page (checked with
 * `cairn config get`), and the due preview at a chosen time shows what is
 * due and why the rest is not. Screenshots at laptop and phone width.
 */
describe.skipIf(Boolean(skip))(`the Policies and Schedule pages in a browser${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let session: MonitorSession;
  // The policy's one window opens two days from now at 10:00 UTC: the running service's scheduler never starts it during the test.
  const dueDay = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() + 2, 10, 30));
  const inWindow = dueDay.toISOString().slice(0, 16);
  const dayAfter = new Date(dueDay.getTime() + 86_400_000).toISOString().slice(0, 16);

  beforeAll(async () => {
    session = await startMonitorSession('monitor-browser-policies');
    const file = join(session.work, 'policies.yaml');
    writeFileSync(
      file,
      [
        'name: web-tier',
        'clients: [{ name: web1 }, { name: web2 }]',
        `selections: ["/srv/${EVIL}"]`,
        `exclude: ["${EVIL}"]`,
        'schedules:',
        '  - name: daily-full',
        '    type: full',
        '    frequency: 1d',
        `    windows: [{ days: [${WEEKDAYS[dueDay.getUTCDay()]}], start: "10:00", duration: 1h }]`,
        'storageUnit: local-disk',
        '---',
        'name: archive',
        'active: false',
        'clients: [{ name: vault }]',
        'selections: [/archive]',
        'schedules: [{ name: by-hand, type: full }]',
        'storageUnit: local-disk',
        '',
      ].join('\n'),
    );
    const applied = await runCairn(session.home, ['policy', 'apply', '-f', file, '--json']);
    expect(applied.code, applied.stderr).toBe(0);
  }, 30_000);

  afterAll(async () => {
    await session?.close();
  });

  const suspendedByCli = async (): Promise<boolean> => {
    const got = await runCairn(session.home, ['config', 'get', 'schedulerSuspended', '--json']);
    expect(got.code, got.stderr).toBe(0);
    return JSON.parse(got.stdout) as boolean;
  };

  it('lists the policies, shows the YAML as text, suspends and resumes, and previews what is due', async () => {
    const { context, page, dialogs, scriptErrors } = await openWatchedPage(session.browser, { viewport: { width: 1280, height: 800 }, timezoneId: 'UTC' });

    // The list, from the menu.
    await page.goto(session.loginUrl);
    await page.getByRole('link', { name: 'Policies', exact: true }).click();
    const row = page.locator('tr[data-policy="web-tier"]');
    await row.waitFor();
    expect(await row.locator('td[data-label="State"]').textContent()).toBe('active');
    expect(await row.locator('td[data-label="Clients"]').textContent()).toBe('web1, web2');
    expect(await row.locator('td[data-label="Schedules"]').textContent()).toBe('daily-full (full, every 1d)');
    expect(await page.locator('tr[data-policy="archive"] td[data-label="State"]').textContent()).toBe('inactive');
    await page.screenshot({ path: join(ARTIFACTS, 'policies-laptop.png'), fullPage: true });

    // One policy: the YAML `cairn policy show --yaml` prints, markup as text.
    await row.getByRole('link', { name: 'web-tier' }).click();
    const yaml = page.getByTestId('policy-yaml');
    await yaml.waitFor();
    const shown = await runCairn(session.home, ['policy', 'show', 'web-tier', '--yaml']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(await yaml.textContent()).toBe(shown.stdout);
    expect(await yaml.textContent()).toContain(`/srv/${EVIL}`);
    await page.screenshot({ path: join(ARTIFACTS, 'policy-laptop.png'), fullPage: true });

    // Suspend from the page: the CLI sees the scheduler suspended, and the badges say so.
    await page.getByRole('button', { name: 'Suspend scheduling' }).click();
    await page.getByTestId('scheduler').getByText('scheduling suspended').waitFor();
    expect(await suspendedByCli()).toBe(true);
    await page.getByRole('link', { name: 'Policies', exact: true }).click();
    await page.locator('tr[data-policy="web-tier"] td[data-label="State"]', { hasText: 'suspended' }).waitFor();

    // The list and the schedule at phone width, at a chosen time in the window: nothing is due while suspended, and the reason says why.
    await page.setViewportSize({ width: 375, height: 800 });
    await page.screenshot({ path: join(ARTIFACTS, 'policies-phone.png'), fullPage: true });
    await page.getByRole('link', { name: 'Schedule', exact: true }).click();
    await page.getByTestId('due-preview').waitFor();
    await page.locator('input[name="at"]').fill(inWindow);
    const preview = page.locator(`[data-testid="due-preview"][data-at="${inWindow}:00.000Z"]`);
    await preview.waitFor();
    expect(await preview.locator('.nothing').first().textContent()).toBe('Nothing is due.');
    expect(await preview.locator('table.not-due tr[data-key="web-tier/web1/daily-full"] td[data-label="Why not"]').textContent()).toBe('scheduling is suspended (cairn schedule resume)');

    // Resume from the Schedule page: the same instant now has the policy's two clients due, each with its reason.
    await page.getByRole('button', { name: 'Resume scheduling' }).click();
    await page.getByTestId('scheduler').getByText('scheduling on').waitFor();
    expect(await suspendedByCli()).toBe(false);
    await preview.locator('table.due tr[data-key="web-tier/web2/daily-full"]').waitFor();
    expect(await preview.locator('table.due td[data-label="Why"]').allTextContents()).toEqual(['no successful backup yet', 'no successful backup yet']);
    expect(await preview.locator('table.not-due tr[data-key="archive/vault/by-hand"] td[data-label="Why not"]').textContent()).toBe('policy is inactive');
    await page.screenshot({ path: join(ARTIFACTS, 'schedule-phone.png'), fullPage: true });

    // The next day, the window is closed: nothing due, and the reason names the next opening.
    await page.locator('input[name="at"]').fill(dayAfter);
    const later = page.locator(`[data-testid="due-preview"][data-at="${dayAfter}:00.000Z"]`);
    await later.waitFor();
    expect(await later.locator('table.due').count()).toBe(0);
    expect(await later.locator('table.not-due tr[data-key="web-tier/web1/daily-full"] td[data-label="Why not"]').textContent()).toMatch(/^no start window is open; the next opens \d{4}-/);

    // Assess: nothing ran.
    expect(await page.locator('img').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(scriptErrors).toEqual([]);
    await context.close();
  }, 60_000);
});
