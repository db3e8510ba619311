import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCairn, type CliResult } from './cli-process.ts';

/** `cairn verify` as an operator runs it: a verify job per image, exit 0 for good images, 2 naming the first bad member. */
describe('cairn verify', () => {
  let work: string;
  let home: string;
  let source: string;
  const cairn = (...args: string[]): Promise<CliResult> => runCairn(home, args);

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'cairn-cli-verify-'));
    home = join(work, 'home');
    source = join(work, 'source');
    mkdirSync(join(source, 'docs'), { recursive: true });
    writeFileSync(join(source, 'docs', 'a.txt'), 'alpha\n');
    writeFileSync(join(source, 'docs', 'b.txt'), 'bravo\n');
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('verifies an image (0), then, its data damaged, ends 2 with status 2001 naming the member; --client --since verifies each image', async () => {
    const since = new Date(Date.now() - 60_000).toISOString();
    const backup = await cairn('backup', '--client', 'vhost', '--path', source, '--json');
    expect(backup.code, backup.stderr).toBe(0);
    const { backupId } = JSON.parse(backup.stdout) as { backupId: string };

    const good = await cairn('verify', '--backup-id', backupId, '--json');
    expect(good.code, good.stderr).toBe(0);
    expect(JSON.parse(good.stdout)).toMatchObject({ backupId, statusCode: 0, problemCount: 0, files: 4 });
    const text = await cairn('verify', '--backup-id', backupId);
    expect(text.stderr).toMatch(/verify job \d+ ended with status 0/);

    const [image] = JSON.parse((await cairn('images', '--client', 'vhost', '--json')).stdout) as Array<{ fragments: Array<{ key: string }> }>;
    const [unit] = JSON.parse((await cairn('storage-unit', 'list', '--json')).stdout) as Array<{ path: string }>;
    const file = join(unit!.path, image!.fragments[0]!.key);
    const bytes = readFileSync(file);
    const at = bytes.indexOf('alpha\n');
    bytes[at] = bytes[at]! ^ 0x20;
    writeFileSync(file, bytes);

    const bad = await cairn('verify', '--backup-id', backupId, '--json');
    expect(bad.code).toBe(2);
    const outcome = JSON.parse(bad.stdout) as { statusCode: number; error: string; jobId: number };
    expect(outcome.statusCode).toBe(2001);
    expect(outcome.error).toContain(`${source}/docs/a.txt (fragment 1 (${image!.fragments[0]!.key}) at byte`);
    const shown = await cairn('jobs', 'show', String(outcome.jobId));
    expect(shown.stdout).toMatch(/problems\s+1, first: .*docs\/a\.txt/);

    const all = await cairn('verify', '--client', 'vhost', '--since', since, '--json');
    expect(all.code).toBe(2);
    expect((JSON.parse(all.stdout) as Array<{ backupId: string; statusCode: number }>).map((o) => [o.backupId, o.statusCode])).toEqual([[backupId, 2001]]);
  }, 120_000);

  it('refuses a call that names no image, or an image that does not exist', async () => {
    expect((await cairn('verify')).code).toBe(2);
    const missing = await cairn('verify', '--backup-id', 'nobody_1700000000');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/not in the catalog/);
  }, 60_000);
});
