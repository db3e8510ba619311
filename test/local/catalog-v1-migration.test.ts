import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openLocalRuntime } from '#local/runtime.ts';
import { SCHEMA_VERSION } from '#local/sqlite-migrations.ts';
import { CairnError } from '#core/errors.ts';
import { copyV1Home, expectedTree, treeDigest, v1Images, V1_FULL, V1_INCREMENTAL, V1_SOURCE } from '../fixtures/catalog-v1.ts';
import { runCairn } from '../cli/cli-process.ts';

/** A standalone home written by the code before images had copies, opened by today's code. */
describe('a standalone catalog written before images had copies', () => {
  const work: string[] = [];
  afterEach(() => {
    for (const dir of work.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** A copy of the v1 home; its storage unit is pointed at the copy's storage directory. */
  async function v1Home(): Promise<{ dir: string; home: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-v1-'));
    work.push(dir);
    const home = copyV1Home(join(dir, 'home'));
    const runtime = await openLocalRuntime({ home });
    try {
      const unit = (await runtime.config.getStorageUnit('local-disk'))!;
      await runtime.config.putStorageUnit({ ...unit, kind: 'disk', path: join(home, 'storage', 'local-disk') });
    } finally {
      runtime.close();
    }
    return { dir, home };
  }

  it('opens, lists the same images with their one copy, and restores both byte for byte through the CLI', async () => {
    // Prepare
    const { dir, home } = await v1Home();

    // Act
    const listed = await runCairn(home, ['images', '--json']);
    const full = await runCairn(home, ['restore', '--backup-id', V1_FULL, '--to', join(dir, 'full'), '--json']);
    const atIncremental = await runCairn(home, ['restore', '--client', 'fixture-host', '--at', '2026-12-02T09:59:24Z', '--to', join(dir, 'incr'), '--json']);

    // Assess
    expect(listed.code, listed.stderr).toBe(0);
    const images = JSON.parse(listed.stdout) as Record<string, unknown>[];
    const before = v1Images();
    expect(images.map((i) => i.backupId)).toEqual([V1_INCREMENTAL, V1_FULL]);
    images.forEach((image, i) => {
      const { fragments, indexKey, indexSha256, manifestKey, storageUnit } = before[i]! as Record<string, unknown> & { fragments: { number: number; key: string; bytes: number; sha256: string }[] };
      // Every field v1 printed, with its value, and the copies.
      expect(image).toEqual({
        ...before[i],
        fragments: fragments.map((f) => ({ ...f, location: { kind: 'object', key: f.key } })),
        copies: [
          {
            copyNumber: 1,
            storageUnit,
            fragments: fragments.map(({ key, ...f }) => ({ ...f, location: { kind: 'object', key } })),
            indexKey,
            indexSha256,
            manifestKey,
          },
        ],
      });
    });
    expect(full.code, full.stderr).toBe(0);
    expect(treeDigest(join(dir, 'full', V1_SOURCE))).toEqual(expectedTree('full'));
    expect(atIncremental.code, atIncremental.stderr).toBe(0);
    expect(JSON.parse(atIncremental.stdout)).toMatchObject({ images: [V1_FULL, V1_INCREMENTAL], statusCode: 0 });
    expect(treeDigest(join(dir, 'incr', V1_SOURCE))).toEqual(expectedTree('incr'));
  });

  it('records the schema version and stores the migrated rows, once', async () => {
    // Prepare
    const { home } = await v1Home();
    const db = new Database(join(home, 'cairn.db'));
    const rows = (): Record<string, unknown>[] => (db.prepare('SELECT value FROM images ORDER BY backup_id').all() as { value: string }[]).map((r) => JSON.parse(r.value) as Record<string, unknown>);
    try {
      // Act
      const migrated = rows();
      (await openLocalRuntime({ home })).close();

      // Assess
      expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      expect(migrated.map((r) => Object.keys(r).filter((k) => ['copies', 'fragments', 'storageUnit', 'indexKey'].includes(k)))).toEqual([['copies'], ['copies']]);
      expect(rows()).toEqual(migrated);
    } finally {
      db.close();
    }
  });

  it('migrates nothing when one row cannot be read, and says which', async () => {
    // Prepare: the v1 home with one damaged row, as the code before wrote it (user_version 0).
    const dir = mkdtempSync(join(tmpdir(), 'cairn-v1-'));
    work.push(dir);
    const home = copyV1Home(join(dir, 'home'));
    const db = new Database(join(home, 'cairn.db'));
    const original = db.prepare('SELECT backup_id, value FROM images ORDER BY backup_id').all();
    const damaged = JSON.parse((original[1] as { value: string }).value) as Record<string, unknown>;
    delete damaged.indexKey;
    db.prepare('UPDATE images SET value = ? WHERE backup_id = ?').run(JSON.stringify(damaged), V1_INCREMENTAL);
    const before = db.prepare('SELECT backup_id, value FROM images ORDER BY backup_id').all();
    db.close();

    // Act
    const opened = openLocalRuntime({ home });

    // Assess
    await expect(opened).rejects.toThrow(new RegExp(`image ${V1_INCREMENTAL} in the catalog is not a valid version 1 record`));
    const after = new Database(join(home, 'cairn.db'));
    try {
      expect(after.pragma('user_version', { simple: true })).toBe(0);
      expect(after.prepare('SELECT backup_id, value FROM images ORDER BY backup_id').all()).toEqual(before);
    } finally {
      after.close();
    }
  });

  it('refuses a database written by a newer Cairn instead of misreading it', async () => {
    // Prepare
    const { home } = await v1Home();
    const db = new Database(join(home, 'cairn.db'));
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();

    // Act
    const opened = openLocalRuntime({ home });

    // Assess
    await expect(opened).rejects.toBeInstanceOf(CairnError);
    await expect(openLocalRuntime({ home })).rejects.toThrow(`schema version ${SCHEMA_VERSION + 1}, newer than this Cairn knows (${SCHEMA_VERSION})`);
  });
});
