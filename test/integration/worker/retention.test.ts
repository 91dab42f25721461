/**
 * Retention (worker/sweeps/retentionSweep.ts): Idempotency-Keys older than IDEMPOTENCY_KEY_RETENTION and
 * finished requests older than REQUEST_RETENTION are deleted by the sweeps the test clock runs;
 * queued requests and their keys, recent keys and recent requests are kept, and the ledger never
 * loses a row. After its key expired, a replay is a new request; a swept request answers 404.
 */
import { randomBytes } from 'node:crypto';
import { Duration } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf } from '../../../worker/jobs/partition.ts';
import { deleteInBatches, sweepRetention } from '../../../worker/sweeps/retentionSweep.ts';
import { manualClockStart } from '../../support/testDates.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import { createCustomer, ledgerEntryPath, sql } from '../ledgerTestHelpers.ts';

const START = manualClockStart();
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const at = (ms: number) => new Date(START.getTime() + ms);

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ CLOCK: 'manual', CLOCK_START: START.toISOString() });
});
afterAll(async () => {
  await t?.stop();
});

async function advanceTo(to: Date): Promise<void> {
  const moved = await t.request('POST', '/v1/test_clock/advance', { to: to.toISOString() });
  expect(moved.status, moved.text).toBe(200);
}

const key = (name: string) => `retention-${name}-${randomBytes(4).toString('hex')}`;

async function keyed(path: string, body: unknown, idempotencyKey: string) {
  return t.request('POST', path, body, { 'idempotency-key': idempotencyKey });
}

async function keysKept(keys: string[]): Promise<string[]> {
  const rows = await sql<{ key: string }>(
    t,
    'select key from idempotency_keys where key in (select jsonb_array_elements_text(?::jsonb)) order by key',
    [JSON.stringify(keys)],
  );
  return rows.map((row) => row.key);
}

async function requestOfEntry(entryId: string): Promise<string> {
  const [row] = await sql<{ request_id: string }>(
    t,
    'select request_id from ledger_entries where id = ?',
    [entryId],
  );
  return row!.request_id;
}

/**
 * A request accepted but not applied, and kept so: its job waits, delayed, in its partition (so
 * the stranded-request sweep leaves it alone), with an Idempotency-Key naming it.
 */
async function queuedRequest(customerId: string, idempotencyKey: string): Promise<string> {
  const id = `queued${randomBytes(4).toString('hex')}`;
  const partition = partitionOf(customerId, t.service.config.partitions);
  await sql(
    t,
    `with request as (
       insert into requests (id, customer_id, partition, currency, payload, status, created_at)
       values (?, ?, ?, 'credits', ?::jsonb, 'queued', ?) returning id
     )
     insert into idempotency_keys (key, fingerprint, request_id, created_at) select ?, 'f', id, ? from request`,
    [
      id,
      customerId,
      partition,
      JSON.stringify({
        entry_type: 'increment',
        amount: '1',
        currency: null,
        description: null,
        metadata: {},
        expiry_date: null,
        effective_date: null,
        per_unit_cost_basis: null,
        filters: [],
        invoice_settings: null,
      }),
      START,
      idempotencyKey,
      START,
    ],
  );
  await t.service.queues
    .queue(partition)
    .add('ledger.apply', { requestId: id, customerId }, { jobId: id, delay: 365 * DAY_MS });
  return id;
}

