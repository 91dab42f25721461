/**
 * Backpressure (ARCHITECTURE.md "Delivery, idempotency, failure"): once a partition holds
 * BACKLOG_MAX waiting jobs, ledger writes and usage ingest for it are answered 429 with
 * `Retry-After` and Orb's 429 body, and nothing is recorded or enqueued for them; other partitions
 * are unaffected, and the partition takes writes again once it has drained. The service runs with
 * ROLE=api so that no worker drains the queues; the backlog check reads a count at most every
 * 250 ms, so the test paces its writes to let each one see the last.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf } from '../../../worker/jobs/partition.ts';
import { expectValid } from '../../support/openApiValidator.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import { createCustomer, ledgerEntryPath, sleep, sql } from '../ledgerTestHelpers.ts';

const BACKLOG_MAX = 3;
/** Longer than the backlog check's reading period. */
const PACE_MS = 300;
const TOO_MANY_REQUESTS =
  'https://docs.withorb.com/reference/error-responses#429-too-many-requests';

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ ROLE: 'api', BACKLOG_MAX: String(BACKLOG_MAX), SYNC_WAIT_MS: '50' });
});
afterAll(async () => {
  await t?.stop();
});

async function requestsOf(customerId: string): Promise<number> {
  const [row] = await sql<{ count: string }>(
    t,
    'select count(*)::text as count from requests where customer_id = ?',
    [customerId],
  );
  return Number(row!.count);
}

function expectTooManyRequests(response: {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}): void {
  expect(response.status, response.text).toBe(429);
  expect(response.headers.get('retry-after')).toMatch(/^[1-9][0-9]*$/);
  expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
  expect(response.body.type).toBe(TOO_MANY_REQUESTS);
  expectValid('TooManyRequests', response.body);
}

describe('a partition whose backlog has reached BACKLOG_MAX', () => {
  it('answers 429 with Retry-After to ledger writes and ingest for it, recording nothing, until it drains', async () => {
    const customer = await createCustomer(t);
    const partition = partitionOf(customer.id, t.service.config.partitions);
    const queue = t.service.queues.queue(partition);

    let accepted = 0;
    let refused: Awaited<ReturnType<TestService['request']>> | undefined;
    for (let attempt = 0; attempt < BACKLOG_MAX + 3 && !refused; attempt += 1) {
      await sleep(PACE_MS);
      const response = await t.request('POST', ledgerEntryPath(customer.id), {
        entry_type: 'increment',
        amount: 1,
      });
      if (response.status === 429) refused = response;
      else {
        expect(response.status, response.text).toBe(202);
        accepted += 1;
      }
    }
    expect(accepted).toBe(BACKLOG_MAX);
    expect(await queue.getWaitingCount()).toBe(BACKLOG_MAX);
    expectTooManyRequests(refused!);

    // With an Idempotency-Key: refused before it is stored, so a retry with it starts afresh.
    const key = randomUUID();
    expectTooManyRequests(
      await t.request(
        'POST',
        ledgerEntryPath(customer.id),
        { entry_type: 'increment', amount: 1 },
        { 'idempotency-key': key },
      ),
    );
    expect(await sql(t, 'select 1 from idempotency_keys where key = ?', [key])).toEqual([]);

    const event = {
      idempotency_key: randomUUID(),
      event_name: 'api_call',
      timestamp: new Date().toISOString(),
      customer_id: customer.id,
      properties: {},
    };
    expectTooManyRequests(await t.request('POST', '/v1/ingest', { events: [event] }));
    await sleep(100);
    expect(
      await sql(t, 'select 1 from events where idempotency_key = ?', [event.idempotency_key]),
    ).toEqual([]);

    expect(await requestsOf(customer.id)).toBe(BACKLOG_MAX);
    expect(await queue.getWaitingCount()).toBe(BACKLOG_MAX);

    const metrics = await t.request('GET', '/metrics');
    expect(metrics.text).toMatch(/^credits_intake_throttled_total\{intake="ledger_entry"\} 2$/m);
    expect(metrics.text).toMatch(/^credits_intake_throttled_total\{intake="ingest"\} 1$/m);

    // Another partition is not held back by this one.
    let other = await createCustomer(t);
    while (partitionOf(other.id, t.service.config.partitions) === partition)
      other = await createCustomer(t);
    const elsewhere = await t.request('POST', ledgerEntryPath(other.id), {
      entry_type: 'increment',
      amount: 1,
    });
    expect(elsewhere.status, elsewhere.text).toBe(202);

    // Drained (as a worker would), the partition takes writes again.
    await queue.drain();
    await sleep(PACE_MS);
    const again = await t.request('POST', ledgerEntryPath(customer.id), {
      entry_type: 'increment',
      amount: 1,
    });
    expect(again.status, again.text).toBe(202);
    expect(await requestsOf(customer.id)).toBe(BACKLOG_MAX + 1);
  });
});
