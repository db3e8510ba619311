import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Drive, Media } from '#core/model/tape-media.ts';
import { DISK_CHANGER, diskChangerLibrary, diskChangerSkipReason, type DiskChangerLibrary } from '#test/edge-agent/tape/disk-changer-library.ts';
import { openLocalRuntime } from '#local/runtime.ts';
import { runCairn } from './cli-process.ts';
import { ARTIFACTS, browserSkipReason, startMonitorSession, type MonitorSession, openWatchedPage } from './monitor-browser-harness.ts';

const EVIL = '<img src=x onerror=alert(1)>';
const skip = browserSkipReason ?? diskChangerSkipReason();

/**
 * The Storage page in headless Chromium against a real `cairn local serve`,
 * with a virtual library (Debian's disk-changer: 2 drives, 3 barcodes) set
 * up by real `cairn robot add`, `robot inventory`, `pool add`, `media label`
 * and `storage-unit add` processes: the units, robot, drives and volumes
 * show; Down (with a reason) and Reset errors on a drive and Freeze on a
 * volume act, as `cairn drive list --json` and `cairn media list --json`
 * then show; a drive put up by the CLI shows at the page's next look; a
 * refused action says why; a down reason written like markup shows as
 * text. Screenshots storage-laptop.png and storage-phone.png go to
 * test-artifacts/monitor/.
 */
