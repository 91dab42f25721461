/**
 * Runs once before the suite: builds this run's migrated template database, which every test
 * file clones, and removes the databases of earlier runs whose process has gone.
 */
import pg from 'pg';
import { openOrm } from '../../worker/store/orm.ts';
import { adminQuery, databaseUrl, RUN_ID, TEMPLATE_DATABASE } from './databases.ts';

export default async function setup(): Promise<() => Promise<void>> {
  // Test files run in forked workers, which inherit this environment and so this run's id.
  process.env.CREDITS_TEST_RUN = RUN_ID;
  const client = new pg.Client({ connectionString: databaseUrl('postgres') });
  await client.connect();
  const existing = await client.query<{ datname: string }>(`select datname from pg_database where datname like 'credits\\_test\\_%'`);
  await client.end();
  for (const { datname } of existing.rows) {
    const owner = /^credits_test_(\d+)_/.exec(datname)?.[1];
    if (owner !== undefined && owner !== RUN_ID && isAlive(Number(owner))) continue;
    await adminQuery(`drop database if exists ${datname} with (force)`).catch(() => undefined);
  }
  const orm = await openOrm(databaseUrl(TEMPLATE_DATABASE));
  await orm.close();
  return async () => {
    await adminQuery(`drop database if exists ${TEMPLATE_DATABASE} with (force)`).catch(() => undefined);
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