describe('retention of requests and idempotency keys', () => {
  it('sweeps expired keys, then finished requests, keeping queued and recent ones and the ledger', async () => {
    const customer = await createCustomer(t, { currency: 'USD' });
    const path = ledgerEntryPath(customer.id);
    const increment = { entry_type: 'increment', amount: 10 };

    // At START: a committed write with a key, a failed one with a key, one without a key, a
    // balance transaction with a key, a usage price (a create whose answer is stored with its
    // key), and a request still queued.
    const k1 = key('committed');
    const first = await keyed(path, increment, k1);
    expect(first.status, first.text).toBe(201);
    const r1 = await requestOfEntry(first.body.id);
    const k2 = key('failed');
    const failed = await keyed(
      path,
      { entry_type: 'void', amount: 1, block_id: 'no-such-block' },
      k2,
    );
    expect(failed.status, failed.text).toBeGreaterThanOrEqual(400);
    const [r2Row] = await sql<{ request_id: string; status: string }>(
      t,
      'select k.request_id, r.status from idempotency_keys k join requests r on r.id = k.request_id where k.key = ?',
      [k2],
    );
    expect(r2Row?.status).toBe('failed');
    const unkeyed = await t.request('POST', path, { entry_type: 'decrement', amount: 1 });
    expect(unkeyed.status, unkeyed.text).toBe(201);
    const r3 = await requestOfEntry(unkeyed.body.id);
    const kBalance = key('balance');
    const balance = await keyed(
      `/v1/customers/${customer.id}/balance_transactions`,
      { amount: '5', type: 'increment' },
      kBalance,
    );
    expect(balance.status, balance.text).toBe(200);
    const kPrice = key('price');
    const price = await keyed(
      '/v1/usage_prices',
      {
        name: 'retention',
        event_name: key('event'),
        item_id: 'item',
        unit_amount: '1',
        currency: 'credits',
      },
      kPrice,
    );
    expect(price.status, price.text).toBe(201);
    const kQueued = key('queued');
    // Another customer's, who then goes quiet: a later request of the same customer would apply
    // it first (a group takes every earlier queued request of its customers).
    const quiet = await createCustomer(t, { currency: 'USD' });
    const queued = await queuedRequest(quiet.id, kQueued);

    // A day later, a key that is still young when the first ones expire.
    await advanceTo(at(DAY_MS));
    const k3 = key('young');
    const young = await keyed(path, { ...increment, amount: 3 }, k3);
    expect(young.status, young.text).toBe(201);
    const entriesBefore = await sql<{ n: number }>(
      t,
      'select count(*)::int as n from ledger_entries where customer_id = ?',
      [customer.id],
    );

    // Seven days and an hour after START: the START keys are gone, except the queued request's.
    await advanceTo(at(7 * DAY_MS + HOUR_MS));
    expect(await keysKept([k1, k2, k3, kBalance, kPrice, kQueued])).toEqual([k3, kQueued].sort());
    // Requests are kept for 90 days: the status of the first write still answers.
    const stillThere = await t.request('GET', `/v1/ledger_requests/${r1}`);
    expect(stillThere.status, stillThere.text).toBe(200);
    expect(stillThere.body.status).toBe('committed');

    // The replay with the expired key is a new request: applied again, not a replayed answer.
    const replay = await keyed(path, increment, k1);
    expect(replay.status, replay.text).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBeNull();
    expect(replay.body.id).not.toBe(first.body.id);
    const rReplay = await requestOfEntry(replay.body.id);
    // And its key is a live key again: a second replay is answered from it.
    const again = await keyed(path, increment, k1);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(replay.body.id);

    // Ninety-one days and two hours after START: START's and day one's finished requests are
    // gone; the replay's (84 days old) and the queued one are kept; of the keys, only the queued
    // one's.
    await advanceTo(at(91 * DAY_MS + 2 * HOUR_MS));
    const requests = await sql<{ id: string; status: string }>(
      t,
      'select id, status from requests where customer_id in (?, ?) order by created_at',
      [customer.id, quiet.id],
    );
    expect(requests.map((row) => row.id).sort()).toEqual([queued, rReplay].sort());
    expect(requests.find((row) => row.id === queued)?.status).toBe('queued');
    expect(await keysKept([k1, k3, kQueued])).toEqual([kQueued]);

    for (const swept of [r1, r2Row!.request_id, r3]) {
      const gone = await t.request('GET', `/v1/ledger_requests/${swept}`);
      expect(gone.status, gone.text).toBe(404);
    }
    // The ledger itself is never swept: every entry and the balance transaction remain.
    const entriesAfter = await sql<{ n: number }>(
      t,
      'select count(*)::int as n from ledger_entries where customer_id = ? and request_id is not null',
      [customer.id],
    );
    expect(entriesAfter[0]!.n).toBeGreaterThanOrEqual(entriesBefore[0]!.n + 1);
    const transactions = await t.request(
      'GET',
      `/v1/customers/${customer.id}/balance_transactions`,
    );
    expect(transactions.status, transactions.text).toBe(200);
    expect(transactions.body.data).toHaveLength(1);
  });

  it('deletes in bounded batches and the loop ends, leaving the rest to the next run', async () => {
    const now = t.service.clock.now();
    const old = new Date(now.getTime() - 30 * DAY_MS);
    const keys = Array.from({ length: 7 }, (_, index) => key(`batch${index}`));
    await sql(
      t,
      `insert into idempotency_keys (key, fingerprint, response_status, response_body, created_at)
       select k, 'f', 201, '"{}"'::jsonb, ? from jsonb_array_elements_text(?::jsonb) as k`,
      [old, JSON.stringify(keys)],
    );
    const deps = {
      orm: t.service.orm,
      clock: t.service.clock,
      retention: { idempotencyKeys: Duration.fromISO('P7D'), requests: Duration.fromISO('P90D') },
    };
    // 7 rows, batches of 2, at most 5 per run: 2 + 2 + 1, and the run ends.
    const first = await sweepRetention(deps, { batchSize: 2, maxRowsPerRun: 5 });
    expect(first.idempotencyKeys).toBe(5);
    expect(await keysKept(keys)).toHaveLength(2);
    // The next run takes the rest: a batch of 2 comes back full, the next one empty.
    const second = await sweepRetention(deps, { batchSize: 2, maxRowsPerRun: 5 });
    expect(second.idempotencyKeys).toBe(2);
    expect(await keysKept(keys)).toEqual([]);
    const third = await sweepRetention(deps, { batchSize: 2 });
    expect(third).toEqual({
      idempotencyKeys: 0,
      requests: 0,
    });
  });

  it('stops the loop on a short batch, and at the bound when every batch is full', async () => {
    const calls: number[] = [];
    const short = [3, 3, 1];
    expect(
      await deleteInBatches(
        async (batch) => {
          calls.push(batch);
          return short.shift() ?? 0;
        },
        3,
        100,
      ),
    ).toBe(7);
    expect(calls).toEqual([3, 3, 3]);
    // A table that never runs dry (rows arriving as fast as they go) still ends the run.
    let full = 0;
    expect(
      await deleteInBatches(
        async (batch) => {
          full += 1;
          return batch;
        },
        4,
        10,
      ),
    ).toBe(10);
    expect(full).toBe(3);
  });
});
