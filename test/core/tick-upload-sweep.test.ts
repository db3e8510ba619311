import { describe, expect, it } from 'vitest';
import { StorageUnit } from '#core/model/storage-unit.ts';
import type { AbandonedUploads } from '#core/ports/abandoned-uploads.ts';
import { schedulerTick } from '#core/schedule/tick.ts';
import { CairnError } from '#core/errors.ts';
import { memoryStores } from '../memory/memory-stores.ts';
import { MemoryExecutionStarter } from '../memory/memory-execution-starter.ts';

const NOW = new Date('2026-11-24T12:00:00Z');

/** A sweeper that records what it was asked and answers per unit. */
function sweeper(answers: Record<string, Awaited<ReturnType<AbandonedUploads['sweep']>> | Error>) {
  const asked: string[] = [];
  const uploads: AbandonedUploads = {
    sweep: async (unit, now) => {
      asked.push(`${unit.name}@${now.toISOString()}`);
      const answer = answers[unit.name] ?? { aborted: [], problems: [] };
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  return { asked, uploads };
}

async function stores() {
  const s = memoryStores(NOW);
  await s.config.putStorageUnit(StorageUnit.parse({ name: 'cloud', kind: 's3', bucket: 'cairn-images', prefix: 'site1' }));
  await s.config.putStorageUnit(StorageUnit.parse({ name: 'disk', kind: 'disk', path: '/backup/disk' }));
  return s;
}

describe('the scheduler tick sweeps abandoned multipart uploads', () => {
  it('asks about every storage unit at the tick’s time and reports what was aborted, by unit', async () => {
    const s = await stores();
    const { asked, uploads } = sweeper({ cloud: { aborted: [{ key: 'site1/images/h/h_1/fragment-000001.tar', uploadId: 'u1' }], problems: [] } });
    const result = await schedulerTick({ ...s, starter: new MemoryExecutionStarter(), sweep: { executions: { describe: async () => undefined }, media: s.media, uploads } }, NOW);
    expect(asked.sort()).toEqual([`cloud@${NOW.toISOString()}`, `disk@${NOW.toISOString()}`]);
    expect(result.swept?.abortedUploads).toEqual([{ storageUnit: 'cloud', key: 'site1/images/h/h_1/fragment-000001.tar', uploadId: 'u1' }]);
  });

  it('sweeps the other units when one fails, then fails the tick naming the unit (the next tick tries again)', async () => {
    const s = await stores();
    const { asked, uploads } = sweeper({ cloud: new Error('AccessDenied on ListMultipartUploads'), disk: { aborted: [], problems: ['aborting x failed: SlowDown'] } });
    const error = await schedulerTick({ ...s, starter: new MemoryExecutionStarter(), sweep: { executions: { describe: async () => undefined }, media: s.media, uploads } }, NOW).catch((e: unknown) => e);
    expect(asked).toHaveLength(2);
    expect(error).toBeInstanceOf(CairnError);
    expect((error as CairnError).details).toEqual(['storage unit cloud: its abandoned uploads could not be swept: AccessDenied on ListMultipartUploads', 'storage unit disk: aborting x failed: SlowDown']);
  });

  it('does not sweep uploads without a sweeper (the standalone runtime)', async () => {
    const s = await stores();
    const result = await schedulerTick({ ...s, starter: new MemoryExecutionStarter(), sweep: { executions: { describe: async () => undefined }, media: s.media } }, NOW);
    expect(result.swept?.abortedUploads).toBeUndefined();
  });
});
