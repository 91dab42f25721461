/**
 * A request accepted in Postgres whose job Redis lost is put back on its partition by the sweep
 * and applied once (ARCHITECTURE.md "Time"); one whose job still exists is left alone. Likewise
 * usage events accepted in Postgres (an ingest answered 200) whose ring Redis lost: the sweep
 * rings their partition, and they are applied once.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClockStart } from '../../support/testDates.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  createUsagePrice,
  expectLedgerConsistent,
  sql,
  strandedRequest,
} from '../ledgerTestHelpers.ts';

const START = manualClockStart();

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ CLOCK: 'manual', CLOCK_START: START.toISOString() });
});
afterAll(async () => {
  await t?.stop();
});

describe('stranded requests', () => {
  it('re-enqueues a queued request with no job, once, after a minute', async () => {
    const customer = await createCustomer(t);
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 10 });
    const old = await strandedRequest(t, customer.id, new Date(START.getTime() - 120_000));
    const recent = await strandedRequest(t, customer.id, START);

    const advance = await t.request('POST', '/v1/test_clock/advance', {
      to: new Date(START.getTime() + 1_000).toISOString(),
    });
    expect(advance.status, advance.text).toBe(200);
    const [oldRow] = await sql<{ status: string }>(t, 'select status from requests where id = ?', [
      old,
    ]);
    const [recentRow] = await sql<{ status: string }>(
      t,
      'select status from requests where id = ?',
      [recent],
    );
    expect(oldRow?.status).toBe('committed');
    // Accepted a second ago: it may simply be waiting in line, so it is not touched yet.
    expect(recentRow?.status).toBe('queued');

    // Sweeping again re-enqueues nothing twice: the old one is done, and the ledger moved once.
    await t.request('POST', '/v1/test_clock/advance', {
      to: new Date(START.getTime() + 2_000).toISOString(),
    });
    expect(await expectLedgerConsistent(t, customer.id)).toBe('6');
  });
});

/** An event as the api writes it before answering 200, whose ring never reached the worker. */
async function acceptedEvent(
  customerId: string,
  eventName: string,
  acceptedAt: Date,
): Promise<string> {
  const key = `stranded-event-${randomBytes(4).toString('hex')}`;
  await sql(
    t,
    `insert into events (idempotency_key, customer_id, event_name, timestamp, properties, status, ingested_at, accepted_seq)
     values (?, ?, ?, ?, '{"n": 3}'::jsonb, 'accepted', ?, nextval('events_accepted_seq'))`,
    [key, customerId, eventName, START, acceptedAt],
  );
  return key;
}

describe('stranded usage events', () => {
  it('rings the partition of events accepted a minute ago and never applied; applies them once', async () => {
    const customer = await createCustomer(t);
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 10 });
    const price = await createUsagePrice(t, { quantity_property: 'n', unit_amount: '1' });
    const old = await acceptedEvent(
      customer.id,
      price.event_name,
      new Date(START.getTime() - 120_000),
    );
    // Accepted after the old one (a later place in line), a moment ago: it may be in line still.
    const recent = await acceptedEvent(customer.id, price.event_name, START);

    const advance = await t.request('POST', '/v1/test_clock/advance', {
      to: new Date(START.getTime() + 3_000).toISOString(),
    });
    expect(advance.status, advance.text).toBe(200);
    const status = async (key: string) =>
      (
        await sql<{ status: string }>(t, 'select status from events where idempotency_key = ?', [
          key,
        ])
      )[0]?.status;
    expect(await status(old)).toBe('applied');
    expect(await status(recent)).toBe('accepted');

    await t.request('POST', '/v1/test_clock/advance', {
      to: new Date(START.getTime() + 4_000).toISOString(),
    });
    expect(await status(old)).toBe('applied');
    expect(await expectLedgerConsistent(t, customer.id)).toBe('7');
  });
});
