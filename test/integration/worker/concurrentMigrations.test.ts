/**
 * `docker compose up` and a Kubernetes rollout start the api and the worker at the same instant
 * on a database that may not exist yet: both create it and migrate it. The migrations are
 * serialized (an advisory lock, worker/store/orm.ts), so both come up and the schema is migrated
 * once. The databases here are fresh and EMPTY (not the template's clones): the service makes them.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { startServiceProcess, type RunningService } from '../../../scripts/benchSupport.ts';
import { migrationsList } from '../../../worker/store/migrations/index.ts';
import { openOrm, type Orm } from '../../../worker/store/orm.ts';
import { adminQuery, databaseUrl, RUN_ID } from '../../support/databases.ts';
import { REDIS_URL } from '../../support/testService.ts';

const made: string[] = [];
const started: RunningService[] = [];

/** A database name of this run that no one has created: the service must create it. */
function freshDatabaseName(): string {
  const name = `credits_test_${RUN_ID}_empty_${randomBytes(5).toString('hex')}`;
  made.push(name);
  return name;
}

afterAll(async () => {
  await Promise.allSettled(started.map((service) => service.stop()));
  for (const name of made) await adminQuery(`drop database if exists ${name} with (force)`);
});

async function appliedMigrations(orm: Orm): Promise<string[]> {
  const rows = await orm.em
    .fork()
    .execute<{ name: string }[]>('select name from mikro_orm_migrations order by id');
  return rows.map((row) => row.name);
}

describe('migrations under concurrency', () => {
  it('an api process and a worker process started at the same instant on an empty database both come up; the schema is migrated once', async () => {
    const name = freshDatabaseName();
    const env = {
      DATABASE_URL: databaseUrl(name),
      REDIS_URL,
      PARTITIONS: '2',
      QUEUE_PREFIX: `test-migrate-${randomBytes(4).toString('hex')}`,
    };
    const results = await Promise.allSettled([
      startServiceProcess({ ...env, ROLE: 'api' }),
      startServiceProcess({ ...env, ROLE: 'worker' }),
    ]);
    for (const result of results) if (result.status === 'fulfilled') started.push(result.value);
    expect(
      results.map((result) => (result.status === 'fulfilled' ? 'up' : String(result.reason))),
    ).toEqual(['up', 'up']);
    for (const service of started) expect(service.process.exitCode).toBeNull();

    const orm = await openOrm(databaseUrl(name), { migrate: false, poolSize: 1 });
    try {
      const applied = await appliedMigrations(orm);
      expect(applied).toHaveLength(migrationsList.length);
      expect(new Set(applied).size).toBe(applied.length);
    } finally {
      await orm.close();
    }
  }, 90_000);

  it('four openOrm calls at once on an empty database all succeed and apply each migration once', async () => {
    const name = freshDatabaseName();
    const results = await Promise.allSettled(
      Array.from({ length: 4 }, () => openOrm(databaseUrl(name), { poolSize: 2 })),
    );
    const orms = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    try {
      expect(
        results.map((result) => (result.status === 'fulfilled' ? 'ok' : String(result.reason))),
      ).toEqual(['ok', 'ok', 'ok', 'ok']);
      const applied = await appliedMigrations(orms[0]!);
      expect(applied).toHaveLength(migrationsList.length);
      expect(new Set(applied).size).toBe(applied.length);
    } finally {
      await Promise.all(orms.map((orm) => orm.close()));
    }
  }, 60_000);
});
