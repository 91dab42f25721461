/**
 * Acceptance order comes from Postgres (`requests.accepted_seq`), not from the queue a job is in
 * (worker/store/functions/group_lock_and_load.sql): a group first applies every earlier-accepted
 * request of its customers still `queued`, wherever its job is.
 *
 * - A request whose job Redis lost is applied by its customer's next request, before it, in the
 *   same transaction; its own job, put back later by the stranded sweep, answers the stored
 *   outcome and writes nothing.
 * - A customer's jobs spread over two partitions (as after a change of PARTITIONS, with a stale
 *   process enqueueing on the old layout), in shuffled queue order, still apply in acceptance
 *   order, each once.
 *
 * The requests are recorded by an api-only service whose jobs go to a queue prefix nobody works
 * (test/support/intakeOnly.ts), so the test places each job itself.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf } from '../../../worker/jobs/partition.ts';
import { sweepStrandedRequests } from '../../../worker/sweeps/strandedSweep.ts';
import { startIntakeOnly, type IntakeOnly } from '../../support/intakeOnly.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  eventually,
  expectLedgerConsistent,
  ledgerEntryPath,
  sql,
} from '../ledgerTestHelpers.ts';

const PARTITIONS = 4;
/** Past STRANDED_AFTER_MS (10 s by default): the sweep's clock for a request accepted just now. */
const SWEEP_AFTER_MS = 11_000;

let t: TestService;
let intake: IntakeOnly;
beforeAll(async () => {
  t = await startTestService({ PARTITIONS: String(PARTITIONS) });
  intake = await startIntakeOnly(t, pino({ level: 'silent' }));
});
afterAll(async () => {
  await intake?.close();
  await t?.stop();
});

interface AppliedRequest {
  id: string;
  customer_id: string;
  status: string;
  accepted_seq: string;
  completed_at: string | null;
  entries: number;
  first: number | null;
  last: number | null;
}

/** The requests with their ledger entries, per customer in acceptance order. */
async function applied(requestIds: readonly string[]): Promise<AppliedRequest[]> {
  return sql<AppliedRequest>(
    t,
    `select q.id, q.customer_id, q.status, q.accepted_seq::text as accepted_seq, q.completed_at::text as completed_at,
            count(e.id)::int as entries,
            min(e.ledger_sequence_number) as first, max(e.ledger_sequence_number) as last
       from requests q left join ledger_entries e on e.request_id = q.id
      where q.id in (select jsonb_array_elements_text(?::jsonb))
      group by q.id
      order by q.customer_id, q.accepted_seq`,
    [JSON.stringify(requestIds)],
  );
}

/** Each request committed with one entry, and per customer, sequence numbers in acceptance order. */
function expectAppliedOnceInOrder(rows: readonly AppliedRequest[]): void {
  const outOfOrder: string[] = [];
  rows.forEach((row, index) => {
    expect(row.status, row.id).toBe('committed');
    expect(row.entries, `entries of ${row.id}`).toBe(1);
    const previous = rows[index - 1];
    if (previous?.customer_id === row.customer_id && !(Number(previous.last) < Number(row.first)))
      outOfOrder.push(
        `${row.customer_id}: seq ${previous.accepted_seq} wrote ${previous.first}, seq ${row.accepted_seq} wrote ${row.first}`,
      );
  });
  expect(outOfOrder).toEqual([]);
}

async function allCommitted(requestIds: readonly string[], timeoutMs = 20_000): Promise<void> {
  await eventually(
    async () => {
      const [row] = await sql<{ queued: number }>(
        t,
        `select count(*)::int as queued from requests
          where id in (select jsonb_array_elements_text(?::jsonb)) and status = 'queued'`,
        [JSON.stringify(requestIds)],
      );
      return row?.queued === 0 ? true : undefined;
    },
    timeoutMs,
    'the requests to be applied',
  );
}

const job = (requestId: string, customerId: string) => ({ requestId, customerId });

