import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/stress/**/*.test.ts'],
    testTimeout: 900_000,
    pool: 'forks',
    // A throw-away PostgreSQL for the PostgreSQL state's tests (they fail if it cannot start).
    globalSetup: ['test/temp-setup.ts', 'test/pg-setup.ts'],
    setupFiles: ['test/cleanup-setup.ts'],
    fileParallelism: false,
  },
});
