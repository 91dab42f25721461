/**
 * A write transaction left open elsewhere on the server (a migration, a bulk job, a client idle in
 * a transaction) holds back nothing but the cross-customer feed: deliveries are made with their
 * events and sent at once, and one customer's feed pages without waiting, since a customer's
 * transactions commit one at a time. The whole feed waits for the old transaction, so that its
 * pages never skip an event that commits later.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { startTestService, type TestService } from '../../support/testService.ts';
import { addEntry, createCustomer } from '../ledgerTestHelpers.ts';
import { Receiver, unwrap } from './receiver.ts';

const SECRET = `whsec_${randomUUID()}`;
let t: TestService;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await Receiver.start();
  t = await startTestService({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET });
});
afterAll(async () => {
  await t?.stop();
  await receiver?.stop();
});

describe('a long write transaction elsewhere', () => {
  it('does not hold back delivery or a customer feed; the whole feed waits for it', async () => {
    const customer = await createCustomer(t, {});
    const open = new pg.Client({ connectionString: t.databaseUrl });
    await open.connect();
    try {
      await open.query('begin');
      // A transaction id taken and kept: it is older than everything written from now on.
      await open.query('select pg_current_xact_id()');
      const entry = await addEntry(t, customer.id, { entry_type: 'increment', amount: 5 });
      await expect
        .poll(
          () =>
            receiver
              .delivered()
              .map((received) => unwrap(received, SECRET) as any)
              .filter((event) => event.type === 'customer.credit_ledger_incremented').length,
          { timeout: 5_000 },
        )
        .toBe(1);
      const mine = await t.request('GET', `/v1/webhook_events?customer_id=${customer.id}`);
      expect(mine.status, mine.text).toBe(200);
      expect(mine.body.data.map((event: any) => event.type)).toEqual([
        'customer.created',
        'customer.credit_ledger_incremented',
      ]);
      expect(mine.body.data[1].properties.ledger_sequence_number).toBe(
        entry.ledger_sequence_number,
      );
      const all = await t.request('GET', '/v1/webhook_events');
      expect(all.body.data.map((event: any) => event.id)).not.toContain(mine.body.data[1].id);
      await open.query('rollback');
      await expect
        .poll(async () =>
          (await t.request('GET', '/v1/webhook_events?limit=100')).body.data.map(
            (event: any) => event.id,
          ),
        )
        .toContain(mine.body.data[1].id);
    } finally {
      await open.end();
    }
  });
});
