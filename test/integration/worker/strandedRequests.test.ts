/**
 * A request accepted in Postgres whose job Redis lost is put back on its partition by the sweep
 * and applied once (ARCHITECTURE.md "Time"); one whose job still exists is left alone.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf } from '../../../worker/jobs/partition.ts';
import { manualClockStart } from '../../support/testDates.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import { addEntry, createCustomer, expectLedgerConsistent, sql } from '../ledgerTestHelpers.ts';

const START = manualClockStart();

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ CLOCK: 'manual', CLOCK_START: START.toISOString() });
});
afterAll(async () => {
  await t?.stop();
});

async function strandedRequest(customerId: string, acceptedAt: Date): Promise<string> {
  const id = `stranded${randomBytes(4).toString('hex')}`;
  await sql(
    t,
    `insert into requests (id, customer_id, partition, currency, payload, status, created_at)
     values (?, ?, ?, 'credits', ?::jsonb, 'queued', ?)`,
    [
      id,
      customerId,
      partitionOf(customerId, t.service.config.partitions),
      JSON.stringify({
        entry_type: 'decrement',
        amount: '4',
        currency: null,
        description: null,
        metadata: {},
      }),
      acceptedAt,
    ],
  );
  return id;
}

describe('stranded requests', () => {
  it('re-enqueues a queued request with no job, once, after a minute', async () => {
    const customer = await createCustomer(t);
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 10 });
    const old = await strandedRequest(customer.id, new Date(START.getTime() - 120_000));
    const recent = await strandedRequest(customer.id, START);

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
