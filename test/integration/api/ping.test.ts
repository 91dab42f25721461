import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../support/testService.ts';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t.stop();
});

describe('GET /v1/ping', () => {
  it('answers pong with a valid key', async () => {
    const response = await t.request('GET', '/v1/ping');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ response: 'pong' });
  });

  it('answers 401 in RFC 7807 form without a key', async () => {
    const response = await t.request('GET', '/v1/ping', undefined, { authorization: '' });
    expect(response.status).toBe(401);
    expect(response.body.type).toBe(
      'https://docs.withorb.com/reference/error-responses#401-authentication-error',
    );
    expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
  });
});

describe('test clock', () => {
  it('does not exist unless CLOCK=manual', async () => {
    for (const [method, path] of [
      ['GET', '/v1/test_clock'],
      ['POST', '/v1/test_clock/advance'],
    ] as const) {
      const response = await t.request(
        method,
        path,
        method === 'POST' ? { to: '2030-01-01T00:00:00Z' } : undefined,
      );
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(response.body.type).toBe(
        'https://docs.withorb.com/reference/error-responses#404-url-not-found',
      );
    }
  });
});