describe.skipIf(Boolean(skip))(`the Storage page in a browser${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let session: MonitorSession;
  let library: DiskChangerLibrary;
  const cairn = async <T>(...args: string[]): Promise<T> => {
    const result = await runCairn(session.home, [...args, '--json']);
    expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
    return JSON.parse(result.stdout) as T;
  };

  beforeAll(async () => {
    library = diskChangerLibrary({ slots: 4, drives: 2, barcodes: { 1: 'VOL001', 2: 'VOL002', 3: 'VOL003' } });
    session = await startMonitorSession('monitor-browser-storage');
    await Promise.all([cairn('robot', 'add', 'vtl', '--changer-script', DISK_CHANGER, '--changer-device', library.changerDevice, '--drive', library.drives[0]!, '--drive', library.drives[1]!, '--block-size', '64K', '--file-tape-capacity', '32MiB'), cairn('pool', 'add', 'weekly')]);
    await cairn('robot', 'inventory', 'vtl');
    await Promise.all([cairn('media', 'label', 'VOL001', '--pool', 'weekly'), cairn('storage-unit', 'add', '--name', 'tape1', '--kind', 'tape', '--robot', 'vtl', '--pool', 'weekly', '--index-unit', 'local-disk'), cairn('drive', 'down', 'vtl-d0', '--reason', EVIL)]);
    // A write error on vtl-d1, as a tape job records it (no command records one).
    const runtime = await openLocalRuntime({ home: session.home });
    await runtime.emm.recordDriveError('vtl-d1', { at: new Date().toISOString(), kind: 'write', mediaId: 'VOL001', jobId: 3, message: 'write error at record 9' });
    runtime.close();
  }, 60_000);

  afterAll(async () => {
    await session?.close();
    await library?.cleanup();
  });

  it('shows units, drives and volumes, takes a drive down and freezes a volume from the page, at laptop and phone width', async () => {
    const { context, page, dialogs, scriptErrors } = await openWatchedPage(session.browser, { viewport: { width: 1280, height: 800 } });

    // Prepare: the page's timers on a clock the test can move (its 15 s look for changes no job made); log in, then the Storage page from the menu.
    await page.clock.install();
    await page.goto(session.loginUrl);
    await page.getByRole('link', { name: 'Storage' }).click();
    await page.locator('tr[data-drive="vtl-d1"]').waitFor();

    // What the CLI set up is on the page.
    expect(await page.locator('tr[data-unit="tape1"] td[data-label="Location"]').textContent()).toBe('robot vtl, pool weekly (indexes on local-disk)');
    expect(await page.locator('tr[data-unit="local-disk"] td[data-label="Kind"]').textContent()).toBe('disk');
    expect(await page.locator('tr[data-robot="vtl"] td[data-label="Volumes"]').textContent()).toBe('3');
    expect(await page.locator('tr[data-drive="vtl-d0"] .badge').textContent()).toBe('DOWN');
    expect(await page.locator('tr[data-drive="vtl-d0"] .reason').textContent()).toBe(EVIL);
    expect(await page.locator('table.media tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-media')))).toEqual(['VOL001', 'VOL002', 'VOL003']);
    expect(await page.locator('tr[data-media="VOL001"] td[data-label="Pool"]').textContent()).toBe('weekly');

    // Act: Down on vtl-d1 with a reason, Reset errors on it, Freeze on VOL002.
    expect(await page.locator('tr[data-drive="vtl-d1"] td[data-label="Errors"]').textContent()).toBe('1');
    await page.locator('input[name="reason"]').fill('cleaning');
    await page.getByRole('button', { name: 'Down vtl-d1' }).click();
    await page.locator('tr[data-drive="vtl-d1"] .badge', { hasText: 'DOWN' }).waitFor();
    await page.getByRole('button', { name: 'Reset errors vtl-d1' }).click();
    await page.locator('tr[data-drive="vtl-d1"] td[data-label="Errors"]', { hasText: '0' }).waitFor();
    expect(await page.getByRole('button', { name: 'Reset errors vtl-d1' }).count()).toBe(0);
    await page.getByRole('button', { name: 'Freeze VOL002' }).click();
    await page.locator('tr[data-media="VOL002"] .badge', { hasText: 'FROZEN' }).waitFor();
    await page.getByRole('button', { name: 'Unfreeze VOL002' }).waitFor();

    // Assess through the CLI (and meanwhile put vtl-d0 up from the CLI: no job changes, so only the page's own look shows it).
    const [drives, media] = await Promise.all([cairn<Drive[]>('drive', 'list'), cairn<Media[]>('media', 'list'), cairn('drive', 'up', 'vtl-d0')]);
    const d1 = drives.find((d) => d.name === 'vtl-d1')!;
    expect(d1).toMatchObject({ state: 'DOWN', errorCount: 0, errors: [] });
    expect(d1.downReason).toMatch(/^cleaning \(monitor .+@.+\)$/);
    expect(media.map((m) => [m.mediaId, m.state])).toEqual([
      ['VOL001', 'UNASSIGNED'],
      ['VOL002', 'FROZEN'],
      ['VOL003', 'UNASSIGNED'],
    ]);
    await page.clock.fastForward(15_000);
    await page.locator('tr[data-drive="vtl-d0"] .badge', { hasText: 'UP' }).waitFor();
    expect(await page.locator('tr[data-drive="vtl-d0"] .reason').count()).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, 'storage-laptop.png'), fullPage: true });

    // The media filters: by pool, then by state.
    await page.locator('select[name="pool"]').selectOption('weekly');
    await page.waitForFunction(() => document.querySelectorAll('table.media tbody tr').length === 1);
    expect(await page.locator('table.media tbody tr').getAttribute('data-media')).toBe('VOL001');
    await page.locator('select[name="pool"]').selectOption('');
    await page.locator('select[name="state"]').selectOption('FROZEN');
    await page.waitForFunction(() => Array.from(document.querySelectorAll('table.media tbody tr'), (r) => r.getAttribute('data-media')).join() === 'VOL002');
    await page.locator('select[name="state"]').selectOption('');
    await page.locator('tr[data-media="VOL003"]').waitFor();

    // At phone width: every row a card, nothing wider than the screen, the buttons still there.
    await page.setViewportSize({ width: 375, height: 800 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    expect(await page.getByRole('button', { name: 'Up vtl-d1' }).isVisible()).toBe(true);
    expect(await page.getByRole('button', { name: 'Unfreeze VOL002' }).isVisible()).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'storage-phone.png'), fullPage: true });

    // A refused action says why on the page (here the session lost its token cookie), and changes nothing.
    await context.clearCookies();
    await page.getByRole('button', { name: 'Unfreeze VOL002' }).click();
    await page.getByRole('alert').filter({ hasText: 'the monitor token is missing or wrong' }).first().waitFor();
    expect((await cairn<Media>('media', 'show', 'VOL002')).state).toBe('FROZEN');

    expect(await page.locator('img').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(scriptErrors).toEqual([]);
    await context.close();
  }, 60_000);
});
