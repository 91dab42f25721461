/**
 * `npm run test:cluster`: end-to-end and integration tests on a local Redis Cluster (six
 * redis-server processes started once for the run by test/cluster/globalSetup.ts), plus the
 * cluster's own tests in test/cluster/. The files chosen cover the write path through the
 * partition queues, the outcome channel, ordering across worker processes, and the SDKs.
 * Every other setting is the suite's own.
 */
import { defineConfig } from 'vitest/config';
import suite from './vitest.config.ts';

export const CLUSTER_TESTS = [
  'test/cluster/**/*.test.ts',
  'test/e2e/sdk.test.ts',
  'test/e2e/alertsSdk.test.ts',
  'test/e2e/exactAmounts.test.ts',
  'test/integration/worker/applyOrder.test.ts',
  'test/integration/worker/concurrency.test.ts',
];

// Not mergeConfig: it would append these to the suite's include instead of replacing them.
export default defineConfig({
  ...suite,
  test: {
    ...suite.test,
    include: CLUSTER_TESTS,
    exclude: [],
    globalSetup: ['test/cluster/globalSetup.ts'],
  },
});
