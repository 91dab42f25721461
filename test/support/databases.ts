/**
 * Test databases (graphile-worker's way): one template database migrated once per run by
 * globalSetup, and a fresh clone of it per test file: fast, isolated, and the real Postgres.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Where the suite looks for Postgres unless TEST_POSTGRES_URL says otherwise. */
export const DEFAULT_TEST_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432';
/**
 * Read at each use, not at import: globalSetup (which imports this module) may point the run at
 * an embedded server it started, by setting TEST_POSTGRES_URL, which the test files inherit.
 */
export function postgresUrl(): string {
  return process.env.TEST_POSTGRES_URL ?? DEFAULT_TEST_POSTGRES_URL;
}
/**
 * Every run names its databases after the process that runs globalSetup, so runs side by side
 * (a helper's and CI's, say) never drop each other's template; a later run removes only the
 * databases of runs whose process is gone.
 */
export const RUN_ID = process.env.CREDITS_TEST_RUN ?? String(process.pid);
export const TEMPLATE_DATABASE = `credits_test_${RUN_ID}_template`;

export function databaseUrl(name: string): string {
  return `${postgresUrl()}/${name}`;
}

export async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl('postgres') });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export async function cloneTemplateDatabase(): Promise<TestDatabase> {
  const name = `credits_test_${RUN_ID}_${randomBytes(6).toString('hex')}`;
  await adminQuery(`create database ${name} template ${TEMPLATE_DATABASE}`);
  return {
    name,
    url: databaseUrl(name),
    drop: () => adminQuery(`drop database if exists ${name} with (force)`),
  };
}
