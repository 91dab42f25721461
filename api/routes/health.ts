/**
 * Health for orchestrators (no auth, like `/metrics`): `GET /health/live` answers 200 while the
 * process runs; `GET /health/ready` answers 200 only when this process can do its work: Postgres
 * answers `select 1`, the queue store answers (Redis PING; on a Redis Cluster, CLUSTER INFO says
 * every slot is served; or `select 1` on the queues' database; the check is named `redis`,
 * `redis_cluster` or `queues` after it), no migration is pending, and `workers`: in a process
 * that runs the partition workers (ROLE=all, and a ROLE=worker's own port), they are running; in an
 * api-only process (ROLE=api), at least one worker process has recorded its heartbeat in the last
 * WORKER_SEEN_WITHIN_MS (5 s; worker/store/workerHeartbeats.ts), since without one every write
 * would wait and answer 202 forever. Otherwise 503, naming each failing check. The checks run together,
 * each bounded by READY_CHECK_TIMEOUT_MS, so readiness answers even while a dependency hangs.
 */
import type { FastifyInstance } from 'fastify';
import type { QueueStore } from '../../worker/jobs/queueStore.ts';
import { pingDatabase } from '../../worker/store/databasePing.ts';
import type { Orm } from '../../worker/store/orm.ts';
import { liveWorkers, WORKER_SEEN_WITHIN_MS } from '../../worker/store/workerHeartbeats.ts';
import { withTimeout } from '../withTimeout.ts';

const READY_CHECK_TIMEOUT_MS = 1_000;

export interface HealthDeps {
  orm: Orm;
  queueStore: QueueStore;
  /** Present when this process runs the partition workers; otherwise the heartbeats are read. */
  workers: { isRunning(): boolean } | undefined;
}

type Check = () => Promise<void>;

function checksOf(deps: HealthDeps): Record<string, Check> {
  const checks: Record<string, Check> = {
    postgres: async () => {
      await pingDatabase(deps.orm.em.fork());
    },
    migrations: async () => {
      const pending = await deps.orm.migrator.getPending();
      if (pending.length > 0)
        throw new Error(
          `${pending.length} pending: ${pending.map((migration) => migration.name).join(', ')}`,
        );
    },
  };
  checks[deps.queueStore.readinessCheck] = () => deps.queueStore.ping();
  const workers = deps.workers;
  checks.workers = workers
    ? async () => {
        if (!workers.isRunning()) throw new Error('the partition workers are not running');
      }
    : async () => {
        const live = await liveWorkers(deps.orm.em.fork(), WORKER_SEEN_WITHIN_MS);
        if (live.length === 0)
          throw new Error(`no worker process seen in the last ${WORKER_SEEN_WITHIN_MS / 1000} s`);
      };
  return checks;
}

export function registerHealthRoutes(app: FastifyInstance, deps: HealthDeps): void {
  const checks = checksOf(deps);
  app.get(
    '/health/live',
    { schema: { summary: 'Liveness', tags: ['Operations'], security: [] } },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/health/ready',
    {
      schema: {
        summary: 'Readiness: Postgres, the queue store, migrations, workers',
        tags: ['Operations'],
        security: [],
      },
    },
    async (_request, reply) => {
      const results = await Promise.all(
        Object.entries(checks).map(async ([name, check]) => {
          try {
            await withTimeout(check(), READY_CHECK_TIMEOUT_MS, name);
            return [name, 'ok'] as const;
          } catch (error) {
            return [name, `failed: ${(error as Error).message}`] as const;
          }
        }),
      );
      const failing = results.filter(([, result]) => result !== 'ok').map(([name]) => name);
      return reply
        .code(failing.length === 0 ? 200 : 503)
        .header('cache-control', 'no-store')
        .send({
          status: failing.length === 0 ? 'ready' : 'not_ready',
          checks: Object.fromEntries(results),
          ...(failing.length > 0 && { failing }),
        });
    },
  );
}