describe('a request whose job was lost', () => {
  it("is applied by its customer's next request, first; its own job later answers the stored outcome", async () => {
    const customer = await createCustomer(t);
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 100 });
    const partition = partitionOf(customer.id, PARTITIONS);
    const record = (description: string) =>
      intake.recordOnly('POST', ledgerEntryPath(customer.id), {
        entry_type: 'decrement',
        amount: 5,
        description,
      });
    // A's job never reaches the service's queues: lost, as with a Redis failover.
    const a = await record('A');
    const b = await record('B');
    const c = await record('C');
    await t.service.queues.add(partition, 'ledger.apply', job(b, customer.id), b);
    await t.service.queues.add(partition, 'ledger.apply', job(c, customer.id), c);
    await allCommitted([a, b, c]);

    const rows = await applied([a, b, c]);
    expect(rows.map((row) => row.id)).toEqual([a, b, c]);
    expectAppliedOnceInOrder(rows);
    // A went in B's transaction (pulled forward by B's job), and first: 100 → 95 → 90 → 85.
    const [rowA, rowB] = rows;
    expect(rowA?.completed_at).not.toBeNull();
    expect(rowA?.completed_at).toBe(rowB?.completed_at);
    const endings = await sql<{ request_id: string; ending_balance: string }>(
      t,
      `select request_id, ending_balance::text as ending_balance from ledger_entries
        where customer_id = ? and request_id is not null order by ledger_sequence_number`,
      [customer.id],
    );
    expect(
      endings.slice(-3).map((entry) => [entry.request_id, Number(entry.ending_balance)]),
    ).toEqual([
      [a, 95],
      [b, 90],
      [c, 85],
    ]);

    // The sweep finds A queued no more: nothing to put back. Made to look stranded again (its job
    // is not in the queue), it is put back under its own id and answers what is stored.
    const sweepDeps = {
      orm: t.service.orm,
      queues: t.service.queues,
      clock: { now: () => new Date(t.service.clock.now().getTime() + SWEEP_AFTER_MS) },
      partitions: PARTITIONS,
      retention: {
        idempotencyKeys: t.service.config.idempotencyKeyRetention,
        requests: t.service.config.requestRetention,
      },
    };
    expect((await sweepStrandedRequests(sweepDeps)).map((each) => each.jobId)).not.toContain(a);
    await t.service.queues.add(partition, 'ledger.apply', job(a, customer.id), `again-${a}`);
    const finished = await eventually(async () => {
      const found = await t.service.queues.queue(partition).getJob(`again-${a}`);
      return found?.finishedOn ? found : undefined;
    });
    expect(finished.failedReason).toBeFalsy();
    const [entryA] = await sql<{ id: string }>(
      t,
      'select id from ledger_entries where request_id = ?',
      [a],
    );
    expect(finished.returnvalue).toMatchObject({
      status: 'committed',
      requestId: a,
      entry: { id: entryA?.id },
    });
    expectAppliedOnceInOrder(await applied([a, b, c]));
    expect(await expectLedgerConsistent(t, customer.id)).toBe('85');
  });

  it('of a customer who then goes quiet is put back by the stranded sweep, on the sweep after STRANDED_AFTER_MS', async () => {
    const customer = await createCustomer(t);
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 10 });
    const lost = await intake.recordOnly('POST', ledgerEntryPath(customer.id), {
      entry_type: 'decrement',
      amount: 4,
    });
    const sweepAt = (afterMs: number) => ({
      orm: t.service.orm,
      queues: t.service.queues,
      clock: { now: () => new Date(t.service.clock.now().getTime() + afterMs) },
      partitions: PARTITIONS,
      retention: {
        idempotencyKeys: t.service.config.idempotencyKeyRetention,
        requests: t.service.config.requestRetention,
      },
      strandedAfterMs: t.service.config.strandedAfterMs,
    });
    expect(t.service.config.strandedAfterMs).toBe(10_000);
    // Accepted a moment ago: it may be on its way to the queue, so it is left alone.
    expect((await sweepStrandedRequests(sweepAt(0))).map((each) => each.jobId)).not.toContain(lost);
    const swept = await sweepStrandedRequests(sweepAt(SWEEP_AFTER_MS));
    expect(swept).toContainEqual({ partition: partitionOf(customer.id, PARTITIONS), jobId: lost });
    await allCommitted([lost]);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('6');
  });
});

describe("one customer's jobs on two partitions", () => {
  it('apply in acceptance order, each once, whichever partition runs first', async () => {
    const CUSTOMERS = 6;
    const REQUESTS_PER_CUSTOMER = 10;
    const customers: string[] = [];
    for (let index = 0; index < CUSTOMERS; index += 1) {
      const customer = await createCustomer(t);
      await addEntry(t, customer.id, { entry_type: 'increment', amount: 1000 });
      customers.push(customer.id);
    }
    // Each customer's requests recorded one after the other: their acceptance order is known.
    const recorded = await Promise.all(
      customers.map(async (customerId) => {
        const ids: string[] = [];
        for (let index = 0; index < REQUESTS_PER_CUSTOMER; index += 1)
          ids.push(
            await intake.recordOnly(
              'POST',
              ledgerEntryPath(customerId),
              index % 2 === 0
                ? { entry_type: 'decrement', amount: 3, description: `o${index}` }
                : { entry_type: 'increment', amount: 2, description: `o${index}` },
            ),
          );
        return ids.map((requestId, index) => {
          // Every other job on another partition, as a process on the old layout would put it.
          const home = partitionOf(customerId, PARTITIONS);
          const partition = index % 2 === 0 ? home : (home + 1 + (index % 3)) % PARTITIONS;
          return { requestId, customerId, partition };
        });
      }),
    );
    // Queue order reversed per customer (latest first), partitions held until every job is in.
    const jobs = recorded.flatMap((ids) => [...ids].reverse());
    const queues = t.service.queues;
    for (let partition = 0; partition < PARTITIONS; partition += 1)
      await queues.queue(partition).pause();
    for (const { requestId, customerId, partition } of jobs)
      await queues.add(partition, 'ledger.apply', job(requestId, customerId), requestId);
    for (let partition = 0; partition < PARTITIONS; partition += 1)
      await queues.queue(partition).resume();

    const requestIds = jobs.map((each) => each.requestId);
    await allCommitted(requestIds, 30_000);
    const rows = await applied(requestIds);
    expect(rows).toHaveLength(CUSTOMERS * REQUESTS_PER_CUSTOMER);
    expectAppliedOnceInOrder(rows);
    for (const customerId of customers)
      expect(await expectLedgerConsistent(t, customerId)).toBe('995');
  });
});
