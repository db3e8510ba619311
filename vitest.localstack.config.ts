import { defineConfig } from 'vitest/config';

/** `npm run test:localstack`: the stack deployed on LocalStack (test/localstack/); skips with a reason without Docker and LocalStack. */
export default defineConfig({
  test: {
    include: ['test/localstack/**/*.test.ts'],
    setupFiles: ['test/setup/polyfills.ts'],
    testTimeout: 20 * 60_000,
    hookTimeout: 45 * 60_000,
    pool: 'forks',
  },
});
