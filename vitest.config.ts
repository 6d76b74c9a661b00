import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'workers/**/*.test.ts', 'test/**/*.test.ts', 'loadtest/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests spawn their own servers on free ports; two cores here, so keep it modest.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
