import { fileURLToPath } from 'node:url';

/**
 * The package's own bin/cairn-agent.js (a checkout's, or the installed
 * package's), for starting an agent subcommand such as the offhost data
 * mover when the running process is not the agent itself (tests, an
 * embedding). It lives one folder below the root so that the same relative
 * URL resolves from the sources and from the dist/ build (scripts/build.ts
 * refuses import.meta.url anywhere deeper).
 */
export const PACKAGED_AGENT_SCRIPT = fileURLToPath(new URL('../bin/cairn-agent.js', import.meta.url));
