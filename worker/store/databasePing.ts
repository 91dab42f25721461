/**
 * The cheapest statement that proves a database answers: readiness (api/routes/health.ts) asks it
 * through the ORM, the Postgres queue store (worker/jobs/queueStore.ts) through its own pool.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type pg from 'pg';

const PING = 'select 1';

export async function pingDatabase(database: EntityManager | pg.Pool): Promise<void> {
  if ('execute' in database) await database.execute(PING);
  else await database.query(PING);
}
