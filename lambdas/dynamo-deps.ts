import { createAwsClients, type AwsClients } from '#aws/clients.ts';
import { DynamoConfigStore } from '#aws/dynamo-config-store.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { DynamoCatalogStore } from '#aws/dynamo-catalog-store.ts';
import { DynamoMediaStore } from '#aws/dynamo-media-store.ts';
import { dynamoMediaDatabase } from '#aws/dynamo-media-manager.ts';
import { EventBridgeJobEvents } from '#aws/eventbridge-job-events.ts';
import { PublishingJobStore } from '#core/jobs/publishing-job-store.ts';
import type { LambdaEnvironment } from './environment.ts';
import type { HandlerObservability } from './handler-kit.ts';
import { countingJobEnds, reportUnpublished } from './job-event-observers.ts';
import { systemClock } from './system-clock.ts';

/**
 * The stores every Cairn Lambda is wired to, built once per cold start.
 * `clients` defaults to the process's own; test/iam passes recording ones.
 * The job store publishes each job state change to the default event bus
 * (PublishingJobStore, EventBridgeJobEvents), so whichever Lambda changes a
 * job's state publishes it; with `observability`, job ends are counted and a
 * change that could not be published is logged and counted. `emm` is the
 * media manager on the Media table (without it a tape unit's job fails 174).
 */
export function dynamoDeps(env: LambdaEnvironment, clients: AwsClients = createAwsClients({ region: env.AWS_REGION }), observability?: HandlerObservability) {
  const client = clients.documents;
  const events = countingJobEnds(new EventBridgeJobEvents({ client: clients.events }), observability);
  return {
    config: new DynamoConfigStore({ client, tableName: env.CONFIG_TABLE }),
    jobs: new PublishingJobStore(new DynamoJobStore({ client, tableName: env.JOBS_TABLE }), events, reportUnpublished(observability)),
    catalog: new DynamoCatalogStore({ client, tableName: env.CATALOG_TABLE }),
    media: new DynamoMediaStore({ client, tableName: env.MEDIA_TABLE }),
    // The media manager (EMM), on the same Media table: the broker chooses a tape job's drive and volume from it
    // and records how Release left them; the catalog records the tape files an image wrote.
    emm: dynamoMediaDatabase({ client, tableName: env.MEDIA_TABLE }),
    clock: systemClock,
  };
}
