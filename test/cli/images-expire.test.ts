import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
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

/**
 * `cairn images expire` killed with SIGKILL at some point of its work (a
 * different point each attempt), then run again: whatever the kill left
 * (images marked EXPIRED, folders half deleted, rows still there), the
 * second run finishes it, and storage ends holding exactly the images still
 * inside retention.
 */
describe('cairn images expire killed mid-run', () => {
  const home = join(root, `cli-kill-${process.pid}`);
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('is finished by the next run, leaving no object of an expired image', { timeout: 300_000 }, async () => {
    rmSync(home, { recursive: true, force: true });
    const rt = await openLocalRuntime({ home });
    const keep: string[] = [];
    const ids: string[] = [];
    try {
      const store = await openStorageUnit((await rt.config.getStorageUnit('local-disk'))!);
      const now = Date.now();
      for (let n = 0; n < 40; n++) {
        const at = now - (60 - n) * DAY;
        // Chains of four: a full and three incrementals; the last ten images are inside retention.
        const base = n % 4 === 0 ? undefined : (await rt.catalog.listImages({ client: 'k1' }))[0];
        const image = sampleImage('k1', new Date(at), { storageUnit: 'local-disk', jobId: n + 1, level: base ? 'differential-incremental' : 'full', expiresAt: new Date(n >= 30 ? now + DAY : at + DAY).toISOString(), ...(base ? { baseBackupId: base.backupId } : {}) });
        for (let f = 1; f <= 5; f++) await store.put(`images/k1/${image.backupId}/fragment-0000${f}.tar`, Buffer.alloc(4096, n));
        for (const name of ['index.ndjson.gz', 'manifest.json']) await store.put(`images/k1/${image.backupId}/${name}`, Buffer.alloc(10));
        await claimAndCommit(rt.catalog, image);
        ids.push(image.backupId);
        // Images 28 and 29 are the base chain of 30 and 31 (same chain of four): kept with them.
        if (n >= 28) keep.push(image.backupId);
      }
    } finally {
      rt.close();
    }
    const { spawnCairn } = await import('./cli-process.ts');
    // Killed as soon as the first object of image 27 (the first the run deletes: newest first), then of image 20, is gone.
    for (const victim of [ids[27]!, ids[20]!]) {
      const fragment = join(home, 'storage', 'local-disk', 'images', 'k1', victim, 'fragment-00001.tar');
      const { child, exited } = spawnCairn(home, ['images', 'expire']);
      const ended = exited.then(() => 'exited' as const);
      for (let waited = 0; existsSync(fragment) && waited < 120_000; waited += 2) {
        if ((await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 2))])) === 'exited') break;
      }
      child.kill('SIGKILL');
      expect((await exited).signal, `the run was killed while deleting ${victim}`).toBe('SIGKILL');
    }
    const finish = await runCairn(home, ['images', 'expire', '--json']);
    expect(finish.code, finish.stderr).toBe(0);
    expect(JSON.parse(finish.stdout)).toMatchObject({ problems: [] });
    const listed = JSON.parse((await runCairn(home, ['images', '--json'])).stdout) as { backupId: string; state: string }[];
    expect(listed.map((i) => i.backupId).sort()).toEqual([...keep].sort());
    expect(listed.every((i) => i.state === 'ACTIVE')).toBe(true);
    const rt2 = await openLocalRuntime({ home });
    try {
      const store = await openStorageUnit((await rt2.config.getStorageUnit('local-disk'))!);
      const folders = [...new Set((await store.list('images/')).map((k) => k.split('/')[2]))].sort();
      expect(folders).toEqual([...keep].sort());
      for (const id of keep) expect(await store.list(`images/k1/${id}/`)).toHaveLength(7);
      expect(await store.listIncomplete('images/')).toEqual([]);
    } finally {
      rt2.close();
    }
  });
});
