/**
 * The outbox writer (worker/delivery/outbox.ts): drafts appended in a transaction become rows of
 * `webhook_events` with Orb's bodies rendered from the rows the transaction sees, in draft order,
 * and a notification at commit; a transaction that rolls back leaves neither.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookEventSchema } from '../../../api/wire/webhookEvent.ts';
import {
  WEBHOOK_EVENTS_CHANNEL,
  type WebhookEventDraft,
} from '../../../worker/jobs/webhookEvents.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import { addEntry, createCustomer, sql } from '../ledgerTestHelpers.ts';

let t: TestService;
/** An endpoint for every type (nothing listens there: its deliveries just wait and retry). */
let endpointId: string;
beforeAll(async () => {
  t = await startTestService({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' });
  const endpoint = await t.request('POST', '/v1/webhook_endpoints', { url: 'http://127.0.0.1:9/' });
  expect(endpoint.status, endpoint.text).toBe(201);
  endpointId = endpoint.body.id;
});

/** The endpoint's deliveries of these events, in delivery order. */
async function deliveries(eventIds: string[]) {
  return sql<{ id: string; chain: string }>(
    t,
    `select e.id, d.chain from webhook_deliveries d join webhook_events e on e.seq = d.event_seq
      where d.endpoint_id = ? and e.id in (select jsonb_array_elements_text(?::jsonb)) order by d.seq`,
    [endpointId, JSON.stringify(eventIds)],
  );
}
afterAll(async () => {
  await t?.stop();
});

function draft(fields: Partial<WebhookEventDraft> & Pick<WebhookEventDraft, 'facts'>) {
  return {
    id: `whe_${randomUUID()}`,
    createdAt: new Date(),
    customerId: null,
    ledgerSequenceNumber: null,
    ...fields,
  } satisfies WebhookEventDraft;
}

async function stored(ids: string[]) {
  return sql<{ id: string; type: string; seq: string; body: string; customer_id: string | null }>(
    t,
    `select id, type, seq::text as seq, body, customer_id from webhook_events
      where id in (select jsonb_array_elements_text(?::jsonb)) order by seq`,
    [JSON.stringify(ids)],
  );
}

describe('Outbox.append', () => {
  it('renders each draft into its stored body, in draft order, and notifies at commit', async () => {
    const customer = await createCustomer(t, { external_customer_id: `ext-${randomUUID()}` });
    const entry = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 25.5,
      metadata: { reason: 'outbox' },
    });
    const listener = new pg.Client({ connectionString: t.databaseUrl });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (message) => heard.push(message.channel));
    await listener.query(`listen ${WEBHOOK_EVENTS_CHANNEL}`);
    const drafts = [
      draft({ customerId: customer.id, facts: { type: 'customer.created' } }),
      draft({
        customerId: customer.id,
        ledgerSequenceNumber: entry.ledger_sequence_number,
        facts: {
          type: 'customer.credit_ledger_incremented',
          blockId: entry.credit_block.id,
          currency: 'credits',
        },
      }),
      draft({ facts: { type: 'resource_event.test', message: 'hello' } }),
    ];
    try {
      await t.service.orm.em.fork().transactional(async (em) => {
        await t.service.outbox.append(em, drafts);
        expect(heard).toEqual([]);
      });
      await expect.poll(() => heard.length).toBe(1);
    } finally {
      await listener.end();
    }
    const rows = await stored(drafts.map((one) => one.id));
    expect(rows.map((row) => row.id)).toEqual(drafts.map((one) => one.id));
    const bodies = rows.map((row) => webhookEventSchema.parse(JSON.parse(row.body)));
    expect(bodies[0]).toMatchObject({
      id: drafts[0]!.id,
      type: 'customer.created',
      customer: { id: customer.id, external_customer_id: customer.external_customer_id },
      properties: {},
    });
    expect(bodies[1]).toMatchObject({
      type: 'customer.credit_ledger_incremented',
      properties: {
        block: { id: entry.credit_block.id, balance: '25.5', metadata: {} },
        pricing_unit: { id: 'credits', name: 'credits' },
        ledger_sequence_number: entry.ledger_sequence_number,
      },
    });
    expect(bodies[2]).toEqual({
      id: drafts[2]!.id,
      created_at: drafts[2]!.createdAt.toISOString(),
      type: 'resource_event.test',
      properties: { message: 'hello' },
    });
    expect(rows.map((row) => row.customer_id)).toEqual([customer.id, customer.id, null]);
    // Their deliveries were made with them, in their order, chained by customer.
    expect(await deliveries(drafts.map((one) => one.id))).toEqual([
      { id: drafts[0]!.id, chain: customer.id },
      { id: drafts[1]!.id, chain: customer.id },
      { id: drafts[2]!.id, chain: '' },
    ]);
  });

  it('writes nothing for a transaction that rolls back, and nothing for no drafts', async () => {
    const one = draft({ facts: { type: 'resource_event.test', message: 'never' } });
    await expect(
      t.service.orm.em.fork().transactional(async (em) => {
        await t.service.outbox.append(em, [one]);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await stored([one.id])).toEqual([]);
    expect(await deliveries([one.id])).toEqual([]);
    await t.service.orm.em.fork().transactional((em) => t.service.outbox.append(em, []));
  });

  it('refuses a draft whose rows are missing (a bug, not an event without a body)', async () => {
    const orphan = draft({
      customerId: 'no_such_customer',
      facts: { type: 'customer.created' },
    });
    await expect(
      t.service.orm.em.fork().transactional((em) => t.service.outbox.append(em, [orphan])),
    ).rejects.toThrow(/no customer/);
  });
});
