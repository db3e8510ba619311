/** The SDK's error name (`ConditionalCheckFailedException`, `NoSuchKey`, ...), whatever the error's class. */
export function errorName(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'name' in error && typeof error.name === 'string' ? error.name : undefined;
}

/** The HTTP status the service answered with, when the SDK recorded one. */
export function httpStatusOf(error: unknown): number | undefined {
  const metadata = typeof error === 'object' && error !== null && '$metadata' in error ? (error.$metadata as { httpStatusCode?: unknown }) : undefined;
  return typeof metadata?.httpStatusCode === 'number' ? metadata.httpStatusCode : undefined;
}

/**
 * Attaches the SDK error as `cause` to a Cairn error whose constructor takes
 * none (NotFoundError), the way `new Error(message, { cause })` would.
 */
export function withCause<E extends Error>(error: E, cause: unknown): E {
  Object.defineProperty(error, 'cause', { value: cause, writable: true, configurable: true, enumerable: false });
  return error;
}
