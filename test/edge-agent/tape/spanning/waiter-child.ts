/**
 * A backup process waiting for its next volume, for file-rendezvous.test.ts:
 *   node --import tsx waiter-child.ts DIR JOB_ID WAITER TIMEOUT_MS
 * Prints `registered` once its registration is written, then the
 * continuation it took as JSON, or `failed <status> <message>`.
 */
import { FileRendezvous } from '#agent/tape/spanning/file-rendezvous.ts';
import { statusOf, messageOf } from '#core/errors.ts';

const [directory, jobId, waiter, timeoutMs] = process.argv.slice(2);
const rendezvous = new FileRendezvous({ directory: directory!, pollMs: 50 });
const { continuation } = await rendezvous.awaitContinuation(Number(jobId), waiter!, Number(timeoutMs));
process.stdout.write('registered\n');
try {
  process.stdout.write(`${JSON.stringify(await continuation)}\n`);
} catch (error) {
  process.stdout.write(`failed ${statusOf(error)} ${messageOf(error)}\n`);
}
