/**
 * BullMQ delivers at least once (ARCHITECTURE.md "Delivery, idempotency, failure"): running a
 * finished request again, directly or as a second job, must answer the stored outcome and change
 * nothing. A request or job that cannot be applied is recorded as failed and the partition moves on.
 */
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf } from '../../../worker/jobs/partition.ts';
import { Duration } from 'luxon';
import { applyRequest as applyAny } from '../../../worker/processors/applyRequests.ts';
import type { LedgerOutcome } from '../../../worker/jobs/requestOutcome.ts';
import type { UsageProcessorDeps } from '../../../worker/processors/processorDeps.ts';
import { isoPlus, serviceNow } from '../../support/testDates.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  dec,
  ERROR_TYPE,
  eventually,
  expectLedgerConsistent,
  ledgerEntryPath,
  sql,
  storedEntries,
} from '../ledgerTestHelpers.ts';

/** The shell answers every kind's outcome; these tests apply ledger entries only. */
const applyLedgerRequest = async (...args: Parameters<typeof applyAny>) =>
  (await applyAny(...args)) as LedgerOutcome;

let t: TestService;
let deps: UsageProcessorDeps;
beforeAll(async () => {
  t = await startTestService();
  deps = {
    orm: t.service.orm,
    clock: t.service.clock,
    outbox: t.service.outbox,
    logger: pino({ level: 'silent' }),
    gracePeriod: Duration.fromISO('PT12H'),
  };
});
afterAll(async () => {
  await t.stop();
});

interface RequestRow {
  status: string;
  entry_ids: string[];
  error: { kind: string; detail: string } | null;
  completed_at: Date | string | null;
}

async function requestRow(requestId: string): Promise<RequestRow> {
  const [row] = await sql<RequestRow>(
    t,
    'select status, entry_ids, error, completed_at from requests where id = ?',
    [requestId],
  );
  if (!row) throw new Error(`no request ${requestId}`);
  return row;
}

async function requestIdOf(entryId: string): Promise<string> {
  const [row] = await sql<{ request_id: string }>(
    t,
    'select request_id from ledger_entries where id = ?',
    [entryId],
  );
  if (!row?.request_id) throw new Error(`entry ${entryId} has no request`);
  return row.request_id;
}

/** Everything a re-run must leave alone. */
async function snapshot(customerId: string) {
  const entries = await storedEntries(t, customerId);
  const blocks = await sql(
    t,
    'select id, balance::text as balance from credit_blocks where customer_id = ? order by id',
    [customerId],
  );
  const requests = await sql(
    t,
    'select id, status, entry_ids, error, completed_at from requests where customer_id = ? order by id',
    [customerId],
  );
  return { entries, blocks, requests, balance: await expectLedgerConsistent(t, customerId) };
}

async function finishedJob(partition: number, jobId: string) {
  return eventually(
    async () => {
      const job = await t.service.queues.queue(partition).getJob(jobId);
      return job?.finishedOn ? job : undefined;
    },
    10_000,
    `job ${jobId} to finish`,
  );
}

