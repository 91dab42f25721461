/**
 * Webhook delivery end to end, against a real HTTP receiver on 127.0.0.1 (endpoints created
 * through the API, with WEBHOOK_ALLOW_PRIVATE_NETWORKS=true) and a short backoff: every delivery
 * verifies with the official SDK's `unwrap`; both secrets sign during a rotation's overlap; a
 * receiver down for a while gets everything afterwards, in order per customer, with stable ids;
 * a failing head holds back only its own customer's chain; redeliver sends the same event again;
 * the feed pages in commit order with its filters.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { WebhookEventDraft } from '../../../worker/jobs/webhookEvents.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import { createCustomer } from '../ledgerTestHelpers.ts';
import { Receiver, unwrap, type Received } from './receiver.ts';

let t: TestService;
let receiver: Receiver;
let endpoint: { id: string; secret: string };

beforeAll(async () => {
  t = await startTestService({
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    WEBHOOK_RETRY_BASE_MS: '50',
    WEBHOOK_RETRY_MAX_MS: '200',
    WEBHOOK_POLL_MS: '100',
    WEBHOOK_TIMEOUT_MS: '2000',
    WEBHOOK_RETRY_WINDOW: 'PT5M',
  });
});
afterAll(async () => {
  await t?.stop();
});

beforeEach(async () => {
  await receiver?.stop();
  receiver = await Receiver.start();
  // A fresh endpoint per test: earlier tests' endpoints are deleted with their deliveries.
  if (endpoint) await t.request('DELETE', `/v1/webhook_endpoints/${endpoint.id}`);
  const created = await t.request('POST', '/v1/webhook_endpoints', {
    url: receiver.url,
    description: 'test receiver',
  });
  expect(created.status, created.text).toBe(201);
  endpoint = { id: created.body.id, secret: created.body.secret };
});

/** Writes test events on `chain` (a customer id, for ordering) through the outbox, one commit. */
async function append(chain: string | null, messages: string[]): Promise<string[]> {
  const drafts: WebhookEventDraft[] = messages.map((message) => ({
    id: `evt_${randomUUID()}`,
    createdAt: new Date(),
    customerId: chain,
    ledgerSequenceNumber: null,
    facts: { type: 'resource_event.test', message },
  }));
  await t.service.orm.em.fork().transactional((em) => t.service.outbox.append(em, drafts));
  return drafts.map((draft) => draft.id);
}

const messageOf = (received: Received) => received.event.properties.message as string;

