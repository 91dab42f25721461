/**
 * Worker processes come and go under load with no configuration change and nothing lost: an api
 * process and three worker processes (scripts/start.ts, ROLE=worker) on one database and queue
 * prefix; mixed writes (sync and async ledger entries, balance transactions, usage events) from
 * many customers' clients; one worker killed with SIGKILL mid-load, one more started mid-load.
 * Afterwards every acknowledged write is applied exactly once, each customer's ledger entries in
 * acceptance order, and the ledger verifies (scripts/verify.ts).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyDatabase } from '../../../scripts/verify.ts';
import { deleteQueueKeys } from '../../../worker/jobs/queueKeys.ts';
import { cloneTemplateDatabase, type TestDatabase } from '../../support/databases.ts';
import { REDIS_URL } from '../../support/testService.ts';
import { eventually, sleep } from '../ledgerTestHelpers.ts';
import { call, RoleProcesses, type RoleProcess } from './roleProcesses.ts';

const PARTITIONS = 4;
const CUSTOMERS = 12;
const LOAD_MS = 8_000;
const KILL_AT_MS = 2_500;
const ADD_AT_MS = 4_000;
/** A killed worker's jobs run again within JOB_LOCK_MS (4 s) plus a stalled check. */
const SETTLE_MS = 30_000;
const TEST_TIMEOUT_MS = 120_000;

let database: TestDatabase;
let db: pg.Pool;
let roles: RoleProcesses;
const queuePrefix = `test-many-${randomBytes(5).toString('hex')}`;

beforeAll(async () => {
  database = await cloneTemplateDatabase();
  db = new pg.Pool({ connectionString: database.url, max: 2 });
  roles = new RoleProcesses({
    databaseUrl: database.url,
    redisUrl: REDIS_URL,
    queuePrefix,
    partitions: PARTITIONS,
  });
});
afterAll(async () => {
  await roles?.stopAll();
  await db?.end();
  await deleteQueueKeys(REDIS_URL, queuePrefix);
  await database?.drop();
});

async function query<T>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await db.query(text, params)).rows as T[];
}

interface Acknowledged {
  customerId: string;
  kind: 'ledger_entry' | 'balance_transaction';
  key: string;
  /** The client's place for this customer: its acceptance order. */
  position: number;
}

/**
 * One customer's client: each write sent once the previous was answered (so their acceptance
 * order is the client's), with an Idempotency-Key, again with the same key after a failure.
 */
async function customerClient(
  api: RoleProcess,
  customerId: string,
  until: number,
  acknowledged: Acknowledged[],
  events: string[],
): Promise<void> {
  for (let position = 0; Date.now() < until; position += 1) {
    const key = `${customerId}-${position}`;
    const kind = position % 5 === 4 ? 'balance_transaction' : 'ledger_entry';
    const [path, body] =
      kind === 'balance_transaction'
        ? [
            `/v1/customers/${customerId}/balance_transactions`,
            { amount: '1.25', type: 'increment', description: `p${position}` },
          ]
        : [
            `/v1/customers/${customerId}/credits/ledger_entry`,
            position % 2 === 0
              ? { entry_type: 'decrement', amount: 3, description: `p${position}` }
              : { entry_type: 'increment', amount: 2, description: `p${position}` },
          ];
    const headers = {
      'idempotency-key': key,
      ...(position % 3 === 0 && { prefer: 'respond-async' }),
    };
    for (;;) {
      const answer = await call(api.url, 'POST', path, body, headers).catch(() => undefined);
      if (answer && (answer.status === 200 || answer.status === 201 || answer.status === 202)) {
        acknowledged.push({ customerId, kind, key, position });
        break;
      }
      if (answer && answer.status < 500 && answer.status !== 409 && answer.status !== 429)
        throw new Error(`refused: ${answer.status} ${answer.text}`);
      await sleep(50);
    }
    if (position % 4 === 1) {
      const eventKey = `${key}-usage`;
      const ingest = await call(api.url, 'POST', '/v1/ingest', {
        events: [
          {
            idempotency_key: eventKey,
            customer_id: customerId,
            event_name: 'many_workers_usage',
            timestamp: new Date().toISOString(),
            properties: { n: 2 },
          },
        ],
      });
      if (ingest.status === 200) events.push(eventKey);
    }
  }
}

