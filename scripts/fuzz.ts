/**
 * Fuzzes the HTTP API with malformed requests (test/support/fuzz/): starts the service as its own
 * process on a fresh database (FUZZ_DATABASE_URL, default credits_fuzz) with the test clock, makes
 * two customers with blocks and the rest of the fixture, sends `--requests` mutated requests across
 * every route of /openapi.json, `--concurrency` in flight, and prints counts by route and status.
 *   npm run fuzz -- --requests 10000 --seed 42
 * Exits 1 on any 5xx, any error that is not an Orb RFC 7807 body, any malformed request accepted,
 * any route without fuzzing, or any change to Postgres or the queues; `--seed` replays a run.
 */
import { randomBytes } from 'node:crypto';
import { deleteQueueKeys } from '../worker/jobs/queueKeys.ts';
import { formatFuzzReport, fuzzPassed, runFuzz } from '../test/support/fuzz/runFuzz.ts';
import { BENCH_API_KEY, parseArgs, recreateDatabase, startServiceProcess } from './benchSupport.ts';

const options = parseArgs({
  requests: 10_000,
  seed: Math.floor(Math.random() * 2 ** 31),
  concurrency: 8,
});
const databaseUrl =
  process.env.FUZZ_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/credits_fuzz';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const queuePrefix = `fuzz-${randomBytes(4).toString('hex')}`;

async function main(): Promise<boolean> {
  await recreateDatabase(databaseUrl);
  const service = await startServiceProcess({
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: queuePrefix,
    PARTITIONS: '4',
    CLOCK: 'manual',
    CLOCK_START: '2026-03-01T12:00:00Z',
    // Every refused request is expected; only unexpected errors should reach the console.
    LOG_LEVEL: 'error',
  });
  try {
    const report = await runFuzz({
      baseUrl: service.baseUrl,
      apiKey: BENCH_API_KEY,
      databaseUrl,
      redisUrl,
      queuePrefix,
      requests: options.requests!,
      seed: options.seed!,
      concurrency: options.concurrency!,
    });
    console.log(formatFuzzReport(report));
    return fuzzPassed(report);
  } finally {
    await service.stop();
    await deleteQueueKeys(redisUrl, queuePrefix);
  }
}

main().then(
  (passed) => process.exit(passed ? 0 : 1),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
