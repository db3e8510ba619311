import { beforeEach, describe, expect, it } from 'vitest';
import { memoryStores, withLocalDisk, type MemoryStores } from '#test/memory/memory-stores.ts';
import { createJobsHandler } from '#lambdas/jobs-handler.ts';
import { createBrokerHandler } from '#lambdas/broker-handler.ts';
import { createCatalogHandler } from '#lambdas/catalog-handler.ts';
import { readEnvironment } from '#lambdas/environment.ts';

describe('Lambda handlers', () => {
  let rt: MemoryStores;
  beforeEach(async () => {
    rt = await withLocalDisk(memoryStores());
  });

  const failureOf = (promise: Promise<unknown>): Promise<Error> => promise.then(() => new Error('expected a failure'), (e: unknown) => e as Error);

  it('turn a Cairn error into an error named Status<code>, which Step Functions matches on', async () => {
    const jobs = createJobsHandler(rt);
    const error = await failureOf(jobs({ action: 'queue', request: { client: 'c1', policy: 'missing' } }));
    expect(error.name).toBe('Status230');
    expect(error.message).toMatch(/policy missing does not exist/);
  });

  it('reject malformed input naming the field', async () => {
    const broker = createBrokerHandler(rt);
    const error = await failureOf(broker({ action: 'reserve', jobId: 'one' }));
    expect(error.name).toBe('Status20');
    expect(error.message).toMatch(/jobId/);
    const catalog = createCatalogHandler(rt);
    const bad = await failureOf(catalog({ action: 'commit', jobId: 1, result: { backupId: 'x' } }));
    expect(bad.name).toBe('Status2001');
  });

  it('queue and finish a job through the jobs handler', async () => {
    const jobs = createJobsHandler(rt);
    const ref = (await jobs({ action: 'queue', request: { client: 'c1', selections: ['/data'] } })) as { jobId: number };
    expect(await jobs({ action: 'finish', jobId: ref.jobId, outcome: { failure: { Error: 'States.HeartbeatTimeout', Cause: 'agent gone' } } })).toEqual({ jobId: ref.jobId, statusCode: 41 });
    expect(await rt.jobs.get(ref.jobId)).toMatchObject({ state: 'DONE', statusCode: 41, error: 'agent gone' });
  });

  it('parse their environment once and say which variable is missing', () => {
    expect(() => readEnvironment({ CONFIG_TABLE: 'c', JOBS_TABLE: 'j', CATALOG_TABLE: 'k' })).toThrow(/MEDIA_TABLE/);
    const env = readEnvironment({ CONFIG_TABLE: 'c', JOBS_TABLE: 'j', CATALOG_TABLE: 'k', MEDIA_TABLE: 'm' });
    expect(Object.isFrozen(env)).toBe(true);
  });
});
