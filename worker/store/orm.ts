/**
 * Opening the database: create it if missing (a fresh machine has only the server), connect
 * MikroORM, and bring the schema up to date with the migrations. A database that cannot be
 * reached is reported with what to do about it, not with a driver stack trace.
 */
import { Migrator } from '@mikro-orm/migrations';
import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { entities } from './entities.ts';
import { migrationsList } from './migrations/index.ts';

export type Orm = MikroORM;

const POOL_SIZE_MAX = 48;

export class DatabaseUnreachableError extends Error {}

async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  const maintenance = new URL(databaseUrl);
  maintenance.pathname = '/postgres';
  const client = new pg.Client({ connectionString: maintenance.toString() });
  try {
    await client.connect();
  } catch (error) {
    throw new DatabaseUnreachableError(
      `PostgreSQL is not reachable at ${url.host} (${(error as Error).message}).\n` +
        `  Start it with \`docker compose up -d postgres redis\` from the repository root,\n` +
        `  or point DATABASE_URL at a running server (postgres://user@host:5432/dbname).`,
    );
  }
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount === 0) await client.query(`create database "${name.replaceAll('"', '""')}"`);
  } catch (error) {
    // Two processes starting at once may both try; the loser sees "already exists".
    if ((error as { code?: string }).code !== '42P04') throw error;
  } finally {
    await client.end();
  }
}

export async function openOrm(databaseUrl: string, options: { migrate?: boolean; poolSize?: number } = {}): Promise<Orm> {
  await ensureDatabase(databaseUrl);
  const orm = await MikroORM.init({
    clientUrl: databaseUrl,
    entities,
    extensions: [Migrator],
    migrations: { migrationsList, transactional: true, allOrNothing: true, snapshot: false },
    pool: { min: 0, max: options.poolSize ?? POOL_SIZE_MAX },
    debug: false,
    allowGlobalContext: false,
  });
  if (options.migrate ?? true) await orm.migrator.up();
  return orm;
}
