/**
 * scripts/soak.ts's core, reduced: sixteen seconds of usage at a modest rate with the ledger-write
 * trickle, against the in-process test service. Every event is applied, lag stays bounded, the
 * queue drains, and the samples carry what the full soak judges (RSS, depth, lag per window).
 * RSS slopes are not judged here: this process is the service, vitest and the load at once.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runSoak } from '../../../scripts/soak.ts';
import { describeRequires, REDIS_SERVER } from '../../support/requiresBinary.ts';
import {
  REDIS_URL,
  startTestService,
  TEST_API_KEY,
  type TestService,
} from '../../support/testService.ts';

const PARTITIONS = 4;
const LOAD_SECONDS = 16;
const EVENTS_PER_SECOND = 400;
/** Looser than the soak's 1 s: test files run side by side on two cores. */
const LAG_P99_BOUND_MS = 2_000;

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ PARTITIONS: String(PARTITIONS) });
});
afterAll(async () => {
  await t?.stop();
});

// The soak samples queue depth from the partition queues in Redis.
describeRequires([REDIS_SERVER], 'npm run soak (reduced)', () => {
  it('applies every event with bounded lag while sampling RSS, queue depth and lag', async () => {
    const lines: string[] = [];
    const result = await runSoak({
      baseUrl: t.baseUrl,
      apiKey: TEST_API_KEY,
      databaseUrl: t.databaseUrl,
      redisUrl: REDIS_URL,
      queuePrefix: t.queuePrefix,
      partitions: PARTITIONS,
      processes: [{ name: 'service', pid: process.pid }],
      seconds: LOAD_SECONDS,
      eventsPerSecond: EVENTS_PER_SECOND,
      batchSize: 50,
      customers: 20,
      writesPerSecond: 2,
      sampleSeconds: 2,
      warmupSeconds: 4,
      drainSeconds: 8,
      rssSlopeMaxMiBPerMinute: Number.POSITIVE_INFINITY,
      lagP99MaxMs: LAG_P99_BOUND_MS,
      depthGrowingFloor: 100,
      log: (line) => lines.push(line),
    });

    // The open loop sends on schedule: the whole rate, give or take the last batch.
    expect(result.events_sent).toBeGreaterThanOrEqual(LOAD_SECONDS * EVENTS_PER_SECOND - 50);
    expect(result.events_sent).toBeLessThanOrEqual(LOAD_SECONDS * EVENTS_PER_SECOND);
    expect(result.events_applied).toBe(result.events_sent);
    expect(result.events_missing).toBe(0);
    expect(result.ingest_refused).toBe(0);
    expect(result.lag_p99_ms).toBeLessThan(LAG_P99_BOUND_MS);
    expect(result.queue_depth_growing).toBe(false);
    // Drained: the sample taken after the load finds nothing waiting.
    expect(result.samples.at(-1)?.queue_depth).toBe(0);
    expect(result.sync_writes.committed).toBe(result.sync_writes.sent);
    expect(result.sync_writes.sent).toBeGreaterThan(0);
    expect(result.async_writes.accepted).toBe(result.async_writes.sent);
    expect(result.async_writes.still_queued).toBe(0);
    expect(result.failures).toEqual([]);
    expect(result.ok).toBe(true);

    // A sample every 2 s of the load, each with the process's RSS and its window's lag.
    expect(result.samples.length).toBeGreaterThanOrEqual(LOAD_SECONDS / 2);
    for (const sample of result.samples.slice(0, LOAD_SECONDS / 2 - 1)) {
      expect(sample.rss_mib.service).toBeGreaterThan(0);
      expect(sample.events_applied).toBeGreaterThan(0);
      expect(sample.lag_p99_ms).not.toBeNull();
    }
    expect(Number.isFinite(result.rss_slope_mib_per_minute.service)).toBe(true);
    expect(
      lines.some((line) =>
        /RSS service \d+ MiB\s+depth \d+\s+applied \d+\s+lag p50 \d+ ms p99 \d+ ms/.test(line),
      ),
    ).toBe(true);
  });
});
