/**
 * Creating a webhook endpoint with an Idempotency-Key (api/routes/webhookEndpoints.ts): a retry
 * with the same key and body answers the first answer — the same endpoint and the secret it was
 * given, which is shown nowhere else — and makes no second endpoint; another body is a 409.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../support/testService.ts';

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' });
});
afterAll(async () => {
  await t?.stop();
});

describe('POST /v1/webhook_endpoints with an Idempotency-Key', () => {
  it('replays the first answer, secret included, and makes one endpoint', async () => {
    const key = randomUUID();
    const body = { url: 'http://127.0.0.1:9/hook', description: 'billing' };
    const first = await t.request('POST', '/v1/webhook_endpoints', body, {
      'idempotency-key': key,
    });
    expect(first.status, first.text).toBe(201);
    expect(first.body.secret).toEqual(expect.any(String));
    const again = await t.request('POST', '/v1/webhook_endpoints', body, {
      'idempotency-key': key,
    });
    expect(again.status, again.text).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    const other = await t.request(
      'POST',
      '/v1/webhook_endpoints',
      { ...body, description: 'another' },
      { 'idempotency-key': key },
    );
    expect(other.status, other.text).toBe(409);
    const listed = await t.request('GET', '/v1/webhook_endpoints?limit=100');
    expect(
      listed.body.data.filter(
        (endpoint: { description: string }) => endpoint.description === 'billing',
      ),
    ).toHaveLength(1);
    // Fetched, the endpoint never shows its secret.
    const fetched = await t.request('GET', `/v1/webhook_endpoints/${first.body.id}`);
    expect(fetched.text).not.toContain(first.body.secret);
  });
});
