/**
 * Log lines of a job name the HTTP request that made it: the intake carries Fastify's request id
 * (the `x-request-id` header when sent) into the `ledger.apply` job as `httpRequestId`, and the
 * worker logs the job's lines with `{jobId, jobName, partition, reqId}`. The service's pino output
 * is captured through a logger given to the test service.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf } from '../../../worker/jobs/partition.ts';
import { jobCatalog } from '../../../worker/jobs/queues.ts';
import { startTestService, type TestService } from '../../support/testService.ts';

const lines: Record<string, unknown>[] = [];
let t: TestService;
beforeAll(async () => {
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  t = await startTestService({}, { logger });
});
afterAll(async () => {
  await t?.stop();
});

async function eventually<T>(read: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('job log lines', () => {
  it('the ledger.apply job of an HTTP request carries its request id', async () => {
    const customer = await t.request('POST', '/v1/customers', {
      name: 'Logs',
      email: 'logs@example.com',
    });
    expect(customer.status, customer.text).toBe(201);
    const entry = await t.request(
      'POST',
      `/v1/customers/${customer.body.id}/credits/ledger_entry`,
      { entry_type: 'increment', amount: 5 },
      { 'x-request-id': 'req-logs-1', prefer: 'respond-async' },
    );
    expect(entry.status, entry.text).toBe(202);
    const job = await t.service.queues
      .queue(partitionOf(customer.body.id, t.service.config.partitions))
      .getJob(entry.body.id);
    expect(job?.data).toEqual({
      requestId: entry.body.id,
      customerId: customer.body.id,
      httpRequestId: 'req-logs-1',
    });
  });

  it("a job's failure line names the job, its partition and the request id", async () => {
    const job = await t.service.queues
      .queue(3)
      .add(
        'ledger.apply',
        { requestId: '', customerId: 'c_none', httpRequestId: 'req-logs-2' },
        jobCatalog['ledger.apply'].options,
      );
    const failed = await eventually(() =>
      lines.find((line) => line.msg === 'job failed' && line.jobId === job.id),
    );
    expect(failed).toMatchObject({
      level: 50,
      jobId: job.id,
      jobName: 'ledger.apply',
      partition: 3,
      reqId: 'req-logs-2',
    });
    expect((failed.err as { message?: string }).message).toMatch(/requestId/);
  });
});
