/**
 * Dead letters: `GET /v1/failed_jobs` lists the jobs that failed permanently with their reason,
 * across partitions or on one, page by page; `redrive` (scripts/redrive.ts) puts them back on
 * their partition under a new id. A job whose data is invalid fails again when re-driven; a job
 * that failed because Postgres was broken succeeds once it is mended. A re-driven job is applied
 * now, behind whatever was accepted before the redrive: when later work of its customer has been
 * applied meanwhile, redrive refuses unless forced (worker/jobs/failedJobs.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redrive } from '../../../scripts/redrive.ts';
import { partitionOf } from '../../../worker/jobs/partition.ts';
import { jobCatalog } from '../../../worker/jobs/queues.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import {
  addEntry,
  createUsagePrice,
  createCustomer,
  eventually,
  ledgerEntryPath,
  storedEntries,
} from '../ledgerTestHelpers.ts';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t?.stop();
});

const WAIT_MS = 10_000;

async function settled(partition: number, jobId: string): Promise<string> {
  const queue = t.service.queues.queue(partition);
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const state = await queue.getJobState(jobId);
    if (state === 'failed' || state === 'completed' || Date.now() > deadline) return state;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A usage job whose payload the processor's zod parse refuses. */
async function addInvalidJob(partition: number): Promise<string> {
  const job = await t.service.queues
    .queue(partition)
    .add(
      'usage.apply',
      { events: [], accepted_at: 'yesterday' },
      jobCatalog['usage.apply'].options,
    );
  expect(await settled(partition, job.id!)).toBe('failed');
  return job.id!;
}

interface FailedJobView {
  id: string;
  partition: number;
  name: string;
  failed_reason: string;
  attempts_made: number;
  data: unknown;
  failed_at: string;
}

async function listAll(query = ''): Promise<FailedJobView[]> {
  const response = await t.request('GET', `/v1/failed_jobs${query}`);
  expect(response.status, response.text).toBe(200);
  return response.body.data;
}

