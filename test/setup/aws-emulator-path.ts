import { execFileSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Where test/setup/aws-emulator.ts finds moto_server: set once per run by the global setup below. */
export const MOTO_SERVER_ENV = 'CAIRN_TEST_MOTO_SERVER';

/** The first executable `command` on PATH, or undefined. */
export function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * moto_server as PATH gives it, with a pyenv shim resolved to the script it
 * runs. A shim is a bash script that runs `pyenv exec`, which works out the
 * Python version again on every start: about 0.5 s of CPU, paid by each of
 * the ~27 test files that start their own emulator. `pyenv which` does the
 * same lookup once; any other file (a real moto_server, a venv's) is used as is.
 */
export function resolveMotoServer(): string | undefined {
  const found = findOnPath('moto_server');
  if (found === undefined) return undefined;
  let head = '';
  try {
    head = readFileSync(found, 'utf8').slice(0, 1000);
  } catch {
    return found;
  }
  if (!head.includes('pyenv" exec') && !head.includes('pyenv exec')) return found;
  try {
    const resolved = execFileSync('pyenv', ['which', 'moto_server'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    accessSync(resolved, constants.X_OK);
    return resolved;
  } catch {
    // pyenv cannot say (no version selected here): the shim itself still works, or explains why not.
    return found;
  }
}

/** Vitest global setup (vitest.config.ts): resolve once, in the main process, before the workers start; they inherit the variable. */
export default function setup(): void {
  if (process.env[MOTO_SERVER_ENV] !== undefined) return;
  const moto = resolveMotoServer();
  if (moto !== undefined) process.env[MOTO_SERVER_ENV] = moto;
}
