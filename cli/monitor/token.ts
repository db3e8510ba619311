import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';

/** The monitor's token file under $CAIRN_HOME: one token per home, reused across runs so a bookmarked cookie keeps working. */
export const TOKEN_FILE = 'monitor-token';
const TOKEN_PATTERN = /^[0-9a-f]{64}$/;

/**
 * Reads `$CAIRN_HOME/monitor-token`, or creates it (32 random bytes as hex,
 * mode 0600, written exclusively so two services starting together agree on
 * one). A file others may read is made owner-only again: the token is the
 * only thing between a local user and the operator's jobs. A file that holds
 * something else than a token is refused rather than overwritten.
 */
export function loadOrCreateToken(home: string): string {
  const file = join(home, TOKEN_FILE);
  mkdirSync(home, { recursive: true });
  try {
    writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  const token = readFileSync(file, 'utf8').trim();
  if (!TOKEN_PATTERN.test(token)) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `${file}: not a monitor token (64 hex digits); remove it and a new one is made`);
  return token;
}
