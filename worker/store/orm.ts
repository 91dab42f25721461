/**
 * Opening the database: create it if missing (a fresh machine has only the server), connect
 * MikroORM, and bring the schema up to date with the migrations. A database that cannot be
 * reached is reported with what to do about it, not with a driver stack trace.
 *
 * Processes that start together (`docker compose up`, a rollout: the api and the worker) would
 * otherwise create the database and run the same migrations at once, and one of them crashes
 * (`duplicate key … pg_database_datname_index`, `… (typname)=(customers)`). So "create if missing
 * + migrate" runs under a session advisory lock named after the database, taken on a dedicated
 * connection to the maintenance database (the target may not exist yet): the first process
 * migrates, the others wait, then find nothing pending.
 */
import { Migrator } from '@mikro-orm/migrations';
import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { entities } from './entities.ts';
import { applyFunctionFiles } from './functionFiles.ts';
import { migrationsList } from './migrations/index.ts';

export type Orm = MikroORM;

const POOL_SIZE_MAX = 48;
/** Names the lock among other advisory locks (BullMQ's PostgreSQL backend takes its own). */
const MIGRATION_LOCK_NAMESPACE = 'credits-ledger:migrate:';

export class DatabaseUnreachableError extends Error {}

/** `duplicate_database`, and the unique violation a CREATE DATABASE racing another one may raise instead. */
const DATABASE_ALREADY_MADE = new Set(['42P04', '23505']);

async function connectMaintenance(databaseUrl: string): Promise<pg.Client> {
  const url = new URL(databaseUrl);
  const maintenance = new URL(databaseUrl);
  maintenance.pathname = '/postgres';
  const client = new pg.Client({ connectionString: maintenance.toString() });
  client.on('error', () => {
    // Lost with the server while holding the lock: the lock goes with the session, and the
    // migration's own connection reports the outage.
  });
  try {
    await client.connect();
  } catch (error) {
    throw new DatabaseUnreachableError(
      `PostgreSQL is not reachable at ${url.host} (${(error as Error).message}).\n` +
        `  Start it with \`docker compose up -d postgres redis\` from the repository root,\n` +
        `  or point DATABASE_URL at a running server (postgres://user@host:5432/dbname).`,
    );
  }
  return client;
}

async function ensureDatabase(client: pg.Client, name: string): Promise<void> {
  const found = await client.query('select 1 from pg_database where datname = $1', [name]);
  if (found.rowCount !== 0) return;
  try {
    await client.query(`create database "${name.replaceAll('"', '""')}"`);
  } catch (error) {
    // A process that does not take the lock (an older version) may have made it meanwhile.
    if (!DATABASE_ALREADY_MADE.has((error as { code?: string }).code ?? '')) throw error;
  }
}

export async function openOrm(
  databaseUrl: string,
  options: { migrate?: boolean; poolSize?: number } = {},
): Promise<Orm> {
  const name = decodeURIComponent(new URL(databaseUrl).pathname.slice(1));
  const migrate = options.migrate ?? true;
  const maintenance = await connectMaintenance(databaseUrl);
  try {
    // Held until the schema is current; released by ending the session, whatever happened.
    if (migrate)
      await maintenance.query('select pg_advisory_lock(hashtextextended($1, 0))', [
        MIGRATION_LOCK_NAMESPACE + name,
      ]);
    await ensureDatabase(maintenance, name);
    const orm = await MikroORM.init({
      clientUrl: databaseUrl,
      entities,
      extensions: [Migrator],
      migrations: { migrationsList, transactional: true, allOrNothing: true, snapshot: false },
      pool: { min: 0, max: options.poolSize ?? POOL_SIZE_MAX },
      debug: false,
      allowGlobalContext: false,
    });
    if (migrate) {
      try {
        await orm.migrator.up();
        await applyFunctionFiles(orm.em.fork());
      } catch (error) {
        await orm.close();
        throw error;
      }
    }
    return orm;
  } finally {
    await maintenance.end().catch(() => undefined);
  }
}
