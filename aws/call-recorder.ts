/**
 * Records the AWS calls a process makes, as IAM sees them: which action on
 * which resource. test/iam/ checks every recorded call against the role the
 * calling component runs with in the CDK stack, so a grant the code needs but
 * the stack lacks (or the reverse) fails a test instead of a deployment.
 *
 * The mapping from API operation to IAM action follows the Service
 * Authorization Reference and the service guides:
 * - S3: PutObject and the multipart upload calls (CreateMultipartUpload,
 *   UploadPart, CompleteMultipartUpload) are s3:PutObject; HeadObject is
 *   s3:GetObject; ListObjectsV2 is s3:ListBucket, ListObjectVersions
 *   s3:ListBucketVersions, ListMultipartUploads s3:ListBucketMultipartUploads
 *   (on the bucket); DeleteObjects is a DeleteObject per key, or
 *   DeleteObjectVersion when the key names a version.
 * - DynamoDB: TransactWriteItems is authorized item by item as PutItem,
 *   UpdateItem, DeleteItem or ConditionCheckItem on each item's table;
 *   TransactGetItems as GetItem.
 * - Step Functions: SendTask* name no resource (Resource "*"); StartExecution
 *   acts on the state machine, DescribeExecution on the execution.
 * - EventBridge: PutEvents is events:PutEvents on the bus of each entry
 * - SNS: Publish is sns:Publish on the topic it names.
 *   (`default` when an entry names none).
 * - SSM: SendCommand is authorized against the document and against each
 *   target instance (a hybrid `mi-` managed instance, or an EC2 `i-`
 *   instance); GetCommandInvocation names no resource.
 */

/** What an action acts on, by kind; the checker turns it into an ARN. */
export type CallResource =
  | { kind: 'table'; table: string }
  | { kind: 'bucket'; bucket: string }
  | { kind: 'object'; bucket: string; key: string }
  | { kind: 'stateMachine'; arn: string }
  /** An execution of a state machine (DescribeExecution). */
  | { kind: 'execution'; arn: string }
  /** An EventBridge event bus, by name (`default`) or ARN. */
  | { kind: 'eventBus'; bus: string }
  /** An SSM document, by name (SendCommand). */
  | { kind: 'ssmDocument'; name: string }
  /** The target of an SSM command: a hybrid managed instance (`mi-...`) or an EC2 instance (`i-...`). */
  | { kind: 'ssmInstance'; instanceId: string }
  | { kind: 'any' }
  /** Already an ARN: the calls an AWS service makes with a role of ours (Step Functions, Scheduler), which test/iam derives from the stack instead of recording. */
  | { kind: 'arn'; arn: string }
  | { kind: 'unknown'; detail: string };

export interface AwsCall {
  /** The IAM action, e.g. `dynamodb:UpdateItem`. */
  readonly action: string;
  readonly resource: CallResource;
  /** The API operation that made it (`TransactWriteItems`, `UploadPart`). */
  readonly operation: string;
  /** DynamoDB writes: the top-level attribute names the request names (`dynamodb:Attributes`). */
  readonly attributes?: readonly string[];
  /** DynamoDB: the request's ReturnValues (`dynamodb:ReturnValues`), when given. */
  readonly returnValues?: string;
}

export interface CallRecorder {
  record(call: AwsCall): void;
}

/** A recorder that keeps the calls in memory. */
export class CallLog implements CallRecorder {
  readonly calls: AwsCall[] = [];
  record(call: AwsCall): void {
    this.calls.push(call);
  }
}

/** The part of an SDK client the recorder hooks into (any v3 client: its stack is typed per service). */
interface MiddlewareHost {
  middlewareStack: { add(middleware: never, options: never): void };
}

type Initialize = (next: (args: { input: unknown }) => Promise<unknown>, context: { clientName?: string; commandName?: string }) => (args: { input: unknown }) => Promise<unknown>;

