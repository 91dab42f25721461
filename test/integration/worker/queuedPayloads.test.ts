/**
 * Upgrading with jobs still queued (issue 13 item 6): job data and stored request payloads as
 * every released version wrote them (test/fixtures/queuedPayloads/, copied from the producers in
 * git history) are accepted by the current catalog and parsers, and applied by the current worker
 * as the version that accepted them promised.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerRequestPayload, toCommand } from '../../../worker/jobs/ledgerRequestPayload.ts';
import { partitionOf } from '../../../worker/jobs/partition.ts';
import { jobCatalog, type JobName } from '../../../worker/jobs/queues.ts';
import { balanceRequestPayload } from '../../../worker/jobs/requestKinds.ts';
import { manualClockStart } from '../../support/testDates.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import {
  createCustomer,
  createUsagePrice,
  dec,
  eventually,
  expectLedgerConsistent,
  sql,
} from '../ledgerTestHelpers.ts';

interface RequestFixture {
  name: string;
  written_by: string;
  payload: Record<string, unknown>;
  job: Record<string, string>;
  expect: {
    status: 'committed' | 'failed';
    entries?: [string, string][];
    per_unit_cost_basis?: string;
    invoice_total?: string;
    transaction?: [string, string];
  };
}

const fixture = <T>(file: string): T =>
  JSON.parse(
    readFileSync(new URL(`../../fixtures/queuedPayloads/${file}`, import.meta.url), 'utf8'),
  ) as T;
const ledgerFixtures = fixture<{ requests: RequestFixture[] }>('ledgerRequests.json').requests;
const balanceFixtures = fixture<{ requests: RequestFixture[] }>('balanceRequests.json').requests;
const jobFixtures = fixture<{
  jobs: { name: string; written_by: string; data: Record<string, unknown> }[];
}>('jobData.json').jobs;

/** Replaces the fixtures' placeholders (see ledgerRequests.json's `about`) in any JSON value. */
function fill(value: unknown, names: Record<string, string>, today: string): any {
  if (typeof value === 'string') {
    if (value in names) return names[value];
    const block = /^\$BLOCK_OF:(.+)$/.exec(value);
    if (block) return names[`block:${block[1]}`] ?? value;
    const date = /^\$DATE\+(\d+)$/.exec(value);
    if (date)
      return DateTime.fromISO(today, { zone: 'utc' })
        .plus({ days: Number(date[1]) })
        .toISODate();
    return value;
  }
  if (Array.isArray(value)) return value.map((item) => fill(item, names, today));
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, fill(item, names, today)]),
    );
  return value;
}

describe('payloads written by older versions: parsing', () => {
  it('has job data of every job name in the catalog, and every one parses', () => {
    const names = Object.keys(jobCatalog) as JobName[];
    expect(new Set(jobFixtures.map((job) => job.name))).toEqual(new Set(names));
    for (const job of jobFixtures) {
      const parsed = jobCatalog[job.name as JobName].payload.safeParse(job.data);
      expect(parsed.success, `${job.name} as written by ${job.written_by}`).toBe(true);
    }
  });

  it('parses every stored ledger and balance request payload into a command', () => {
    const names = { $REQUEST: 'r1', $CUSTOMER: 'c1' };
    const filled = (request: RequestFixture) =>
      fill(
        request.payload,
        { ...names, ...Object.fromEntries(ledgerFixtures.map((f) => [`block:${f.name}`, 'b1'])) },
        DateTime.utc().toISODate() ?? '',
      );
    for (const request of ledgerFixtures) {
      const parsed = ledgerRequestPayload.safeParse(filled(request));
      expect(parsed.success, `${request.name}: ${parsed.error?.message}`).toBe(true);
      const command = toCommand(parsed.data!, 'UTC');
      expect('kind' in command, `${request.name}: ${JSON.stringify(command)}`).toBe(false);
    }
    for (const request of balanceFixtures) {
      const parsed = balanceRequestPayload.safeParse(filled(request));
      expect(parsed.success, `${request.name}: ${parsed.error?.message}`).toBe(true);
    }
  });
});

