/**
 * Runs once before the suite: builds the migrated template database every test file clones.
 * Removes databases left by interrupted runs so they do not pile up (never one still in use).
 */
import pg from 'pg';
import { openOrm } from '../../worker/store/orm.ts';
import { adminQuery, databaseUrl, TEMPLATE_DATABASE } from './databases.ts';

export default async function setup(): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl('postgres') });
  await client.connect();
  const stale = await client.query<{ datname: string }>(`select datname from pg_database where datname like 'credits_test_%'`);
  await client.end();
  for (const { datname } of stale.rows) {
    // Without force: a database still in use belongs to a run going on beside this one.
    await adminQuery(`drop database if exists ${datname}`).catch(() => undefined);
  }
  const orm = await openOrm(databaseUrl(TEMPLATE_DATABASE));
  await orm.close();
}
