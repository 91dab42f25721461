/**
 * Runs once before the suite: finds its servers, builds this run's migrated template database,
 * which every test file clones, and removes the databases of earlier runs whose process has gone.
 * With nothing but Node on the machine (`npm ci && npm test` on a laptop), as `npm start` does:
 * - no TEST_POSTGRES_URL and nothing answering at 127.0.0.1:5432: an embedded PostgreSQL
 *   (scripts/embeddedPostgres.ts) is started for the run, in a temporary directory, and removed
 *   at the end;
 * - no TEST_REDIS_URL and nothing answering at 127.0.0.1:6379: the queues live in Postgres
 *   (TEST_QUEUE_STORE=postgres), and the tests that need Redis itself are reported as not run
 *   (test/support/requiresBinary.ts), or fail under CI=true.
 * Test files run in forked workers, which inherit the environment set here.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { sharedHomePath, startEmbeddedPostgres } from '../../scripts/embeddedPostgres.ts';
import { freePort } from '../../scripts/freePort.ts';
import { answers } from '../../scripts/quickStart.ts';
import { openOrm } from '../../worker/store/orm.ts';
import {
  adminQuery,
  databaseUrl,
  DEFAULT_TEST_POSTGRES_URL,
  RUN_ID,
  TEMPLATE_DATABASE,
} from './databases.ts';
import { notRunReport } from './requiresBinary.ts';

const DEFAULT_TEST_REDIS_URL = 'redis://127.0.0.1:6379';
/** Test files each open a service with its pools, two or more at once. */
const EMBEDDED_CONNECTIONS_MAX = 400;

export default async function setup(): Promise<() => Promise<void>> {
  process.env.CREDITS_TEST_RUN = RUN_ID;
  const stopEmbedded = await findPostgres();
  if (process.env.TEST_REDIS_URL === undefined && !(await answers(DEFAULT_TEST_REDIS_URL))) {
    process.env.CREDITS_TEST_REDIS = 'absent';
    process.env.TEST_QUEUE_STORE ??= 'postgres';
    console.log(
      `test run: nothing answers at ${new URL(DEFAULT_TEST_REDIS_URL).host}: the queues live in Postgres (TEST_QUEUE_STORE=postgres)`,
    );
  }

  const client = new pg.Client({ connectionString: databaseUrl('postgres') });
  await client.connect();
  const existing = await client.query<{ datname: string }>(
    `select datname from pg_database where datname like 'credits\\_test\\_%'`,
  );
  await client.end();
  for (const { datname } of existing.rows) {
    const owner = /^credits_test_(\d+)_/.exec(datname)?.[1];
    if (owner !== undefined && owner !== RUN_ID && isAlive(Number(owner))) continue;
    await adminQuery(`drop database if exists ${datname} with (force)`).catch(() => undefined);
  }
  const orm = await openOrm(databaseUrl(TEMPLATE_DATABASE));
  await orm.close();
  return async () => {
    await adminQuery(`drop database if exists ${TEMPLATE_DATABASE} with (force)`).catch(
      () => undefined,
    );
    await stopEmbedded();
    const report = notRunReport();
    if (report) console.warn(`\n${report}\n`);
  };
}

/** Points the run at a Postgres: the given one, the one at the default address, or an embedded one. */
async function findPostgres(): Promise<() => Promise<void>> {
  if (process.env.TEST_POSTGRES_URL !== undefined || (await answers(DEFAULT_TEST_POSTGRES_URL)))
    return async () => undefined;
  const dataDir = join(mkdtempSync(join(tmpdir(), 'credits-test-postgres-')), 'postgres');
  const remove = () => {
    rmSync(join(dataDir, '..'), { recursive: true, force: true });
    rmSync(sharedHomePath(dataDir), { recursive: true, force: true });
  };
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  try {
    const server = await startEmbeddedPostgres({
      dataDir,
      port,
      password,
      maxConnections: EMBEDDED_CONNECTIONS_MAX,
    });
    process.env.TEST_POSTGRES_URL = `postgres://postgres:${password}@127.0.0.1:${port}`;
    console.log(
      `test run: nothing answers at ${new URL(DEFAULT_TEST_POSTGRES_URL).host}: embedded PostgreSQL on 127.0.0.1:${port} for this run`,
    );
    return async () => {
      await server.stop();
      remove();
    };
  } catch (error) {
    remove();
    throw error;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
