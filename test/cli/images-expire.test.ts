import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openLocalRuntime } from '#local/runtime.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import type { Image } from '#core/model/image.ts';
import { claimAndCommit, sampleImage } from '../contracts/fixtures.ts';
import { runCairn } from './cli-process.ts';

const DAY = 86_400_000;
const root = '/tmp/i12-expiration';

/**
 * `cairn images`, `images expire` and `images set-expiry` as an operator
 * runs them, on a standalone home whose catalog holds a full, an
 * incremental taken against it (both with real objects on local-disk) and
 * an image long past its date.
 */
describe('cairn images expire and set-expiry', () => {
  const home = join(root, `cli-${process.pid}`);
  let full: Image;
  let incr: Image;
  let old: Image;

  beforeAll(async () => {
    rmSync(home, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    const rt = await openLocalRuntime({ home });
    try {
      const store = await openStorageUnit((await rt.config.getStorageUnit('local-disk'))!);
      const now = Date.now();
      const make = async (at: number, expires: number, base?: Image): Promise<Image> => {
        const image = sampleImage('c1', new Date(at), { storageUnit: 'local-disk', level: base ? 'differential-incremental' : 'full', expiresAt: new Date(expires).toISOString(), ...(base ? { baseBackupId: base.backupId } : {}) });
        for (const name of ['fragment-00001.tar', 'index.ndjson.gz', 'manifest.json']) await store.put(`images/c1/${image.backupId}/${name}`, Buffer.alloc(10));
        await claimAndCommit(rt.catalog, image);
        return image;
      };
      old = await make(now - 40 * DAY, now - 30 * DAY);
      full = await make(now - 10 * DAY, now - DAY); // past its date, needed by the incremental
      incr = await make(now - 9 * DAY, now + 5 * DAY, full);
    } finally {
      rt.close();
    }
  });
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('lists why an image past its date is kept, in text and JSON', async () => {
    const text = await runCairn(home, ['images']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`${full.backupId}: past its expiration ${full.expiresAt}, kept: incremental ${incr.backupId} taken against it still needs it until ${incr.expiresAt}`);
    const json = await runCairn(home, ['images', '--json']);
    const listed = JSON.parse(json.stdout) as { backupId: string; keptPastExpiry?: unknown }[];
    expect(listed.find((i) => i.backupId === full.backupId)?.keptPastExpiry).toEqual({ neededBy: incr.backupId, keptUntil: incr.expiresAt, reason: `kept: incremental ${incr.backupId} taken against it still needs it until ${incr.expiresAt}` });
    expect(listed.find((i) => i.backupId === incr.backupId)).not.toHaveProperty('keptPastExpiry');
  });

  it('refuses to expire an image another needs, naming it, and changes nothing; a dry run of --force lists both', async () => {
    const refused = await runCairn(home, ['images', 'expire', '--backup-id', full.backupId, '--json']);
    expect(refused.code).toBe(2);
    expect(JSON.parse(refused.stdout)).toMatchObject({ statusCode: 20, message: expect.stringContaining(`incremental ${incr.backupId} was taken against it and still needs it`) });
    const dry = await runCairn(home, ['images', 'expire', '--backup-id', full.backupId, '--force', '--dry-run', '--json']);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, expired: [{ backupId: incr.backupId }, { backupId: full.backupId }] });
    expect((JSON.parse((await runCairn(home, ['images', '--json'])).stdout) as unknown[]).length).toBe(3);
    const usage = await runCairn(home, ['images', 'expire', '--force']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--force goes with --backup-id ID');
  });

  it('expires what is due (dry run first), then sets a date and expires on it', async () => {
    const dry = await runCairn(home, ['images', 'expire', '--dry-run', '--json']);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, expire: [{ backupId: old.backupId }], kept: [{ backupId: full.backupId, neededBy: incr.backupId }] });
    const run = await runCairn(home, ['images', 'expire', '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ dryRun: false, expired: [{ backupId: old.backupId, objectsDeleted: 3 }], problems: [] });

    const set = await runCairn(home, ['images', 'set-expiry', '--backup-id', incr.backupId, '--days', '0', '--json']);
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ backupId: incr.backupId });
    const both = await runCairn(home, ['images', 'expire']);
    expect(both.stdout).toContain(`expired ${incr.backupId}`);
    expect(both.stdout).toContain(`expired ${full.backupId}`);
    expect(JSON.parse((await runCairn(home, ['images', '--json'])).stdout)).toEqual([]);
    const missing = await runCairn(home, ['images', 'set-expiry', '--backup-id', incr.backupId, '--date', '2030-01-01T00:00:00Z']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`image ${incr.backupId} not found`);
  });
});
