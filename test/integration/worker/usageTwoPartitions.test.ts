/**
 * While the partition count changes, two usage jobs for one customer can run at once on two
 * partitions (the old layout's queue still draining, the new one's already ringing). Each locks
 * the customer before reading its accepted events (worker/store/functions/usage_claim.sql), so they
 * take turns: every event is applied once, the second job finds only what is left, and neither
 * fails to the dead-letter list.
 *
 * Real Postgres and Redis, several partitions, the events accepted as the api accepts them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf } from '../../../worker/jobs/partition.ts';
import { manualClockStart } from '../../support/testDates.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  createUsagePrice,
  eventually,
  expectLedgerConsistent,
  sql,
} from '../ledgerTestHelpers.ts';

const START = manualClockStart();
const PARTITIONS = 4;
/** Enough that one transaction takes a while, so the two jobs overlap. */
const EVENTS_PER_ROUND = 3_000;
const ROUNDS = 4;
const QUANTITY = 2;
const INITIAL = 1_000_000;

let t: TestService;
beforeAll(async () => {
  t = await startTestService({
    CLOCK: 'manual',
    CLOCK_START: START.toISOString(),
    PARTITIONS: String(PARTITIONS),
  });
});
afterAll(async () => {
  await t?.stop();
});

/** Accepts events for the customer as `POST /v1/ingest` does; answers their last place in line. */
async function acceptEvents(customerId: string, eventName: string, round: number): Promise<string> {
  const [row] = await sql<{ seq: string }>(
    t,
    `with accepted as (
       insert into events (idempotency_key, customer_id, event_name, timestamp, properties, status,
                           ingested_at, accepted_seq)
       select 'two-partitions-' || ? || '-' || ? || '-' || i, ?, ?, ?::timestamptz,
              jsonb_build_object('n', ?::int), 'accepted', ?::timestamptz, nextval('events_accepted_seq')
         from generate_series(1, ?) as i order by i
       returning accepted_seq)
     select max(accepted_seq)::text as seq from accepted`,
    [
      customerId,
      round,
      customerId,
      eventName,
      new Date(START.getTime() - 60_000).toISOString(),
      QUANTITY,
      START.toISOString(),
      EVENTS_PER_ROUND,
    ],
  );
  return row!.seq;
}

async function finishedState(partition: number, jobId: string): Promise<string> {
  return eventually(
    async () => {
      const state = await t.service.queues.queue(partition).getJobState(jobId);
      return state === 'completed' || state === 'failed' ? state : undefined;
    },
    60_000,
    `job ${jobId} on partition ${partition}`,
  );
}

describe('usage of one customer on two partitions at once', () => {
  it('applies every event once, and neither job fails', async () => {
    const customer = await createCustomer(t);
    await addEntry(t, customer.id, { entry_type: 'increment', amount: INITIAL });
    const price = await createUsagePrice(t, { quantity_property: 'n', unit_amount: '1' });
    const home = partitionOf(customer.id, PARTITIONS);
    const other = (home + 1) % PARTITIONS;

    for (let round = 1; round <= ROUNDS; round += 1) {
      const throughSeq = await acceptEvents(customer.id, price.event_name, round);
      const payload = { customer_ids: [customer.id], through_seq: throughSeq };
      const jobs = [
        { partition: home, jobId: `two-partitions-home-${round}` },
        { partition: other, jobId: `two-partitions-other-${round}` },
      ];
      await Promise.all(
        jobs.map(({ partition, jobId }) =>
          t.service.queues.add(partition, 'usage.apply', payload, jobId),
        ),
      );
      const states = await Promise.all(
        jobs.map(({ partition, jobId }) => finishedState(partition, jobId)),
      );
      expect(states, `round ${round}`).toEqual(['completed', 'completed']);
    }

    const [events] = await sql<{ status: string; count: number }>(
      t,
      `select string_agg(distinct status, ',') as status, count(*)::int as count
         from events where customer_id = ?`,
      [customer.id],
    );
    expect(events).toEqual({ status: 'applied', count: ROUNDS * EVENTS_PER_ROUND });
    expect(await expectLedgerConsistent(t, customer.id)).toBe(
      String(INITIAL - ROUNDS * EVENTS_PER_ROUND * QUANTITY),
    );
    const failed = await Promise.all(
      t.service.queues.queues.map((queue) => queue.getJobCountByTypes('failed')),
    );
    expect(failed).toEqual(Array.from({ length: PARTITIONS }, () => 0));
  });
});
