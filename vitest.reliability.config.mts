import { defineConfig } from 'vitest/config';

// The reliability suite (`npm run test:reliability`): faults, crashes, a storage outage, load and a bad-input
// corpus against the running app. RELIABILITY_SCALE=ci (default, a few minutes on 2 cores) or full.
export default defineConfig({
  test: {
    include: ['tests/reliability/**/*.test.ts'],
    globalSetup: ['tests/support/global-setup.ts'],
    testTimeout: process.env.RELIABILITY_SCALE === 'full' ? 1_800_000 : 300_000,
    hookTimeout: 120_000,
    // One file at a time: each starts its own host and floods it; two at once would only measure each other.
    fileParallelism: false,
    maxWorkers: 1,
  },
});