describe('GET /v1/failed_jobs', () => {
  it('lists a failed job with its reason, payload and time; filters by partition; refuses a partition that does not exist', async () => {
    const id = await addInvalidJob(1);
    const listed = (await listAll()).find((job) => job.id === id && job.partition === 1);
    expect(listed).toMatchObject({
      name: 'usage.apply',
      attempts_made: 1,
      data: { events: [], accepted_at: 'yesterday' },
    });
    expect(listed?.failed_reason).toMatch(/events|accepted_at/);
    expect(Date.now() - Date.parse(listed?.failed_at ?? '')).toBeLessThan(60_000);

    expect((await listAll('?partition=1')).map((job) => job.id)).toContain(id);
    expect((await listAll('?partition=0')).every((job) => job.partition === 0)).toBe(true);
    const refused = await t.request('GET', '/v1/failed_jobs?partition=4');
    expect(refused.status).toBe(400);
    expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect((await t.request('GET', '/v1/failed_jobs?cursor=bm9wZQ')).status).toBe(400);
    expect(
      (await t.request('GET', '/v1/failed_jobs', undefined, { authorization: '' })).status,
    ).toBe(401);
  });

  it('pages newest first with a cursor, every job exactly once', async () => {
    for (const partition of [0, 2, 3, 2]) await addInvalidJob(partition);
    const all = await listAll('?limit=100');
    expect(all.length).toBeGreaterThanOrEqual(5);
    const times = all.map((job) => Date.parse(job.failed_at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    const paged: FailedJobView[] = [];
    let cursor: string | null = null;
    do {
      const response = await t.request(
        'GET',
        `/v1/failed_jobs?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(response.status, response.text).toBe(200);
      expect(response.body.data.length).toBeLessThanOrEqual(2);
      paged.push(...response.body.data);
      cursor = response.body.pagination_metadata.next_cursor;
      expect(response.body.pagination_metadata.has_more).toBe(cursor !== null);
    } while (cursor);
    expect(paged.map((job) => `${job.partition}/${job.id}`)).toEqual(
      all.map((job) => `${job.partition}/${job.id}`),
    );
  });
});

describe('redrive', () => {
  it('re-adds a failed job under a new id and removes the failed copy; invalid data fails again', async () => {
    const id = await addInvalidJob(1);
    const [result] = await redrive(
      t.service.queues,
      { jobId: id, partition: 1 },
      { orm: t.service.orm },
    );
    expect(result).toMatchObject({
      status: 'redriven',
      partition: 1,
      jobId: id,
      name: 'usage.apply',
    });
    const newJobId = result?.status === 'redriven' ? result.newJobId : '';
    expect(newJobId).not.toBe(id);
    expect(await t.service.queues.queue(1).getJob(id)).toBeUndefined();
    expect(await settled(1, newJobId)).toBe('failed');
    const listed = await listAll('?partition=1&limit=100');
    expect(listed.map((job) => job.id)).toContain(newJobId);
    expect(listed.map((job) => job.id)).not.toContain(id);
    expect(listed.find((job) => job.id === newJobId)?.data).toEqual({
      events: [],
      accepted_at: 'yesterday',
    });

    // Not failed (any more): nothing to do. (Ids count per partition, hence the partition.)
    expect(
      await redrive(t.service.queues, { jobId: id, partition: 1 }, { orm: t.service.orm }),
    ).toEqual([{ status: 'not_failed', partition: 1, jobId: id }]);
  });

  it('succeeds for a job whose data was valid once what failed it is mended', async () => {
    const em = t.service.orm.em.fork();
    await em.execute('alter table ledger_entries rename to ledger_entries_away');
    let jobId: string;
    try {
      const job = await t.service.queues
        .queue(2)
        .add('usage.closeDays', { customerId: 'c_none' }, jobCatalog['usage.closeDays'].options);
      jobId = job.id!;
      expect(await settled(2, jobId)).toBe('failed');
    } finally {
      await em.execute('alter table ledger_entries_away rename to ledger_entries');
    }
    expect(
      (await listAll('?partition=2&limit=100')).find((job) => job.id === jobId)?.failed_reason,
    ).toMatch(/ledger_entries/);

    // Job ids count per partition: an id failed on several partitions needs the partition named.
    const failedOn = await Promise.all(
      t.service.queues.queues.map((queue) => queue.getJobState(jobId)),
    );
    if (failedOn.filter((state) => state === 'failed').length > 1) {
      await expect(redrive(t.service.queues, { jobId }, { orm: t.service.orm })).rejects.toThrow(
        /--partition/,
      );
    }
    const [result] = await redrive(
      t.service.queues,
      { jobId, partition: 2 },
      { orm: t.service.orm },
    );
    expect(result).toMatchObject({ status: 'redriven', partition: 2 });
    const newJobId = result?.status === 'redriven' ? result.newJobId : '';
    expect(await settled(2, newJobId)).toBe('completed');
    expect((await t.service.queues.queue(2).getJob(newJobId))?.returnvalue).toEqual({
      committed: 0,
    });
    expect((await listAll('?partition=2&limit=100')).map((job) => job.id)).not.toContain(jobId);
  });

  it('--all-failed re-drives every failed job of a partition once', async () => {
    await addInvalidJob(3);
    const before = await listAll('?partition=3&limit=100');
    const results = await redrive(
      t.service.queues,
      { allFailed: true, partition: 3 },
      { orm: t.service.orm },
    );
    expect(results.map((result) => result.status)).toEqual(before.map(() => 'redriven'));
    expect(results.map((result) => result.jobId).sort()).toEqual(
      before.map((job) => job.id).sort(),
    );
    for (const result of results) {
      if (result.status === 'redriven') expect(await settled(3, result.newJobId)).toBe('failed');
    }
    const after = await listAll('?partition=3&limit=100');
    expect(after.map((job) => job.id).sort()).toEqual(
      results.map((result) => (result.status === 'redriven' ? result.newJobId : '')).sort(),
    );
  });
});

describe("redrive and the order of a customer's writes", () => {
  /**
   * A decrement accepted, then left as a dead letter: its job runs while the requests table is
   * away, so it can neither apply nor record its failure (the processor records every failure it
   * can). The request stays `queued` in Postgres.
   */
  async function deadLetteredDecrement(
    customerId: string,
    amount: number,
  ): Promise<{ requestId: string; partition: number }> {
    const partition = partitionOf(customerId, 4);
    const queue = t.service.queues.queue(partition);
    const em = t.service.orm.em.fork();
    await queue.pause();
    let requestId: string;
    try {
      const response = await t.request(
        'POST',
        ledgerEntryPath(customerId),
        { entry_type: 'decrement', amount, description: 'dead lettered' },
        { prefer: 'respond-async' },
      );
      expect(response.status, response.text).toBe(202);
      requestId = response.body.id;
      await em.execute('alter table requests rename to ledger_requests_away');
      try {
        await queue.resume();
        expect(await settled(partition, requestId)).toBe('failed');
      } finally {
        await em.execute('alter table ledger_requests_away rename to requests');
      }
    } finally {
      await queue.resume();
    }
    return { requestId, partition };
  }

  async function requestStatus(requestId: string): Promise<string> {
    return (await t.request('GET', `/v1/ledger_requests/${requestId}`)).body.status;
  }

  it('re-drives a dead letter whose customer has done nothing since: it applies as if in its place', async () => {
    const customer = await createCustomer(t);
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 100 });
    const { requestId, partition } = await deadLetteredDecrement(customer.id, 10);
    expect(await requestStatus(requestId)).toBe('queued');

    const [result] = await redrive(
      t.service.queues,
      { jobId: requestId, partition },
      { orm: t.service.orm },
    );
    expect(result).toMatchObject({ status: 'redriven', laterWorkApplied: 0, forced: false });
    await eventually(
      async () => ((await requestStatus(requestId)) === 'committed' ? true : undefined),
      10_000,
      'the re-driven request to apply',
    );
    expect((await storedEntries(t, customer.id)).map((entry) => entry.entry_type)).toEqual([
      'increment',
      'decrement',
    ]);
  });

  it("applies a dead letter in its place once a later request of its customer comes (acceptance order is Postgres's); its redrive answers the stored outcome", async () => {
    const customer = await createCustomer(t);
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 100 });
    const { requestId, partition } = await deadLetteredDecrement(customer.id, 10);
    // Accepted after the dead letter: its group applies the dead letter first.
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 5, description: 'later' });
    expect(await requestStatus(requestId)).toBe('committed');
    const inOrder = ['increment 100', 'decrement -10', 'increment 5'];
    const entries = async () =>
      (await storedEntries(t, customer.id)).map(
        (entry) => `${entry.entry_type} ${Number(entry.amount)}`,
      );
    expect(await entries()).toEqual(inOrder);

    // No work of the customer was applied out of its place: the redrive goes ahead, and its job
    // finds the request decided, answering what is stored.
    const [result] = await redrive(
      t.service.queues,
      { jobId: requestId, partition },
      { orm: t.service.orm },
    );
    expect(result).toMatchObject({ status: 'redriven', laterWorkApplied: 0, forced: false });
    if (result?.status !== 'redriven') return;
    expect(await settled(partition, result.newJobId)).toBe('completed');
    expect(await entries()).toEqual(inOrder);
  });

  it('refuses when later usage of the customer has been applied since, naming it; --force re-applies it now, after that usage', async () => {
    const customer = await createCustomer(t);
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 100 });
    const price = await createUsagePrice(t, { quantity_property: 'n' });
    const { requestId, partition } = await deadLetteredDecrement(customer.id, 10);
    // Usage accepted after the dead letter, and applied (events keep an order of their own).
    const ingest = await t.request('POST', '/v1/ingest', {
      events: [
        {
          idempotency_key: `later-${requestId}`,
          customer_id: customer.id,
          event_name: price.event_name,
          timestamp: t.service.clock.now().toISOString(),
          properties: { n: 3 },
        },
      ],
    });
    expect(ingest.status, ingest.text).toBe(200);
    await eventually(
      async () =>
        (await storedEntries(t, customer.id)).some((entry) => entry.price_id !== null)
          ? true
          : undefined,
      10_000,
      'the usage to apply',
    );

    const [refused] = await redrive(
      t.service.queues,
      { jobId: requestId, partition },
      { orm: t.service.orm },
    );
    expect(refused).toEqual({
      status: 'later_work_applied',
      partition,
      jobId: requestId,
      name: 'ledger.apply',
      customerIds: [customer.id],
      laterWorkApplied: 1,
    });
    expect(await t.service.queues.queue(partition).getJobState(requestId)).toBe('failed');
    expect(await requestStatus(requestId)).toBe('queued');
    // Other customers' work does not count.
    const other = await createCustomer(t);
    await addEntry(t, other.id, { entry_type: 'increment', amount: 1 });
    expect(
      (await redrive(t.service.queues, { jobId: requestId, partition }, { orm: t.service.orm }))[0],
    ).toMatchObject({ laterWorkApplied: 1 });

    const [forced] = await redrive(
      t.service.queues,
      { jobId: requestId, partition },
      { orm: t.service.orm, force: true },
    );
    expect(forced).toMatchObject({ status: 'redriven', laterWorkApplied: 1, forced: true });
    await eventually(
      async () => ((await requestStatus(requestId)) === 'committed' ? true : undefined),
      10_000,
      'the forced request to apply',
    );
    // Applied now: after the later usage, in the ledger's order.
    const entries = await storedEntries(t, customer.id);
    expect(entries.map((entry) => `${entry.entry_type} ${Number(entry.amount)}`)).toEqual([
      'increment 100',
      'decrement -3',
      'decrement -10',
    ]);
  });
});
