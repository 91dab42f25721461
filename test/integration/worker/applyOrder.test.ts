/**
 * The central promise of the write path, checked directly (ARCHITECTURE.md step 2): a customer's
 * requests are applied one at a time, in acceptance order, whatever the load, however many worker
 * processes share the queues, and however the worker groups them (group commit). Each committed
 * request's entries carry its id, so Postgres itself says which ledger sequence numbers each
 * request wrote; for every customer, the requests in the order they were accepted must have
 * strictly increasing, non-overlapping sequence ranges. A request applied before one accepted
 * earlier, or two applied at once (interleaved), breaks that.
 *
 * Acceptance order is made unambiguous: each customer has one client that sends its next request
 * only once the previous one was accepted (`Prefer: respond-async`: answered 202 once recorded and
 * enqueued), and numbers its requests in the description. Many such clients run at once, several
 * customers share each partition, and two more worker processes take jobs from the same queues.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../../../scripts/service.ts';
import { loadConfig } from '../../../worker/runtime/config.ts';
import {
  REDIS_ENV,
  startTestService,
  TEST_API_KEY,
  type TestService,
} from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  expectLedgerConsistent,
  ledgerEntryPath,
  sql,
} from '../ledgerTestHelpers.ts';

const CUSTOMERS = 24;
const REQUESTS_PER_CUSTOMER = 16;
const SETTLE_WAIT_MS = 60_000;

let t: TestService;
const extraWorkers: Service[] = [];
beforeAll(async () => {
  t = await startTestService();
  for (let index = 0; index < 2; index += 1) {
    extraWorkers.push(
      await startService(
        loadConfig({
          DATABASE_URL: t.databaseUrl,
          ...REDIS_ENV,
          QUEUE_STORE: t.service.config.queueStore,
          QUEUE_PREFIX: t.queuePrefix,
          PARTITIONS: String(t.service.config.partitions),
          ROLE: 'worker',
          WORKER_PORT: '0',
          LOG_LEVEL: 'silent',
        }),
        { logger: pino({ level: 'silent' }) },
      ),
    );
  }
});
afterAll(async () => {
  for (const worker of extraWorkers) await worker.close();
  await t.stop();
});

/** One customer's client: each request sent once the previous one was accepted. */
async function sendInOrder(customerId: string): Promise<void> {
  for (let index = 0; index < REQUESTS_PER_CUSTOMER; index += 1) {
    const body =
      index % 3 === 2
        ? { entry_type: 'increment', amount: 2, description: `r${index}` }
        : { entry_type: 'decrement', amount: 1, description: `r${index}` };
    const answer = await t.request('POST', ledgerEntryPath(customerId), body, {
      prefer: 'respond-async',
    });
    expect([201, 202]).toContain(answer.status);
  }
}

async function waitUntilApplied(): Promise<void> {
  const deadline = Date.now() + SETTLE_WAIT_MS;
  for (;;) {
    const [row] = await sql<{ queued: string }>(
      t,
      `select count(*)::text as queued from requests where status = 'queued'`,
    );
    if (Number(row?.queued) === 0) return;
    if (Date.now() > deadline) throw new Error(`${row?.queued} requests still queued`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface AppliedRange {
  customer_id: string;
  position: number;
  status: string;
  first: number | null;
  last: number | null;
}

describe('acceptance order under load, several workers, group commit', () => {
  it("applies each customer's requests one at a time in acceptance order: sequence ranges strictly increase", async () => {
    const customers = [];
    for (let index = 0; index < CUSTOMERS; index += 1) {
      const customer = await createCustomer(t);
      await addEntry(t, customer.id, { entry_type: 'increment', amount: 5 });
      customers.push(customer);
    }
    await Promise.all(customers.map((customer) => sendInOrder(customer.id)));
    await waitUntilApplied();

    const ranges = await sql<AppliedRange>(
      t,
      `select q.customer_id, substr(q.payload->>'description', 2)::int as position, q.status,
              min(e.ledger_sequence_number) as first, max(e.ledger_sequence_number) as last
         from requests q left join ledger_entries e on e.request_id = q.id
        where q.payload->>'description' like 'r%'
        group by q.id
        order by q.customer_id, position`,
    );
    expect(ranges).toHaveLength(CUSTOMERS * REQUESTS_PER_CUSTOMER);
    const outOfOrder: string[] = [];
    for (let index = 0; index < ranges.length; index += 1) {
      const range = ranges[index]!;
      expect(range.status).toBe('committed');
      expect(range.first).not.toBeNull();
      const previous = ranges[index - 1];
      if (previous?.customer_id !== range.customer_id) continue;
      if (!(Number(previous.last) < Number(range.first)))
        outOfOrder.push(
          `${range.customer_id}: r${previous.position} wrote ${previous.first}..${previous.last}, r${range.position} wrote ${range.first}..${range.last}`,
        );
    }
    expect(outOfOrder).toEqual([]);
    for (const customer of customers) await expectLedgerConsistent(t, customer.id);

    // The load did make groups, some with several requests of one customer (where the order within
    // a group matters): requests decided in one transaction share its completion instant.
    const [grouped] = await sql<{ groups: string; same_customer: string }>(
      t,
      `select count(distinct completed_at)::text as groups,
              count(distinct completed_at) filter (where customer_requests > 1)::text as same_customer
         from (select completed_at, count(*) over (partition by completed_at) as requests,
                      count(*) over (partition by completed_at, customer_id) as customer_requests
                 from requests) as g
        where requests > 1`,
    );
    expect(Number(grouped?.groups)).toBeGreaterThan(0);
    expect(Number(grouped?.same_customer)).toBeGreaterThan(0);

    // Every request, leader or follower, counts once in the metrics of the process that applied it.
    let committed = 0;
    for (const url of [t.baseUrl, ...extraWorkers.map((worker) => worker.workerUrl)]) {
      const text = await (
        await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } })
      ).text();
      const line = text.match(/^credits_ledger_requests_total\{outcome="committed"\} (\d+)$/m);
      committed += Number(line?.[1] ?? 0);
    }
    // The customers' first increments were applied too.
    expect(committed).toBe(CUSTOMERS * (REQUESTS_PER_CUSTOMER + 1));
  });
});
