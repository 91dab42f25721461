/**
 * The guards of webhook delivery, with private networks NOT allowed: the WEBHOOK_URL endpoint is
 * trusted (it receives every event at a loopback address), an endpoint created through the API at
 * a private or loopback address is refused, a redirect is never followed, a receiver that hangs
 * times out, and a delivery failing past its retry window (1 s here) is `failed`, after which the
 * chain's later events flow; `redeliver_failed` sends it again.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebhookEventDraft } from '../../../worker/jobs/webhookEvents.ts';
import { CONFIGURED_ENDPOINT_ID } from '../../../worker/store/webhookEndpoints.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import { Receiver, unwrap } from './receiver.ts';

const SECRET = `whsec_${randomUUID()}`;
const LOG = `/v1/webhook_endpoints/${CONFIGURED_ENDPOINT_ID}/deliveries`;
let t: TestService;
let receiver: Receiver;
let elsewhere: Receiver;

beforeAll(async () => {
  receiver = await Receiver.start();
  elsewhere = await Receiver.start();
  t = await startTestService({
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: SECRET,
    WEBHOOK_RETRY_BASE_MS: '50',
    WEBHOOK_RETRY_MAX_MS: '100',
    WEBHOOK_POLL_MS: '100',
    WEBHOOK_TIMEOUT_MS: '500',
    WEBHOOK_RETRY_WINDOW: 'PT1S',
  });
});
afterAll(async () => {
  await t?.stop();
  await receiver?.stop();
  await elsewhere?.stop();
});

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

async function deliveryOf(eventId: string): Promise<any> {
  const log = await t.request('GET', `${LOG}?limit=100`);
  return log.body.data.find((one: any) => one.event_id === eventId);
}

describe('webhook guards', () => {
  it('refuses endpoints at private or loopback addresses created through the API', async () => {
    for (const url of ['http://127.0.0.1:9/x', 'http://localhost/x', 'http://10.1.2.3/x']) {
      const refused = await t.request('POST', '/v1/webhook_endpoints', { url });
      expect(refused.status, url).toBe(400);
      expect(refused.body.detail).toMatch(/private or loopback/);
    }
    const scheme = await t.request('POST', '/v1/webhook_endpoints', { url: 'ftp://example.com' });
    expect(scheme.status).toBe(400);
  });

  it('delivers every event to the trusted WEBHOOK_URL endpoint at a loopback address', async () => {
    const [id] = await append(null, ['trusted']);
    await expect.poll(() => receiver.delivered().map((one) => one.event.id)).toContain(id);
    const delivery = receiver.delivered().find((one) => one.event.id === id)!;
    expect(unwrap(delivery, SECRET)).toMatchObject({ id, type: 'resource_event.test' });
    const endpoint = await t.request('GET', `/v1/webhook_endpoints/${CONFIGURED_ENDPOINT_ID}`);
    expect(endpoint.body).toMatchObject({ configured_by_environment: true, event_types: null });
  });

  it('does not follow a redirect, times out a hanging receiver, then fails after the window and lets later events flow', async () => {
    const chain = `chain_${randomUUID()}`;
    receiver.answer = (one) =>
      one.event.properties?.message === 'redirected'
        ? { status: 302, location: elsewhere.url }
        : one.event.properties?.message === 'hangs'
          ? 'hang'
          : { status: 200 };
    const [redirected, hangs, after] = await append(chain, ['redirected', 'hangs', 'after']);
    await expect
      .poll(async () => (await deliveryOf(redirected!))?.status, { timeout: 5_000 })
      .toBe('failed');
    const failed = await deliveryOf(redirected!);
    expect(failed.error).toMatch(/redirect not followed/);
    expect(failed.response_code).toBe(302);
    expect(failed.attempts).toBeGreaterThan(1);
    expect(elsewhere.received).toEqual([]);
    await expect
      .poll(async () => (await deliveryOf(hangs!))?.status, { timeout: 8_000 })
      .toBe('failed');
    expect((await deliveryOf(hangs!)).error).toMatch(/timed out after 500 ms/);
    // Both failed for good: the chain's next event flows.
    await expect
      .poll(() => receiver.delivered().map((one) => one.event.id), { timeout: 5_000 })
      .toContain(after);

    receiver.answer = () => ({ status: 200 });
    const again = await t.request(
      'POST',
      `/v1/webhook_endpoints/${CONFIGURED_ENDPOINT_ID}/redeliver_failed`,
    );
    expect(again.body).toEqual({ redelivered: 2 });
    await expect
      .poll(() => receiver.delivered().map((one) => one.event.id), { timeout: 5_000 })
      .toEqual(expect.arrayContaining([redirected, hangs]));
    const order = receiver.delivered().map((one) => one.event.id);
    expect(order.indexOf(redirected!)).toBeLessThan(order.indexOf(hangs!));
  });
});