describe('payloads written by older versions: applied by the current worker', () => {
  let t: TestService;
  const START = manualClockStart();
  beforeAll(async () => {
    t = await startTestService({ CLOCK: 'manual', CLOCK_START: START.toISOString() });
  });
  afterAll(async () => {
    await t?.stop();
  });

  /** Stores the row as the old version did and enqueues its job data as it did; waits for the outcome. */
  async function apply(
    table: 'requests' | 'balance_transaction_requests',
    // A balance request an older version stored in its own table: the one-request-model migration
    // moved it into `requests` under the same id, so it is stored here as it is after that move.
    customerId: string,
    request: RequestFixture,
    names: Record<string, string>,
  ): Promise<string> {
    const id = `old${randomBytes(6).toString('hex')}`;
    const today = DateTime.fromJSDate(t.service.clock.now(), { zone: 'utc' }).toISODate() ?? '';
    const fills = { ...names, $REQUEST: id, $CUSTOMER: customerId };
    const payload = fill(request.payload, fills, today);
    const partition = partitionOf(customerId, t.service.config.partitions);
    const now = t.service.clock.now();
    await (table === 'requests'
      ? sql(
          t,
          `insert into requests (id, customer_id, partition, currency, payload, status, created_at)
           values (?, ?, ?, ?, ?::jsonb, 'queued', ?)`,
          [id, customerId, partition, payload.currency ?? 'credits', JSON.stringify(payload), now],
        )
      : sql(
          t,
          `insert into requests (id, kind, customer_id, partition, currency, payload, status, created_at)
           values (?, 'balance_transaction', ?, ?, null, ?::jsonb, 'queued', ?)`,
          [id, customerId, partition, JSON.stringify(payload), now],
        ));
    // The job data exactly as the old producer wrote it, past the typed `add`.
    await t.service.queues
      .queue(partition)
      .add(
        table === 'requests' ? 'ledger.apply' : 'balance.apply',
        fill(request.job, fills, today),
        {
          jobId: id,
          ...jobCatalog['ledger.apply'].options,
        },
      );
    const status = await eventually(
      async () => {
        const [row] = await sql<{ status: string; error: unknown }>(
          t,
          'select status, error from requests where id = ?',
          [id],
        );
        return row && row.status !== 'queued' ? row : undefined;
      },
      15_000,
      `${request.name} to be applied`,
    );
    expect(status, `${request.name} (${request.written_by})`).toMatchObject({
      status: request.expect.status,
    });
    return id;
  }

  it('applies every stored ledger request as its version promised, from either job shape', async () => {
    const customer = await createCustomer(t, { currency: 'USD', timezone: 'UTC' });
    const names: Record<string, string> = {};
    for (const request of ledgerFixtures) {
      const id = await apply('requests', customer.id, request, names);
      const entries = await sql<{ entry_type: string; amount: string; block_id: string }>(
        t,
        'select entry_type, amount::text as amount, block_id from ledger_entries where request_id = ? order by ledger_sequence_number',
        [id],
      );
      expect(
        entries.map((entry) => [entry.entry_type, dec(entry.amount)]),
        `${request.name} (${request.written_by})`,
      ).toEqual(request.expect.entries);
      names[`block:${request.name}`] = entries[0]!.block_id;
      if (request.expect.per_unit_cost_basis !== undefined) {
        const [block] = await sql<{ per_unit_cost_basis: string }>(
          t,
          'select per_unit_cost_basis from credit_blocks where id = ?',
          [entries[0]!.block_id],
        );
        expect(block?.per_unit_cost_basis).toBe(request.expect.per_unit_cost_basis);
      }
      if (request.expect.invoice_total !== undefined) {
        const [invoice] = await sql<{ total: string }>(
          t,
          'select total::text as total from invoices where block_id = ?',
          [entries[0]!.block_id],
        );
        expect(dec(invoice?.total ?? 'missing')).toBe(request.expect.invoice_total);
      }
    }
    // 100 + 40 - 10 + 50 (moved, not added) - 5 + 2 + 20 + 30 - 2.5
    expect(await expectLedgerConsistent(t, customer.id)).toBe('224.5');
  });

  it('applies every stored balance request, from the intake and the sweep job shapes', async () => {
    const customer = await createCustomer(t, { currency: 'USD' });
    for (const request of balanceFixtures) {
      const id = await apply('balance_transaction_requests', customer.id, request, {});
      const [transaction] = await sql<{ type: string; amount: string }>(
        t,
        'select type, amount::text as amount from balance_transactions where request_id = ?',
        [id],
      );
      expect([transaction?.type, dec(transaction?.amount ?? '0')]).toEqual(
        request.expect.transaction,
      );
    }
    const fetched = await t.request('GET', `/v1/customers/${customer.id}`);
    expect(fetched.body.balance).toBe('10');
  });

  it('applies usage jobs in the shape the first usage release enqueued them', async () => {
    const customer = await createCustomer(t);
    const increment = await t.request('POST', `/v1/customers/${customer.id}/credits/ledger_entry`, {
      entry_type: 'increment',
      amount: 100,
    });
    expect(increment.status, increment.text).toBe(201);
    const price = await createUsagePrice(t, { quantity_property: 'tokens', unit_amount: '2' });
    const [usage] = jobFixtures.filter((job) => job.name === 'usage.apply');
    const now = t.service.clock.now();
    const old = usage!.data as { events: Record<string, unknown>[]; accepted_at: string };
    const key = `old-usage-${randomBytes(4).toString('hex')}`;
    const data = {
      ...old,
      events: old.events.map((event) => ({
        ...event,
        idempotency_key: key,
        customer_id: customer.id,
        event_name: price.event_name,
        timestamp: new Date(now.getTime() - 1_000).toISOString(),
      })),
      accepted_at: now.toISOString(),
    };
    const partition = partitionOf(customer.id, t.service.config.partitions);
    await t.service.queues
      .queue(partition)
      .add('usage.apply', data, jobCatalog['usage.apply'].options);
    const applied = await eventually(async () => {
      const [event] = await sql<{ status: string; credits: string }>(
        t,
        'select status, credits::text as credits from events where idempotency_key = ?',
        [key],
      );
      return event;
    });
    // 12.5 tokens at 2 credits each, from the exact JSON text of the old job.
    expect(applied.status).toBe('applied');
    expect(dec(applied.credits)).toBe('25');
  });

  it('applies an old usage job carrying a kept event once, and drops its repeats, beside a new ring', async () => {
    const external = `acme-${randomBytes(4).toString('hex')}`;
    const customer = await createCustomer(t, { external_customer_id: external });
    const price = await createUsagePrice(t, { quantity_property: 'tokens', unit_amount: '1' });
    const now = t.service.clock.now();
    const timestamp = new Date(now.getTime() - 1_000).toISOString();
    const kept = `old-kept-${randomBytes(4).toString('hex')}`;
    // Kept while the external id named no customer, as the old intake wrote it.
    await sql(
      t,
      `insert into events (idempotency_key, customer_id, external_customer_id, event_name, timestamp, properties, status, ingested_at, applied_at)
       values (?, null, ?, ?, ?, '{"tokens": 4}'::jsonb, 'awaiting_customer', ?, ?)`,
      [kept, external, price.event_name, timestamp, now, now],
    );
    const [, second] = jobFixtures.filter((job) => job.name === 'usage.apply');
    const old = second!.data as { events: Record<string, unknown>[] };
    const event = {
      ...old.events[0],
      idempotency_key: kept,
      customer_id: customer.id,
      external_customer_id: external,
      event_name: price.event_name,
      timestamp,
      properties_json: '{"tokens":4}',
    };
    const partition = partitionOf(customer.id, t.service.config.partitions);
    // The old customer route's job for the kept event, twice (a client retry), then a new ring.
    const queue = t.service.queues.queue(partition);
    for (let copy = 0; copy < 2; copy += 1)
      await queue.add(
        'usage.apply',
        { events: [event, event], accepted_at: now.toISOString() },
        jobCatalog['usage.apply'].options,
      );
    await queue.add(
      'usage.apply',
      { customer_ids: [customer.id], through_seq: '1' },
      jobCatalog['usage.apply'].options,
    );
    const applied = await eventually(async () => {
      const [row] = await sql<{ status: string; customer_id: string; credits: string }>(
        t,
        'select status, customer_id, credits::text as credits from events where idempotency_key = ?',
        [kept],
      );
      return row?.status === 'applied' ? row : undefined;
    });
    expect(applied.customer_id).toBe(customer.id);
    expect(dec(applied.credits)).toBe('4');
    // Every job done (the repeats and the ring found nothing more to apply): the ledger moved once.
    await eventually(async () => {
      const { wait = 0, active = 0 } = await queue.getJobCounts('wait', 'active');
      return wait + active === 0 ? true : undefined;
    });
    expect(await expectLedgerConsistent(t, customer.id)).toBe('-4');
  });
});
