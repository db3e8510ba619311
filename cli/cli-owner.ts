import { hostname } from 'node:os';

/**
 * `cli:<host>:<pid>`: the owner of a job the CLI runs in its own process
 * against a deployed stack (`cairn --aws duplicate`, `catalog backup`,
 * `catalog check`, `images expire`). No janitor ends such a job: nothing in
 * the cloud can tell whether a process on the operator's machine is alive.
 */
export function cliOwner(): string {
  return `cli:${hostname()}:${process.pid}`;
}
