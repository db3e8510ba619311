import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where LocalStack answers: LOCALSTACK_ENDPOINT, else its default edge port on loopback. */
export const LOCALSTACK_ENDPOINT = process.env['LOCALSTACK_ENDPOINT'] ?? 'http://127.0.0.1:4566';

/**
 * Why the LocalStack suite cannot run here, or undefined when it can: it needs
 * a Docker engine (LocalStack runs the Lambdas in containers) and a LocalStack
 * answering on LOCALSTACK_ENDPOINT.
 */
export async function localStackSkipReason(): Promise<string | undefined> {
  try {
    await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 10_000 });
  } catch (error) {
    const text = String((error as { stderr?: string }).stderr ?? (error as Error).message).trim().split('\n')[0];
    return `no Docker engine (docker info: ${text}); LocalStack runs the Lambdas in containers`;
  }
  try {
    const response = await fetch(new URL('/_localstack/health', LOCALSTACK_ENDPOINT), { signal: AbortSignal.timeout(5000) });
    if (!response.ok) return `LocalStack at ${LOCALSTACK_ENDPOINT} answered HTTP ${response.status}`;
    const health = (await response.json()) as { services?: Record<string, string> };
    const needed = ['cloudformation', 'dynamodb', 's3', 'lambda', 'stepfunctions', 'ssm', 'events', 'iam', 'sts'];
    const missing = needed.filter((service) => !['available', 'running'].includes(health.services?.[service] ?? ''));
    if (missing.length > 0) return `LocalStack at ${LOCALSTACK_ENDPOINT} lacks ${missing.join(', ')}`;
  } catch (error) {
    return `LocalStack does not answer at ${LOCALSTACK_ENDPOINT} (${(error as Error).message}); start it with \`localstack start -d\``;
  }
  return undefined;
}