describe('re-running a committed request', () => {
  let customer: any;
  let decrement: any;
  let requestId: string;
  let partition: number;

  beforeAll(async () => {
    customer = await createCustomer(t);
    await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 50,
      expiry_date: isoPlus(serviceNow(t), { days: 120 }),
    });
    decrement = await addEntry(t, customer.id, { entry_type: 'decrement', amount: 60 });
    requestId = await requestIdOf(decrement.id);
    partition = partitionOf(customer.id, t.service.config.partitions);
  });

  it('calling the processor again returns the stored outcome and writes nothing', async () => {
    const before = await snapshot(customer.id);
    expect(before.balance).toBe('-10');
    expect(before.entries).toHaveLength(3);

    const outcome = await applyLedgerRequest({ requestId, customerId: customer.id }, deps);
    expect(outcome.status).toBe('committed');
    if (outcome.status !== 'committed') return;
    expect(outcome.requestId).toBe(requestId);
    expect(outcome.entry.id).toBe(decrement.id);
    expect(outcome.entry.ledger_sequence_number).toBe(decrement.ledger_sequence_number);
    expect(dec(outcome.entry.amount)).toBe(dec(decrement.amount));
    expect(dec(outcome.entry.ending_balance)).toBe('-10');

    expect(await snapshot(customer.id)).toEqual(before);
  });

  it('a second job with another jobId completes with the stored outcome and writes nothing', async () => {
    const before = await snapshot(customer.id);
    const jobId = `redelivery-${randomBytes(4).toString('hex')}`;
    await t.service.queues.add(
      partition,
      'ledger.apply',
      { requestId, customerId: customer.id },
      jobId,
    );
    const job = await finishedJob(partition, jobId);
    expect(job.failedReason).toBeFalsy();
    expect(job.returnvalue).toMatchObject({
      status: 'committed',
      requestId,
      entry: { id: decrement.id },
    });
    expect(await snapshot(customer.id)).toEqual(before);

    // The HTTP view of the request is unchanged too.
    const polled = await t.request('GET', `/v1/ledger_requests/${requestId}`);
    expect(polled.body.status).toBe('committed');
    expect(polled.body.entries.map((entry: any) => entry.id).at(-1)).toBe(decrement.id);
    expect(polled.body.entries).toHaveLength(2);
  });

  it('both at once (processor call and job) still apply nothing twice', async () => {
    const before = await snapshot(customer.id);
    const jobId = `redelivery-${randomBytes(4).toString('hex')}`;
    const [direct] = await Promise.all([
      applyLedgerRequest({ requestId, customerId: customer.id }, deps),
      t.service.queues.add(
        partition,
        'ledger.apply',
        { requestId, customerId: customer.id },
        jobId,
      ),
    ]);
    expect(direct.status).toBe('committed');
    await finishedJob(partition, jobId);
    expect(await snapshot(customer.id)).toEqual(before);
  });
});

describe('two deliveries of a queued request at once', () => {
  it('apply it once; both answer the same entry', async () => {
    const customer = await createCustomer(t);
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 10 });
    const partition = partitionOf(customer.id, t.service.config.partitions);
    const requestId = `twice${randomBytes(5).toString('hex')}`;
    await sql(
      t,
      `insert into requests (id, customer_id, partition, currency, payload, status, entry_ids, error, created_at)
       values (?, ?, ?, 'credits', ?::jsonb, 'queued', '[]'::jsonb, null, now())`,
      [
        requestId,
        customer.id,
        partition,
        JSON.stringify({
          entry_type: 'decrement',
          amount: '4',
          currency: null,
          description: null,
          metadata: {},
        }),
      ],
    );
    const outcomes = await Promise.all([
      applyLedgerRequest({ requestId, customerId: customer.id }, deps),
      applyLedgerRequest({ requestId, customerId: customer.id }, deps),
      applyLedgerRequest({ requestId, customerId: customer.id }, deps),
    ]);
    const entryIds = outcomes.map((outcome) =>
      outcome.status === 'committed' ? outcome.entry.id : outcome.status,
    );
    expect(new Set(entryIds).size).toBe(1);
    expect(outcomes[0]?.status).toBe('committed');
    const entries = await storedEntries(t, customer.id);
    expect(entries.map((entry) => [entry.entry_type, dec(entry.amount), entry.request_id])).toEqual(
      [
        ['increment', '10', expect.any(String)],
        ['decrement', '-4', requestId],
      ],
    );
    expect((await requestRow(requestId)).status).toBe('committed');
    expect(await expectLedgerConsistent(t, customer.id)).toBe('6');
  });
});