describe('webhook delivery', () => {
  it('delivers customer.created, signed so that the SDK unwraps it; the endpoint hides its secret', async () => {
    const customer = await createCustomer(t, { external_customer_id: `ext-${randomUUID()}` });
    await expect.poll(() => receiver.delivered().length, { timeout: 5_000 }).toBe(1);
    const [delivery] = receiver.delivered();
    const event = unwrap(delivery!, endpoint.secret) as any;
    expect(event).toMatchObject({
      type: 'customer.created',
      customer: { id: customer.id, external_customer_id: customer.external_customer_id },
      properties: {},
    });
    expect(delivery!.headers['x-orb-timestamp']).toMatch(/^\d{4}-\d{2}-\d{2}T.*Z$/);
    expect(() => unwrap(delivery!, 'whsec_wrong')).toThrow(/signature/);
    const fetched = await t.request('GET', `/v1/webhook_endpoints/${endpoint.id}`);
    expect(fetched.status).toBe(200);
    expect(fetched.text).not.toContain(endpoint.secret);
    expect(fetched.body.secret).toBeUndefined();
    const log = await t.request('GET', `/v1/webhook_endpoints/${endpoint.id}/deliveries`);
    expect(log.body.data).toMatchObject([
      { event_id: event.id, event_type: 'customer.created', status: 'delivered', attempts: 1 },
    ]);
    expect(log.body.data[0].response_code).toBe(200);
    expect(log.body.data[0].latency_ms).toBeGreaterThanOrEqual(0);
  });

  it('signs with both secrets during a rotation overlap, and the test event reaches this endpoint', async () => {
    const rotated = await t.request('POST', `/v1/webhook_endpoints/${endpoint.id}/rotate_secret`);
    expect(rotated.status, rotated.text).toBe(200);
    const newSecret = rotated.body.secret as string;
    expect(newSecret).not.toBe(endpoint.secret);
    expect(rotated.body.secrets).toHaveLength(2);
    const sent = await t.request('POST', `/v1/webhook_endpoints/${endpoint.id}/test`);
    expect(sent.status, sent.text).toBe(202);
    await expect.poll(() => receiver.delivered().length, { timeout: 5_000 }).toBe(1);
    const [delivery] = receiver.delivered();
    expect(delivery!.event.id).toBe(sent.body.id);
    expect(delivery!.headers['x-orb-signature']!.split(' ')).toHaveLength(2);
    expect(unwrap(delivery!, endpoint.secret)).toMatchObject({ type: 'resource_event.test' });
    expect(unwrap(delivery!, newSecret)).toMatchObject({ type: 'resource_event.test' });

    // An overlap of 0 ends the old secrets at once: only the newest signs.
    const again = await t.request('POST', `/v1/webhook_endpoints/${endpoint.id}/rotate_secret`, {
      previous_secret_overlap_seconds: 0,
    });
    await t.request('POST', `/v1/webhook_endpoints/${endpoint.id}/test`);
    await expect.poll(() => receiver.delivered().length, { timeout: 5_000 }).toBe(2);
    const latest = receiver.delivered()[1]!;
    expect(latest.headers['x-orb-signature']!.split(' ')).toHaveLength(1);
    expect(unwrap(latest, again.body.secret)).toBeTruthy();
    expect(() => unwrap(latest, newSecret)).toThrow();
  });

  it('a receiver down for a while gets everything afterwards, in order per customer, same ids', async () => {
    receiver.answer = () => ({ status: 503 });
    const chains = ['cust_a', 'cust_b', 'cust_c'].map((name) => `${name}_${randomUUID()}`);
    const written = new Map<string, string[]>();
    for (const chain of chains) written.set(chain, []);
    for (let round = 0; round < 3; round += 1)
      for (const chain of chains)
        written.get(chain)!.push(...(await append(chain, [`${chain}:${round}`])));
    // Down for a while: several failed attempts each, none delivered.
    await expect.poll(() => receiver.received.length, { timeout: 5_000 }).toBeGreaterThan(6);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(receiver.delivered()).toEqual([]);
    const refusedIds = new Set(receiver.received.map((one) => one.event.id));
    receiver.answer = () => ({ status: 200 });
    await expect.poll(() => receiver.delivered().length, { timeout: 10_000 }).toBe(9);
    for (const chain of chains) {
      const arrived = receiver
        .delivered()
        .filter((one) => messageOf(one).startsWith(chain))
        .map((one) => one.event.id);
      expect(arrived).toEqual(written.get(chain));
    }
    // Only chain heads were ever attempted while down, and retried with their own ids.
    for (const id of refusedIds)
      expect(chains.some((c) => written.get(c)!.includes(id))).toBe(true);
    expect(refusedIds.size).toBe(3);
    for (const one of receiver.received) unwrap(one, endpoint.secret);
  });

  it("a failing head holds back only its own customer's events", async () => {
    const [stuck, flowing] = [`stuck_${randomUUID()}`, `flowing_${randomUUID()}`];
    receiver.answer = (one) =>
      messageOf(one).startsWith(stuck) ? { status: 500 } : { status: 200 };
    const stuckIds = await append(stuck, [`${stuck}:0`, `${stuck}:1`]);
    const flowingIds = await append(flowing, [`${flowing}:0`, `${flowing}:1`]);
    await expect.poll(() => receiver.delivered().map((one) => one.event.id)).toEqual(flowingIds);
    await new Promise((resolve) => setTimeout(resolve, 500));
    // The second stuck event was never tried: its head is still failing.
    expect(receiver.received.some((one) => one.event.id === stuckIds[1])).toBe(false);
    expect(receiver.received.filter((one) => one.event.id === stuckIds[0]).length).toBeGreaterThan(
      1,
    );
    receiver.answer = () => ({ status: 200 });
    await expect
      .poll(() => receiver.delivered().map((one) => one.event.id), { timeout: 5_000 })
      .toEqual([...flowingIds, ...stuckIds]);
  });

  it('redeliver sends a delivered event again with the same id and body', async () => {
    const [id] = await append(null, ['once']);
    await expect.poll(() => receiver.delivered().length).toBe(1);
    const log = await t.request('GET', `/v1/webhook_endpoints/${endpoint.id}/deliveries`);
    const delivery = log.body.data.find((one: any) => one.event_id === id);
    const again = await t.request(
      'POST',
      `/v1/webhook_endpoints/${endpoint.id}/deliveries/${delivery.id}/redeliver`,
    );
    expect(again.status, again.text).toBe(200);
    await expect.poll(() => receiver.delivered().length).toBe(2);
    const [first, second] = receiver.delivered();
    expect(second!.event.id).toBe(id);
    expect(second!.body).toBe(first!.body);
    unwrap(second!, endpoint.secret);
    const missing = await t.request(
      'POST',
      `/v1/webhook_endpoints/${endpoint.id}/deliveries/nope/redeliver`,
    );
    expect(missing.status).toBe(404);
  });
});

describe('GET /v1/webhook_events', () => {
  it('pages in commit order and filters by customer and type', async () => {
    const customer = await createCustomer(t);
    const ids = [
      ...(await append(customer.id, ['feed:0', 'feed:1'])),
      ...(await append(customer.id, ['feed:2'])),
    ];
    const seen: any[] = [];
    let cursor: string | null = null;
    do {
      const query = `customer_id=${customer.id}&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await t.request('GET', `/v1/webhook_events?${query}`);
      expect(page.status, page.text).toBe(200);
      expect(page.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.data);
      cursor = page.body.pagination_metadata.next_cursor;
    } while (cursor);
    expect(seen.map((one) => one.type)).toEqual([
      'customer.created',
      'resource_event.test',
      'resource_event.test',
      'resource_event.test',
    ]);
    expect(seen.slice(1).map((one) => one.id)).toEqual(ids);
    const typed = await t.request(
      'GET',
      `/v1/webhook_events?customer_id=${customer.id}&type=customer.created`,
    );
    expect(typed.body.data.map((one: any) => one.type)).toEqual(['customer.created']);
    const bad = await t.request('GET', '/v1/webhook_events?cursor=bm9wZQ');
    expect(bad.status).toBe(400);
  });
});
