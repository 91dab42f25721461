/**
 * `GET /health/live` and `GET /health/ready` against the real service, without an API key:
 * liveness answers while the process runs; readiness checks Postgres, Redis, the migrations and
 * (in a process that runs them) the workers, and answers 503 naming what fails. The Redis outage
 * is made by stopping a Redis server of the test's own, never the shared one.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService } from '../../../scripts/service.ts';
import { loadConfig } from '../../../worker/runtime/config.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PrivateRedis } from '../../../scripts/faults/privateServices.ts';
import { eventually } from '../ledgerTestHelpers.ts';
import { itRequires, REDIS_SERVER_BINARY } from '../../support/requiresBinary.ts';

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
    expect(response.body).toEqual({
      status: 'ready',
      checks: { postgres: 'ok', [queues]: 'ok', migrations: 'ok', workers: 'ok' },
    });
  });

  itRequires(
    [REDIS_SERVER_BINARY],
    'answers 503 naming redis while its Redis server is stopped, and 200 again once it is back',
    async () => {
      // A Redis of this test's own: the machine's is shared with every other test file.
      const dir = mkdtempSync(join(tmpdir(), 'credits-health-redis-'));
      const redis = await PrivateRedis.start(dir);
      const api = await startTestService({
        ROLE: 'api',
        QUEUE_STORE: 'redis',
        REDIS_URL: redis.url,
      });
      // An api-only process is ready only while some worker process beats in its database
      // (worker/store/workerHeartbeats.ts). This one's queues are on the machine's Redis: the
      // outage below is the api's alone.
      const worker = await startService(
        loadConfig({
          DATABASE_URL: api.databaseUrl,
          REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
          QUEUE_PREFIX: api.queuePrefix,
          ROLE: 'worker',
          WORKER_PORT: '0',
          PARTITIONS: '4',
          LOG_LEVEL: 'silent',
        }),
        { logger: pino({ level: 'silent' }) },
      );
      try {
        const ready = await api.request('GET', '/health/ready', undefined, noKey);
        expect(ready.status, ready.text).toBe(200);
        expect(ready.body.checks).toEqual({
          postgres: 'ok',
          redis: 'ok',
          migrations: 'ok',
          workers: 'ok',
        });

        const restarted = redis.restart(3_000);
        const down = await eventually(
          async () => {
            const startedAt = Date.now();
            const answer = await api.request('GET', '/health/ready', undefined, noKey);
            return answer.status === 503 ? { answer, ms: Date.now() - startedAt } : undefined;
          },
          5_000,
          'readiness to fail with Redis stopped',
        );
        expect(down.answer.body.status).toBe('not_ready');
        expect(down.answer.body.failing).toEqual(['redis']);
        expect(down.answer.body.checks.redis).toMatch(/^failed: /);
        expect(down.answer.body.checks.postgres).toBe('ok');
        // Each check is bounded: readiness never hangs on a dependency.
        expect(down.ms).toBeLessThan(3_000);
        const live = await api.request('GET', '/health/live', undefined, noKey);
        expect(live.status).toBe(200);

        await restarted;
        const back = await eventually(
          async () => {
            const answer = await api.request('GET', '/health/ready', undefined, noKey);
            return answer.status === 200 ? answer : undefined;
          },
          10_000,
          'readiness to recover once Redis is back',
        );
        expect(back.body.status).toBe('ready');
      } finally {
        await worker.close();
        await api.stop();
        await redis.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it('answers 503 naming the migrations when one is pending, and the workers once they have stopped', async () => {
    const other = await startTestService();
    try {
      const [latest] = await other.service.orm.em
        .fork()
        .execute<{ name: string }[]>(
          'delete from mikro_orm_migrations where id = (select max(id) from mikro_orm_migrations) returning name',
        );
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
