import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jobAgentInstance } from '#core/broker/tape-agent.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import { openSqliteDatabase, type SqliteDatabase } from '#local/sqlite-database.ts';
import { sqliteMediaDatabase } from '#local/sqlite-media-manager.ts';
import { memoryStores } from '#test/memory/memory-stores.ts';

const MI_LIB = 'mi-0000000000000000a';
const MI_WEB = 'mi-0000000000000000b';
const AT = new Date('2026-12-03T04:00:00.000Z');
const tapeUnit = StorageUnit.parse({ name: 'tape1', kind: 'tape', robot: 'lib1', pool: 'daily', index: { name: 'tape1-index', kind: 'disk', path: '/srv/index' } });
const diskUnit = StorageUnit.parse({ name: 'disk1', kind: 'disk', path: '/srv/disk1' });

/** Where the cloud runtime sends a granted job's agent commands (Mount, Stream, Unmount): core/broker/tape-agent.ts. */
describe('the instance a job\'s agent commands go to', () => {
  let dir: string | undefined;
  let db: SqliteDatabase | undefined;
  afterEach(() => {
    db?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    db = undefined;
    dir = undefined;
  });
  const emmWith = async (client: string | undefined): Promise<MediaDatabase> => {
    dir = mkdtempSync(join(tmpdir(), 'cairn-tape-agent-'));
    db = openSqliteDatabase(join(dir, 'cairn.db'));
    const emm = sqliteMediaDatabase(db);
    await emm.addRobot({ name: 'lib1', changer: { type: 'mtx', device: '/dev/sg3' }, ...(client === undefined ? {} : { client }) }, AT);
    return emm;
  };

  it('sends a tape unit\'s job to the robot\'s client\'s instance, which also serves the job\'s client; a disk unit\'s to the client\'s own', async () => {
    const { config } = memoryStores();
    await config.putClient({ name: 'tapehost', instanceId: MI_LIB });
    await config.putClient({ name: 'tapehost-db', instanceId: MI_LIB });
    await config.putClient({ name: 'web1', instanceId: MI_WEB });
    const emm = await emmWith('tapehost');

    expect(await jobAgentInstance({ config, emm }, { client: 'tapehost-db' }, undefined, tapeUnit)).toBe(MI_LIB);
    expect(await jobAgentInstance({ config, emm }, { client: 'web1' }, undefined, diskUnit)).toBe(MI_WEB);
  });

  it('refuses (219) a client another instance serves, naming both: the library\'s host would back up its own files', async () => {
    const { config } = memoryStores();
    await config.putClient({ name: 'tapehost', instanceId: MI_LIB });
    await config.putClient({ name: 'web1', instanceId: MI_WEB });
    const emm = await emmWith('tapehost');

    await expect(jobAgentInstance({ config, emm }, { client: 'web1' }, undefined, tapeUnit)).rejects.toMatchObject({
      statusCode: 219,
      message: `storage unit tape1 writes to robot lib1, attached to instance ${MI_LIB} (client tapehost); client web1 runs on instance ${MI_WEB}: an agent writes tape only on the host the library is attached to`,
    });
  });

  it('fails with 48 for a robot that names no client, or whose client has no instance, as for an unmapped backup client', async () => {
    const { config } = memoryStores();
    await config.putClient({ name: 'web1', instanceId: MI_WEB });
    await expect(jobAgentInstance({ config, emm: await emmWith(undefined) }, { client: 'web1' }, undefined, tapeUnit)).rejects.toMatchObject({ statusCode: 48, message: expect.stringMatching(/^robot lib1 of storage unit tape1 names no client/) });
    db?.close();
    rmSync(dir!, { recursive: true, force: true });
    await expect(jobAgentInstance({ config, emm: await emmWith('tapehost') }, { client: 'web1' }, undefined, tapeUnit)).rejects.toMatchObject({ statusCode: 48, message: expect.stringMatching(/^robot lib1 is driven by the agent of client tapehost, which has no instance: /) });
    await expect(jobAgentInstance({ config }, { client: 'nohost' }, undefined, tapeUnit)).rejects.toMatchObject({ statusCode: 48 });
  });
});