/**
 * Adds a middleware that records each command before it is sent. It sits in
 * the initialize step, above retries, so a command is recorded once however
 * often it is retried, and a call IAM would refuse is recorded too.
 */
export function recordCalls(client: MiddlewareHost, recorder: CallRecorder): void {
  const middleware: Initialize = (next, context) => async (args) => {
    for (const call of iamCallsOf(context.clientName ?? '', context.commandName ?? '', args.input as Record<string, unknown>)) recorder.record(call);
    return next(args);
  };
  client.middlewareStack.add(middleware as never, { step: 'initialize', name: 'cairnCallRecorder', override: true } as never);
}

const SERVICES: Record<string, string> = { DynamoDBClient: 'dynamodb', S3Client: 's3', SFNClient: 'states', SSMClient: 'ssm', EventBridgeClient: 'events', SNSClient: 'sns' };

const S3_OBJECT_ACTIONS: Record<string, string> = {
  PutObject: 's3:PutObject',
  CreateMultipartUpload: 's3:PutObject',
  UploadPart: 's3:PutObject',
  CompleteMultipartUpload: 's3:PutObject',
  AbortMultipartUpload: 's3:AbortMultipartUpload',
  ListParts: 's3:ListMultipartUploadParts',
  GetObject: 's3:GetObject',
  HeadObject: 's3:GetObject',
  DeleteObject: 's3:DeleteObject',
};

const S3_BUCKET_ACTIONS: Record<string, string> = {
  ListObjectsV2: 's3:ListBucket',
  ListObjects: 's3:ListBucket',
  ListObjectVersions: 's3:ListBucketVersions',
  ListMultipartUploads: 's3:ListBucketMultipartUploads',
};

const TRANSACT_WRITE_ACTIONS: Record<string, string> = { Put: 'PutItem', Update: 'UpdateItem', Delete: 'DeleteItem', ConditionCheck: 'ConditionCheckItem' };

type Input = Record<string, unknown>;

/** The IAM actions one API call needs. Unknown operations map to `<service>:<Operation>` on an unknown resource, which no grant matches. */
export function iamCallsOf(clientName: string, commandName: string, input: Input): AwsCall[] {
  const service = SERVICES[clientName] ?? clientName.replace(/Client$/, '').toLowerCase();
  const operation = commandName.replace(/Command$/, '');
  const str = (value: unknown): string => (typeof value === 'string' ? value : '');
  if (service === 's3') {
    const bucket = str(input.Bucket);
    const objectAction = S3_OBJECT_ACTIONS[operation];
    if (objectAction !== undefined) {
      // A request naming a version needs the ...Version action.
      const action = input.VersionId !== undefined && objectAction !== 's3:PutObject' && objectAction !== 's3:AbortMultipartUpload' ? `${objectAction}Version` : objectAction;
      return [{ action, operation, resource: { kind: 'object', bucket, key: str(input.Key) } }];
    }
    const bucketAction = S3_BUCKET_ACTIONS[operation];
    if (bucketAction !== undefined) return [{ action: bucketAction, operation, resource: { kind: 'bucket', bucket } }];
    if (operation === 'DeleteObjects') {
      const objects = ((input.Delete as { Objects?: { Key?: string; VersionId?: string }[] } | undefined)?.Objects ?? []);
      return objects.map((o) => ({ action: o.VersionId === undefined ? 's3:DeleteObject' : 's3:DeleteObjectVersion', operation, resource: { kind: 'object', bucket, key: str(o.Key) } }));
    }
    return [{ action: `s3:${operation}`, operation, resource: { kind: 'unknown', detail: `bucket ${bucket}` } }];
  }
  if (service === 'dynamodb') {
    if (operation === 'TransactWriteItems') {
      return ((input.TransactItems as Record<string, Input>[] | undefined) ?? []).flatMap((item) =>
        Object.entries(item).map(([kind, request]) => dynamoCall(TRANSACT_WRITE_ACTIONS[kind] ?? kind, operation, request)),
      );
    }
    if (operation === 'TransactGetItems') {
      return ((input.TransactItems as { Get: Input }[] | undefined) ?? []).map((item) => dynamoCall('GetItem', operation, item.Get));
    }
    return [dynamoCall(operation, operation, input)];
  }
  if (service === 'states') {
    if (operation.startsWith('SendTask')) return [{ action: `states:${operation}`, operation, resource: { kind: 'any' } }];
    if (operation === 'StartExecution') return [{ action: 'states:StartExecution', operation, resource: { kind: 'stateMachine', arn: str(input.stateMachineArn) } }];
    if (operation === 'DescribeExecution') return [{ action: 'states:DescribeExecution', operation, resource: { kind: 'execution', arn: str(input.executionArn) } }];
  }
  if (service === 'ssm') {
    if (operation === 'SendCommand') {
      const instances = ((input.InstanceIds as string[] | undefined) ?? []).map((instanceId) => ({ action: 'ssm:SendCommand', operation, resource: { kind: 'ssmInstance', instanceId } as const }));
      return [{ action: 'ssm:SendCommand', operation, resource: { kind: 'ssmDocument', name: str(input.DocumentName) } }, ...instances];
    }
    if (operation === 'GetCommandInvocation') return [{ action: 'ssm:GetCommandInvocation', operation, resource: { kind: 'any' } }];
  }
  if (service === 'events' && operation === 'PutEvents') {
    const buses = new Set(((input.Entries as { EventBusName?: string }[] | undefined) ?? []).map((e) => e.EventBusName || 'default'));
    return [...buses].map((bus) => ({ action: 'events:PutEvents', operation, resource: { kind: 'eventBus', bus } }));
  }
  if (service === 'sns' && operation === 'Publish') return [{ action: 'sns:Publish', operation, resource: { kind: 'arn', arn: str(input.TopicArn) } }];
  return [{ action: `${service}:${operation}`, operation, resource: { kind: 'unknown', detail: JSON.stringify(Object.keys(input ?? {})) } }];
}

