// Lambda entry: environment, Powertools and SDK clients are set up once per cold start.
//
// The catalog-job function's composition root, and the one lambdas/ file that may import edge-agent/
// (edge-agent/catalog/ only, .dependency-cruiser.js `catalog-job-entry-composes-the-catalog-image`): a
// catalog backup writes its image with the agent's image writer, and the catalog check looks at each
// copy's objects with the agent's manifest reader. Both are handed to the handler as ports.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cloudStorageOpener } from '#aws/cloud-storage-opener.ts';
import { dumpTablesToFile, TABLES_FILE } from '#aws/dynamo-table-dump.ts';
import { SfnExecutionStatuses } from '#aws/sfn-execution-status.ts';
import { UsageMeter } from '#aws/usage-meter.ts';
import { checkImageObjects } from '#agent/catalog/image-objects-check.ts';
import { unitCatalogImageWriter } from '#agent/catalog/unit-catalog-image.ts';
import { createCatalogJobHandler } from './catalog-job-handler.ts';
import { cloudCatalogCheckDeps } from './cloud-catalog-check.ts';
import { meteredDynamoDeps } from './metered-deps.ts';
import { observedLambda } from './observability.ts';
import { readStateMachineEnvironment } from './state-machine-environment.ts';
import { withUsageRecording } from './usage-recording.ts';
import { systemTimer } from './system-clock.ts';

const env = readStateMachineEnvironment('catalog-job');
const meter = new UsageMeter();
const { observability, clients } = observedLambda(env, meter);
const { deps, recording } = meteredDynamoDeps(env, clients, meter, observability);
const { config, catalog, jobs, media, emm, clock } = deps;
const statuses = (stateMachineArn: string) => new SfnExecutionStatuses({ client: clients.sfn, stateMachineArn });
const now = () => clock.now();

export const handler = withUsageRecording(
  createCatalogJobHandler(
    {
      jobs,
      config,
      clock,
      timer: systemTimer,
      // A scheduled check: S3 units listed, tape units through the media manager; a disk unit is on an agent's host and reported not checked.
      check: cloudCatalogCheckDeps({
        catalog,
        config,
        jobs,
        media,
        emm,
        s3: clients.s3,
        executions: {
          executions: statuses(env.STATE_MACHINE_ARN),
          ...(env.RESTORE_STATE_MACHINE_ARN ? { restoreExecutions: statuses(env.RESTORE_STATE_MACHINE_ARN) } : {}),
          ...(env.VERIFY_STATE_MACHINE_ARN ? { verifyExecutions: statuses(env.VERIFY_STATE_MACHINE_ARN) } : {}),
          // None for catalog jobs: the stack cannot hand this function its own state machine's ARN (a cycle); the
          // scheduler's sweep ends a dead catalog job by its execution.
        },
        checkImageObjects,
        now,
      }),
      // A scheduled backup: the four tables dumped into /tmp, written as a plain tar catalog image on an S3 unit, its DR file next to it.
      writeCatalogImage: unitCatalogImageWriter(
        { catalog, jobs, now, openStore: cloudStorageOpener(clients.s3) },
        { workDir: join(tmpdir(), 'cairn-catalog-backup'), fileName: TABLES_FILE, produce: (file) => dumpTablesToFile(clients.documents, { config: env.CONFIG_TABLE, jobs: env.JOBS_TABLE, catalog: env.CATALOG_TABLE, media: env.MEDIA_TABLE }, file) },
      ),
    },
    observability,
  ),
  recording,
);
