import { defineConfig } from 'vitest/config';

/**
 * Test folders whose files share one module cache per worker (`isolate: false`):
 * each file otherwise starts a fresh process that loads zod, luxon, fast-check,
 * the ASL interpreter and the modules under test again, which was most of these
 * files' CPU (test/core: 54 s of CPU isolated, 30 s shared; test/statemachines
 * and test/memory: 19 s, 15 s). Only folders whose tests keep no state outside
 * their own values belong here: core/ is pure (no fs, no environment, no clock
 * but the one passed in), the state machine tests run the ASL files in process
 * on stubbed tasks, the memory stores are values; none stubs or mocks. The
 * edge-agent tests own their temp directories and mocks nothing; their one
 * helper that set up a file system when imported (attr-tree.ts) now does it
 * per file (prepareAttrPlace). The cdk, iam and lambdas tests synthesize the
 * stack or build handlers on values: shared, the CDK and its validation engine
 * load once per worker (their 19 files: 77 s wall isolated, 57 s shared;
 * observability.test.ts stubs the environment and stdout, so it keeps its own
 * process). test/aws, cli and local stay isolated: sharing them all was slower
 * as a whole (647 s against 564 s), so a folder is added only after its files
 * pass both ways and are measured faster. Their cost is not module loading:
 * a test/cli file is `cairn` process starts (~0.4 s of CPU each, from the
 * dist/ bundle `npm run build` leaves; from the sources through tsx when
 * dist/ is stale, 1.3-1.7 s), a test/aws file moto's answers; sharing saves
 * neither. Per-file figures, and what was cut without losing a check, are
 * in test/README.md ("Where npm test's time goes").
 */
const SHARED_MODULES = ['test/core/**/*.test.ts', 'test/statemachines/**/*.test.ts', 'test/memory/**/*.test.ts', 'test/edge-agent/**/*.test.ts', 'test/cdk/**/*.test.ts', 'test/iam/**/*.test.ts', 'test/lambdas/**/*.test.ts'];

/**
 * Files of those folders that change process-wide state and so keep a process
 * of their own: ReaderThread.keepIdleThread() cannot be undone, and the other
 * reader-thread tests run without it.
 */
const OWN_PROCESS = ['test/edge-agent/reader-thread-idle.test.ts', 'test/lambdas/observability.test.ts'];

/**
 * Long runs (`*.long.test.ts`: the 100 simulated days of expiration, and the
 * race and kill stress runs of real CLI processes — concurrent backups, racing
 * ticks, tape races, backups killed with SIGKILL — 20–80 s each) are kept out
 * of `npm test`'s 10-minute budget; `npm run test:large` runs them (CAIRN_TEST_LONG=1), and CI runs that
 * after `npm test`. Named on the command line, a long file still runs.
 */
const LONG = process.env.CAIRN_TEST_LONG === '1' ? [] : ['test/**/*.long.test.ts'];

export default defineConfig({
  test: {
    setupFiles: ['test/setup/polyfills.ts'],
    // Once per run, before the workers: where moto_server really is (a pyenv shim resolved),
    // and one moto_server per worker slot, reset for each file (test/setup/moto-per-worker.ts).
    globalSetup: ['test/setup/aws-emulator-path.ts', 'test/setup/moto-per-worker.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Suites that share one emulator process run in their own files; forks keep
    // native modules (better-sqlite3) out of worker threads.
    pool: 'forks',
    // Two files at a time. Vitest's default is one fewer than the CPUs, which on
    // the 2-CPU CI machine is one: every file ran alone (635 s of 2 × ~300 s).
    // Most of a file's time is waiting on child processes (moto_server, the
    // cairn CLI, mtx/disk-changer, esbuild), so two overlap well; every file
    // owns its temp dirs and emulator port, so none depends on running alone.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'isolated',
          include: ['test/**/*.test.ts'],
          // The LocalStack suite deploys the whole stack: `npm run test:localstack` runs it on its own.
          exclude: ['test/localstack/**', '**/node_modules/**', ...SHARED_MODULES, ...LONG],
        },
      },
      { extends: true, test: { name: 'shared-modules', include: SHARED_MODULES, exclude: ['**/node_modules/**', ...OWN_PROCESS, ...LONG], isolate: false } },
      { extends: true, test: { name: 'own-process', include: OWN_PROCESS } },
    ],
  },
});