describe('re-running a failed request', () => {
  it('returns the stored refusal and writes nothing', async () => {
    const customer = await createCustomer(t);
    const refused = await t.request('POST', ledgerEntryPath(customer.id), {
      entry_type: 'increment',
      amount: 5,
      // Expiry before the effective date, both in the future.
      effective_date: isoPlus(serviceNow(t), { days: 60 }),
      expiry_date: isoPlus(serviceNow(t), { days: 30 }),
    });
    expect(refused.status).toBe(400);
    const [request] = await sql<{ id: string }>(
      t,
      'select id from requests where customer_id = ?',
      [customer.id],
    );
    const stored = await requestRow(request!.id);
    expect(stored.status).toBe('failed');

    const outcome = await applyLedgerRequest(
      { requestId: request!.id, customerId: customer.id },
      deps,
    );
    expect(outcome).toEqual({
      status: 'failed',
      kind: 'ledger_entry',
      requestId: request!.id,
      error: stored.error,
    });
    expect(await requestRow(request!.id)).toEqual(stored);
    expect(await storedEntries(t, customer.id)).toHaveLength(0);
  });

  it('a request id that does not exist is a failed outcome, not a thrown error', async () => {
    const outcome = await applyLedgerRequest(
      { requestId: 'missingRequest00', customerId: 'missingCustomer0' },
      deps,
    );
    expect(outcome).toMatchObject({
      status: 'failed',
      requestId: 'missingRequest00',
      error: { kind: 'internal' },
    });
  });
});

describe('requests and jobs that cannot be applied', () => {
  it('a stored payload that is corrupt is recorded as failed and the partition moves on', async () => {
    const customer = await createCustomer(t);
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 10 });
    const partition = partitionOf(customer.id, t.service.config.partitions);
    const requestId = `corrupt${randomBytes(5).toString('hex')}`;
    await sql(
      t,
      `insert into requests (id, customer_id, partition, currency, payload, status, entry_ids, error, created_at)
       values (?, ?, ?, 'credits', ?::jsonb, 'queued', '[]'::jsonb, null, now())`,
      [
        requestId,
        customer.id,
        partition,
        JSON.stringify({
          entry_type: 'decrement',
          amount: '1',
          currency: null,
          description: null,
          metadata: {},
        }),
      ],
    );
    await sql(t, `update requests set payload = '{}'::jsonb where id = ?`, [requestId]);
    await t.service.queues.add(
      partition,
      'ledger.apply',
      { requestId, customerId: customer.id },
      requestId,
    );

    // Accepted after the corrupt one on the same partition: it must still commit.
    const following = await t.request('POST', ledgerEntryPath(customer.id), {
      entry_type: 'decrement',
      amount: 3,
    });
    expect(following.status, following.text).toBe(201);
    expect(following.body).toMatchObject({
      amount: -3,
      starting_balance: 10,
      ending_balance: 7,
      ledger_sequence_number: 1,
    });

    const job = await finishedJob(partition, requestId);
    expect(job.returnvalue).toMatchObject({
      status: 'failed',
      requestId,
      error: { kind: 'internal' },
    });
    const row = await requestRow(requestId);
    expect(row.status).toBe('failed');
    expect(row.error?.kind).toBe('internal');
    expect(row.error?.detail).toMatch(/unreadable/);
    expect(row.entry_ids).toEqual([]);
    expect(row.completed_at).not.toBeNull();

    const polled = await t.request('GET', `/v1/ledger_requests/${requestId}`);
    expect(polled.status).toBe(200);
    expect(polled.body).toMatchObject({ id: requestId, status: 'failed', entries: [] });
    expect(polled.body.error).toMatchObject({ type: ERROR_TYPE.internal, status: 500 });
    expect(await expectLedgerConsistent(t, customer.id)).toBe('7');
  });

  it('a job whose data does not parse fails alone; the partition moves on', async () => {
    const customer = await createCustomer(t);
    const partition = partitionOf(customer.id, t.service.config.partitions);
    const queue = t.service.queues.queue(partition);
    const badData = await queue.add('ledger.apply', { requestId: 42 }, { attempts: 1 });
    const badName = await queue.add(
      'ledger.unknown',
      { requestId: 'x', customerId: customer.id },
      { attempts: 1 },
    );

    const following = await t.request('POST', ledgerEntryPath(customer.id), {
      entry_type: 'increment',
      amount: 4,
    });
    expect(following.status, following.text).toBe(201);

    for (const jobId of [badData.id, badName.id]) {
      const job = await finishedJob(partition, String(jobId));
      expect(await job.getState()).toBe('failed');
      expect(job.failedReason).toBeTruthy();
    }
    expect(await expectLedgerConsistent(t, customer.id)).toBe('4');
  });
});