describe('three worker processes, one killed and one added under load', () => {
  it(
    'applies every acknowledged write exactly once, in acceptance order per customer',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const api = await roles.start('api');
      const workers = await Promise.all([0, 1, 2].map(() => roles.start('worker')));
      const price = await call(api.url, 'POST', '/v1/usage_prices', {
        name: 'Many workers',
        event_name: 'many_workers_usage',
        item_id: 'many-workers-item',
        unit_amount: '0.5',
        quantity_property: 'n',
      });
      expect(price.status, price.text).toBe(201);
      const customers: string[] = [];
      for (let index = 0; index < CUSTOMERS; index += 1) {
        const customer = await call(api.url, 'POST', '/v1/customers', {
          name: `Many ${index}`,
          email: `${randomUUID()}@example.com`,
          currency: 'USD',
        });
        expect(customer.status, customer.text).toBe(201);
        const start = await call(
          api.url,
          'POST',
          `/v1/customers/${customer.body.id}/credits/ledger_entry`,
          { entry_type: 'increment', amount: 10_000 },
        );
        expect(start.status, start.text).toBe(201);
        customers.push(customer.body.id as string);
      }

      const acknowledged: Acknowledged[] = [];
      const events: string[] = [];
      const startedAt = Date.now();
      const load = Promise.all(
        customers.map((customerId) =>
          customerClient(api, customerId, startedAt + LOAD_MS, acknowledged, events),
        ),
      );
      // Awaited below; a refusal meanwhile must not go unhandled.
      load.catch(() => undefined);
      await sleep(KILL_AT_MS);
      const killed = workers[0] as RoleProcess;
      await roles.kill(killed);
      await sleep(Math.max(0, startedAt + ADD_AT_MS - Date.now()));
      const added = await roles.start('worker');
      await load;
      expect(acknowledged.length).toBeGreaterThan(CUSTOMERS * 5);
      console.log(
        `${acknowledged.length} writes and ${events.length} events acknowledged; worker ${killed.pid} killed, ${added.pid} added`,
      );

      await eventually(
        async () => {
          const [row] = await query<{ queued: number; accepted: number }>(
            `select (select count(*)::int from requests where status = 'queued') as queued,
                    (select count(*)::int from events where status = 'accepted') as accepted`,
          );
          return row?.queued === 0 && row.accepted === 0 ? true : undefined;
        },
        SETTLE_MS,
        'every accepted write to be applied',
      );

      // Each acknowledged write is one request, committed; each ledger entry request wrote once.
      const requests = await query<{
        key: string;
        kind: string;
        status: string;
        customer_id: string;
        accepted_seq: string;
        entries: number;
        first: number | null;
        last: number | null;
      }>(
        `select k.key, q.kind, q.status, q.customer_id, q.accepted_seq::text as accepted_seq,
                count(e.id)::int as entries,
                min(e.ledger_sequence_number) as first, max(e.ledger_sequence_number) as last
           from idempotency_keys k join requests q on q.id = k.request_id
           left join ledger_entries e on e.request_id = q.id
          where k.key = any($1)
          group by k.key, q.id`,
        [acknowledged.map((each) => each.key)],
      );
      const byKey = new Map(requests.map((row) => [row.key, row]));
      expect(byKey.size).toBe(acknowledged.length);
      const outOfOrder: string[] = [];
      for (const customerId of customers) {
        const mine = acknowledged
          .filter((each) => each.customerId === customerId)
          .sort((a, b) => a.position - b.position)
          .map((each) => ({ ...each, row: byKey.get(each.key)! }));
        for (const { row, kind, key } of mine) {
          expect(row.status, key).toBe('committed');
          expect(row.entries, key).toBe(kind === 'ledger_entry' ? 1 : 0);
        }
        // The client's order is the acceptance order, and the ledger's.
        const seqs = mine.map(({ row }) => BigInt(row.accepted_seq));
        expect(seqs).toEqual([...seqs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
        const entries = mine.filter(({ kind }) => kind === 'ledger_entry');
        entries.forEach(({ row, position }, index) => {
          const previous = entries[index - 1];
          if (previous && !(Number(previous.row.last) < Number(row.first)))
            outOfOrder.push(`${customerId}: p${previous.position} then p${position}`);
        });
      }
      expect(outOfOrder).toEqual([]);
      const balanceTransactions = await query<{ n: number }>(
        `select count(*)::int as n from balance_transactions`,
      );
      expect(balanceTransactions[0]?.n).toBe(
        acknowledged.filter((each) => each.kind === 'balance_transaction').length,
      );
      const appliedEvents = await query<{ n: number }>(
        `select count(*)::int as n from events where idempotency_key = any($1) and status = 'applied'`,
        [events],
      );
      expect(appliedEvents[0]?.n).toBe(events.length);

      const verified = await verifyDatabase(database.url);
      expect(verified.violations).toEqual([]);
      expect(verified.ok).toBe(true);
      // The added worker took part: it beat, and it holds or held a partition.
      const [seen] = await query<{ beats: number }>(
        `select count(*)::int as beats from worker_heartbeats where worker_id like $1`,
        [`%:${added.pid}:%`],
      );
      expect(seen?.beats).toBe(1);
      expect(killed.child.signalCode).toBe('SIGKILL');
    },
  );
});
