/**
 * Orb's `ingestion.unmatched_customer_ids`: usage for an external id that names no customer yet is
 * kept (api/routes/ingest.ts), and the same statement that keeps it writes one event naming the
 * external ids — none for a retried request whose events were all there already, none when every
 * event found its customer.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../support/testService.ts';
import { serviceNow } from '../../support/testDates.ts';
import { createCustomer, createUsagePrice, sql } from '../ledgerTestHelpers.ts';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t?.stop();
});

async function unmatchedEvents(): Promise<{ external_customer_ids: string[] }[]> {
  const rows = await sql<{ body: string }>(
    t,
    `select body from webhook_events where type = 'ingestion.unmatched_customer_ids' order by seq`,
  );
  return rows.map(({ body }) => {
    const parsed = JSON.parse(body);
    expect(parsed.type).toBe('ingestion.unmatched_customer_ids');
    return parsed.properties;
  });
}

describe('ingestion.unmatched_customer_ids', () => {
  it('tells once per request that kept new events, naming each external id once', async () => {
    const price = await createUsagePrice(t);
    const known = await createCustomer(t, { external_customer_id: `known-${randomUUID()}` });
    const [a, b] = [`nobody-${randomUUID()}`, `nobody-${randomUUID()}`];
    const at = new Date(serviceNow(t).getTime() - 60_000).toISOString();
    const event = (external: string) => ({
      idempotency_key: randomUUID(),
      event_name: price.event_name,
      timestamp: at,
      external_customer_id: external,
      properties: {},
    });
    const body = { events: [event(a), event(b), event(a), event(known.external_customer_id)] };
    const first = await t.request('POST', '/v1/ingest', body);
    expect(first.status, first.text).toBe(200);
    expect(await unmatchedEvents()).toEqual([
      expect.objectContaining({ external_customer_ids: [a, b] }),
    ]);

    // The same request again: its events are all there, nothing new is kept, nothing is told.
    const retry = await t.request('POST', '/v1/ingest', body);
    expect(retry.status, retry.text).toBe(200);
    expect(await unmatchedEvents()).toHaveLength(1);

    // Every event matched: nothing to tell.
    const matched = await t.request('POST', '/v1/ingest', {
      events: [event(known.external_customer_id)],
    });
    expect(matched.status, matched.text).toBe(200);
    expect(await unmatchedEvents()).toHaveLength(1);
  });
});
