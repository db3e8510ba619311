import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteDatabase } from '#local/sqlite-database.ts';
import { sqliteMediaDatabase } from '#local/sqlite-media-manager.ts';
import { describeTapeErrorRecording } from '../contracts/tape-error-recording-contract.ts';

describeTapeErrorRecording('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-tape-errors-'));
  const db = openSqliteDatabase(join(dir, 'cairn.db'));
  return {
    store: sqliteMediaDatabase(db),
    cleanup: async () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