function dynamoCall(operation: string, enclosing: string, input: Input): AwsCall {
  const attributes = dynamoAttributes(operation, input);
  return {
    action: `dynamodb:${operation}`,
    operation: enclosing,
    resource: { kind: 'table', table: typeof input.TableName === 'string' ? input.TableName : '' },
    ...(attributes === undefined ? {} : { attributes }),
    ...(typeof input.ReturnValues === 'string' ? { returnValues: input.ReturnValues } : {}),
  };
}

/**
 * The top-level attribute names a write names, as `dynamodb:Attributes` lists
 * them: the key, the item's attributes (PutItem), the attributes an update
 * expression sets, adds, removes or deletes, and those its condition reads.
 * Handles the expression forms Cairn writes (`SET a.b = :v, #c = :w ADD #d :one`).
 */
function dynamoAttributes(operation: string, input: Input): string[] | undefined {
  if (operation !== 'UpdateItem' && operation !== 'PutItem') return undefined;
  const names = (input.ExpressionAttributeNames as Record<string, string> | undefined) ?? {};
  const found = new Set<string>(Object.keys((input.Key ?? input.Item ?? {}) as object));
  const expressions = [input.UpdateExpression, input.ConditionExpression].filter((e): e is string => typeof e === 'string');
  for (const expression of expressions) {
    // Every path starts with a name (#x or a bare word) not preceded by ':' (a value) or '.' (a nested segment).
    for (const match of expression.matchAll(/(?<![:.#\w])(#?[A-Za-z_][\w]*)/g)) {
      const token = match[1]!;
      if (/^(SET|REMOVE|ADD|DELETE|AND|OR|NOT|BETWEEN|IN|attribute_exists|attribute_not_exists|attribute_type|begins_with|contains|size|if_not_exists|list_append)$/.test(token)) continue;
      found.add(token.startsWith('#') ? (names[token] ?? token) : token);
    }
  }
  return [...found].sort();
}
