import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The LocalStack suite deploys the whole stack: `npm run test:localstack` runs it on its own.
    exclude: ['test/localstack/**', '**/node_modules/**'],
    setupFiles: ['test/setup/polyfills.ts'],
    // Once per run, before the workers: where moto_server really is (a pyenv shim resolved).
    globalSetup: ['test/setup/aws-emulator-path.ts'],
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
  },
});
