/**
 * `GET /health/live` and `GET /health/ready` against the real service, without an API key:
 * liveness answers while the process runs; readiness checks Postgres, Redis, the migrations and
 * (in a process that runs them) the workers, and answers 503 naming what fails. The Redis outage
 * is made by disconnecting one service's own client, never by stopping the shared Redis server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../support/testService.ts';
import type { RedisQueueStore } from '../../../worker/queueStore.ts';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t?.stop();
});

const noKey = { authorization: '' };

describe('GET /health/live', () => {
  it('answers 200 ok without an API key', async () => {
    const response = await t.request('GET', '/health/live', undefined, noKey);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ok' });
  });
});

describe('GET /health/ready', () => {
  it('answers 200 with every check ok, the workers included when the process runs them', async () => {
    const response = await t.request('GET', '/health/ready', undefined, noKey);
    expect(response.status, response.text).toBe(200);
    // The queue store's check is named after it: `redis`, or `queues` when they live in Postgres.
    const queues = t.service.queueStore.kind === 'redis' ? 'redis' : 'queues';
    expect(response.body).toEqual({ status: 'ready', checks: { postgres: 'ok', [queues]: 'ok', migrations: 'ok', workers: 'ok' } });
  });

  it('answers 503 naming redis while the service cannot reach Redis, and 200 again once it can', async () => {
    const api = await startTestService({ ROLE: 'api', QUEUE_STORE: 'redis' });
    try {
      const ready = await api.request('GET', '/health/ready', undefined, noKey);
      expect(ready.status, ready.text).toBe(200);
      expect(ready.body.checks).toEqual({ postgres: 'ok', redis: 'ok', migrations: 'ok' });

      const { redis } = api.service.queueStore as RedisQueueStore;
      redis.disconnect();
      const startedAt = Date.now();
      const down = await api.request('GET', '/health/ready', undefined, noKey);
      expect(down.status, down.text).toBe(503);
      expect(down.body.status).toBe('not_ready');
      expect(down.body.failing).toEqual(['redis']);
      expect(down.body.checks.redis).toMatch(/^failed: /);
      expect(down.body.checks.postgres).toBe('ok');
      // Each check is bounded: readiness never hangs on a dependency.
      expect(Date.now() - startedAt).toBeLessThan(3_000);
      const live = await api.request('GET', '/health/live', undefined, noKey);
      expect(live.status).toBe(200);

      await redis.connect();
      const back = await api.request('GET', '/health/ready', undefined, noKey);
      expect(back.status, back.text).toBe(200);
      expect(back.body.status).toBe('ready');
    } finally {
      await api.stop();
    }
  });

  it('answers 503 naming the migrations when one is pending, and the workers once they have stopped', async () => {
    const other = await startTestService();
    try {
      const [latest] = await other.service.orm.em
        .fork()
        .execute<{ name: string }[]>('delete from mikro_orm_migrations where id = (select max(id) from mikro_orm_migrations) returning name');
      const pending = await other.request('GET', '/health/ready', undefined, noKey);
      expect(pending.status, pending.text).toBe(503);
      expect(pending.body.failing).toEqual(['migrations']);
      expect(pending.body.checks.migrations).toContain(latest!.name);

      await other.service.workers?.close();
      const stopped = await other.request('GET', '/health/ready', undefined, noKey);
      expect(stopped.status, stopped.text).toBe(503);
      expect(stopped.body.failing).toEqual(['migrations', 'workers']);
    } finally {
      await other.stop();
    }
  });
});
