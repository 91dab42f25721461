/**
 * The sweep schedule lives in Redis (worker/sweeps/scheduler.ts). When Redis loses it (a failover
 * to a lagging replica, a restart without AOF), the running processes put it back within an
 * interval or two, without a restart, so a quiet customer's stranded request is still applied;
 * and two processes putting it back at once still run one sweep per interval.
 *
 * Real Redis (the keys are deleted under the service), the system clock and a short interval.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scheduler } from '../../../worker/sweeps/scheduler.ts';
import { REDIS_URL, startTestService, type TestService } from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  eventually,
  expectLedgerConsistent,
  sleep,
  sql,
  strandedRequest,
} from '../ledgerTestHelpers.ts';

const SWEEP_EVERY_MS = 400;
const RECREATED = 're-created it';

const logLines: string[] = [];
let t: TestService;
let redis: Redis;
/** A second worker process's scheduler: both look at the schedule, both may put it back. */
let second: Scheduler;
let maintenance: Queue;

beforeAll(async () => {
  t = await startTestService(
    {
      QUEUE_STORE: 'redis',
      REDIS_URL,
      CLOCK: 'system',
      SWEEP_EVERY_MS: String(SWEEP_EVERY_MS),
      STRANDED_AFTER_MS: '1000',
    },
    { logger: pino({ level: 'warn' }, { write: (line: string) => void logLines.push(line) }) },
  );
  const { orm, queues, clock, config, queueStore, logger } = t.service;
  second = await Scheduler.start({
    orm,
    queues,
    clock,
    partitions: config.partitions,
    retention: {
      idempotencyKeys: config.idempotencyKeyRetention,
      requests: config.requestRetention,
      webhookEvents: config.webhooks.retention,
    },
    strandedAfterMs: config.strandedAfterMs,
    sweepEveryMs: config.sweepEveryMs,
    queueStore,
    queuePrefix: t.queuePrefix,
    logger,
  });
  redis = new Redis(REDIS_URL);
  maintenance = new Queue('{maintenance}', { connection: redis, prefix: t.queuePrefix });
});
afterAll(async () => {
  await second?.close();
  await maintenance?.close();
  redis?.disconnect();
  await t?.stop();
});

/** Every key of the maintenance queue, as a Redis that lost them would no longer have them. */
async function deleteMaintenanceKeys(): Promise<number> {
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(
      cursor,
      'MATCH',
      `${t.queuePrefix}:{maintenance}:*`,
      'COUNT',
      1000,
    );
    cursor = next;
    if (keys.length > 0) deleted += await redis.del(...keys);
  } while (cursor !== '0');
  return deleted;
}

/** The instants of the finished sweeps, from their job ids (`repeat:sweeps:<instant>`). */
async function sweepInstants(): Promise<number[]> {
  const jobs = await maintenance.getJobs(['completed', 'failed', 'active']);
  return jobs
    .map((job) => Number(job.id?.split(':').at(-1)))
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
}

const requestStatus = async (id: string) =>
  (await sql<{ status: string }>(t, 'select status from requests where id = ?', [id]))[0]?.status;

/** No two sweeps for one interval: the instants of the runs are an interval apart or more. */
function expectOnePerInterval(instants: number[]): void {
  const gaps = instants.slice(1).map((instant, index) => instant - instants[index]!);
  expect(gaps.filter((gap) => gap < SWEEP_EVERY_MS)).toEqual([]);
}

describe('the sweep schedule after Redis lost it', () => {
  it('is left alone while whole: two processes looking at it re-create nothing', async () => {
    await eventually(
      async () => ((await sweepInstants()).length >= 3 ? true : undefined),
      10_000,
      'three sweeps',
    );
    // Several looks by each process, each finding the next run in line.
    await sleep(4 * SWEEP_EVERY_MS);
    expect(logLines.filter((line) => line.includes(RECREATED))).toEqual([]);
    expectOnePerInterval(await sweepInstants());
  });

  it('is put back when only its next run is lost, and sweeps on', async () => {
    // As a failover to a replica that never saw the run added: the scheduler is there, its run
    // not. Taken only while it waits in the delayed set (one script, so the worker cannot take it
    // meanwhile); a run already taken adds the next itself.
    const delayed = `${t.queuePrefix}:{maintenance}:delayed`;
    await eventually(
      async () => {
        const next = (await maintenance.getJobScheduler('sweeps'))?.next;
        if (typeof next !== 'number') return undefined;
        const run = `repeat:sweeps:${next}`;
        const lost = await redis.eval(
          `if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
             redis.call('ZREM', KEYS[1], ARGV[1]); redis.call('DEL', KEYS[2]); return 1 end
           return 0`,
          2,
          delayed,
          `${t.queuePrefix}:{maintenance}:${run}`,
          run,
        );
        return lost === 1 || undefined;
      },
      5_000,
      'a pending run to lose',
    );
    const before = (await sweepInstants()).at(-1)!;

    await eventually(
      async () => (await sweepInstants()).filter((at) => at > before).length >= 2 || undefined,
      10_000,
      'sweeps after the lost run',
    );
    expect(logLines.some((line) => line.includes(RECREATED))).toBe(true);
  });

  it('is put back when every maintenance key is lost, and a quiet customer’s stranded request is applied', async () => {
    const customer = await createCustomer(t);
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 10 });
    logLines.length = 0;
    // A sweep finishing at that moment, or a look by either process, can put the schedule back
    // between the delete and the read: delete again until the read finds it gone.
    await eventually(
      async () => {
        expect(await deleteMaintenanceKeys()).toBeGreaterThan(0);
        return (await maintenance.getJobScheduler('sweeps')) ? undefined : true;
      },
      5_000,
      'the schedule gone',
    );
    // Its job went with the keys: only a sweep can put it back, and the customer sends nothing.
    const stranded = await strandedRequest(t, customer.id, new Date(Date.now() - 60_000));

    await eventually(
      async () => ((await requestStatus(stranded)) === 'committed' ? true : undefined),
      15_000,
      'the stranded request applied',
    );
    expect(logLines.some((line) => line.includes(RECREATED))).toBe(true);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('6');
    // Both processes may have put it back at once: still one run per interval.
    await sleep(5 * SWEEP_EVERY_MS);
    const instants = await sweepInstants();
    expect(instants.length).toBeGreaterThanOrEqual(3);
    expectOnePerInterval(instants);
  });

  it('gives a partition queue that lost its one-job limit the limit back', async () => {
    const partition = t.service.config.partitions - 1;
    const queue = t.service.queues.queue(partition);
    expect(await queue.getGlobalConcurrency()).toBe(1);
    logLines.length = 0;
    // The limit is a field of the queue's meta hash, which a Redis that lost keys no longer has.
    await redis.hdel(`${t.queuePrefix}:${queue.name}:meta`, 'concurrency');
    expect(await queue.getGlobalConcurrency()).toBeNull();

    await eventually(
      async () => ((await queue.getGlobalConcurrency()) === 1 ? true : undefined),
      10_000,
      'the limit set again',
    );
    expect(logLines.some((line) => line.includes('lost their one-job limit'))).toBe(true);
  });
});
