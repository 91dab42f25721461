/**
 * The tests that use dates, for `npm run test:any-day`: run with TEST_CLOCK_YEARS_AHEAD (or
 * TEST_CLOCK_START) and a TZ, they prove that the suite does not depend on the day or the
 * machine's timezone (test/support/testDates.ts). Every other setting is the suite's own.
 * A test file that sends, expects or filters by a calendar date belongs in DATE_TESTS.
 */
import { defineConfig } from 'vitest/config';
import suite from './vitest.config.ts';

export const DATE_TESTS = [
  'test/unit/testDates.test.ts',
  'test/unit/domain/*.test.ts',
  'test/integration/api/ledgerEntries.test.ts',
  'test/integration/api/ledgerTransfers.test.ts',
  'test/integration/api/blockFilters.test.ts',
  'test/integration/api/invoices.test.ts',
  'test/integration/api/topUps.test.ts',
  'test/integration/api/balanceTransactions.test.ts',
  'test/integration/api/ingest.test.ts',
  'test/integration/api/events.test.ts',
  'test/integration/api/ledgerModel.property.test.ts',
  'test/integration/worker/usage.test.ts',
  'test/integration/worker/usageAtEventInstant.test.ts',
  'test/integration/api/drawdownTies.test.ts',
  'test/integration/worker/concurrency.test.ts',
  'test/integration/worker/redelivery.test.ts',
  'test/integration/worker/strandedRequests.test.ts',
  'test/integration/scripts/verify.test.ts',
  'test/e2e/sdk.test.ts',
];

// Not mergeConfig: it would append these to the suite's include instead of replacing it.
export default defineConfig({ ...suite, test: { ...suite.test, include: DATE_TESTS } });
