/** The SDK's error name (`ConditionalCheckFailedException`, `NoSuchKey`, ...), whatever the error's class. */
export function errorName(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'name' in error && typeof error.name === 'string' ? error.name : undefined;
}

/** The HTTP status the service answered with, when the SDK recorded one. */
export function httpStatusOf(error: unknown): number | undefined {
  const metadata = typeof error === 'object' && error !== null && '$metadata' in error ? (error.$metadata as { httpStatusCode?: unknown }) : undefined;
  return typeof metadata?.httpStatusCode === 'number' ? metadata.httpStatusCode : undefined;
}
