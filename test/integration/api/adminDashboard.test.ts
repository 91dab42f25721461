/**
 * The queue dashboard: behind basic auth (401 without it), every partition queue listed,
 * read-only by default, and absent when no admin credentials are configured.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionQueueName } from '../../../worker/jobs/partition.ts';
import { startTestService, type TestService } from '../../support/testService.ts';

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

let t: TestService;
beforeAll(async () => {
  t = await startTestService({
    ADMIN_USER: 'ops',
    ADMIN_PASSWORD: 's3cret',
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    WEBHOOK_RETRY_BASE_MS: '60000',
  });
});
afterAll(async () => {
  await t?.stop();
});

describe('queue dashboard', () => {
  it('answers 401 without credentials or with wrong ones', async () => {
    const none = await fetch(`${t.baseUrl}/admin/queues`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic/);
    const wrong = await fetch(`${t.baseUrl}/admin/queues`, {
      headers: { authorization: basic('ops', 'nope') },
    });
    expect(wrong.status).toBe(401);
  });

  it('serves the page and lists every partition queue, read-only', async () => {
    const page = await fetch(`${t.baseUrl}/admin/queues`, {
      headers: { authorization: basic('ops', 's3cret') },
    });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const api = await fetch(`${t.baseUrl}/admin/queues/api/queues`, {
      headers: { authorization: basic('ops', 's3cret') },
    });
    expect(api.status).toBe(200);
    const body = (await api.json()) as { queues: { name: string; readOnlyMode: boolean }[] };
    const expected = Array.from({ length: t.service.config.partitions }, (_, partition) =>
      partitionQueueName(partition),
    );
    expect(body.queues.map((queue) => queue.name).sort()).toEqual(expected.sort());
    expect(body.queues.every((queue) => queue.readOnlyMode)).toBe(true);
  });

  it("says beside every queue what re-driving a failed job does to its customer's order", async () => {
    const api = await fetch(`${t.baseUrl}/admin/queues/api/queues`, {
      headers: { authorization: basic('ops', 's3cret') },
    });
    const body = (await api.json()) as { queues: { name: string; description: string }[] };
    expect(body.queues.length).toBeGreaterThan(0);
    for (const queue of body.queues) expect(queue.description).toMatch(/applies it NOW.*--force/);
  });

  it('has a webhook page: each endpoint with its backlog and latest error, behind the same auth', async () => {
    expect((await fetch(`${t.baseUrl}/admin/webhooks`)).status).toBe(401);
    // Nothing listens on port 9: the test event waits, its first attempt refused.
    const endpoint = await t.request('POST', '/v1/webhook_endpoints', {
      url: 'http://user:password@127.0.0.1:9/hooks?token=abc',
      description: '<b>billing</b>',
    });
    expect(endpoint.status, endpoint.text).toBe(201);
    expect((await t.request('POST', `/v1/webhook_endpoints/${endpoint.body.id}/test`)).status).toBe(
      202,
    );
    const page = async () =>
      (
        await fetch(`${t.baseUrl}/admin/webhooks`, {
          headers: { authorization: basic('ops', 's3cret') },
        })
      ).text();
    await expect.poll(page, { timeout: 5_000 }).toMatch(/ECONNREFUSED|refused|connect/i);
    const html = await page();
    const row = html.split('<tr').find((each) => each.includes(endpoint.body.id))!;
    const cells = [...row.matchAll(/<td>(.*?)<\/td>/g)].map((match) => match[1]);
    expect(cells.slice(0, 6)).toEqual([
      endpoint.body.id,
      'http://127.0.0.1:9',
      '&lt;b&gt;billing&lt;/b&gt;',
      'yes',
      '1',
      '0',
    ]);
    // Neither the URL's credentials nor its path and query reach the page.
    expect(html).not.toContain('password');
    expect(html).not.toContain('token=abc');
  });

  it('does not exist without admin credentials', async () => {
    const other = await startTestService();
    try {
      const response = await fetch(`${other.baseUrl}/admin/queues`, {
        headers: { authorization: basic('ops', 's3cret') },
      });
      expect(response.status).toBe(404);
      const withKey = await other.request('GET', '/admin/queues');
      expect(withKey.status).toBe(404);
    } finally {
      await other.stop();
    }
  });
});
