import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The LocalStack suite deploys the whole stack: `npm run test:localstack` runs it on its own.
    exclude: ['test/localstack/**', '**/node_modules/**'],
    setupFiles: ['test/setup/polyfills.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Suites that share one emulator process run in their own files; forks keep
    // native modules (better-sqlite3) out of worker threads.
    pool: 'forks',
  },
});
