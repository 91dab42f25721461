/**
 * The api's hot reads run as named prepared statements (worker/store/queryPrepared.ts): Postgres
 * parses a read once per connection and reuses it, instead of parsing and planning the inlined
 * literals of every call, which was most of its CPU per balance read. Seen from Postgres itself:
 * on a one-connection pool, `pg_prepared_statements` lists each read's statement, executed once
 * per read; and the ORM's `onQuery` hook still sees every statement.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import {
  readCreditBlock,
  readCreditBlockPage,
  readCreditBlockPages,
} from '../../../worker/store/creditReads.ts';
import { readLedgerPage } from '../../../worker/store/ledgerReads.ts';
import { openOrm, type Orm } from '../../../worker/store/orm.ts';
import { cloneTemplateDatabase, type TestDatabase } from '../../support/databases.ts';

let database: TestDatabase;
let orm: Orm;
const seen: string[] = [];

beforeAll(async () => {
  database = await cloneTemplateDatabase();
  orm = await openOrm(database.url, { migrate: false, poolSize: 1 });
  const previous = orm.config.get('onQuery');
  orm.config.set('onQuery', (sql: string, params: readonly unknown[]) => {
    seen.push(sql);
    return previous(sql, params);
  });
});
afterAll(async () => {
  await orm?.close();
  await database?.drop();
});

interface PreparedRow {
  statement: string;
  executions: number;
  generic: number;
}

/** The statements prepared on the pool's only connection, with how often each was executed. */
async function preparedStatements(): Promise<PreparedRow[]> {
  const pool = (await orm.em.getConnection().getNativeClient()) as pg.Pool;
  const { rows } = await pool.query<PreparedRow>(
    `select statement, (generic_plans + custom_plans)::int as executions,
            generic_plans::int as generic
       from pg_prepared_statements`,
  );
  return rows;
}

describe('prepared reads', () => {
  it('the balance, ledger and block reads are each prepared once and executed per read', async () => {
    const reads = 7;
    for (let read = 0; read < reads; read += 1) {
      const page = await readCreditBlockPage(
        orm.em,
        { customerId: 'no-such-customer' },
        { limit: 20, currency: 'credits', includeAll: false, now: new Date(), effectiveDate: {} },
      );
      expect(page.customer).toBeNull();
    }
    const ledger = await readLedgerPage(
      orm.em,
      { externalCustomerId: 'no-such-customer' },
      { limit: 20, createdAt: {}, minimumAmount: '0.5' },
    );
    expect(ledger.customer).toBeNull();
    expect(await readCreditBlock(orm.em, 'no-such-block')).toBeNull();

    const prepared = await preparedStatements();
    const executions = (marker: string) =>
      prepared.filter((row) => row.statement.includes(marker)).map((row) => row.executions);
    expect(executions('limit $3')).toEqual([reads]);
    expect(executions('from ledger_entries e')).toEqual([1]);
    expect(executions('where b.id = $1')).toEqual([1]);
    // Numbered in order: the ledger's minimum amount is its first parameter.
    expect(prepared.some((row) => row.statement.includes('abs(e.amount) >= $1::numeric'))).toBe(
      true,
    );
    expect(seen.filter((sql) => sql.includes('from customers c'))).toHaveLength(reads + 1);
  });

  it('a batch of balance reads keeps one cached plan whatever its size', async () => {
    // Postgres weighs a generic plan after five custom ones: the sixth call and later use it.
    const sizes = [2, 3, 5, 2, 8, 4, 2, 6];
    for (const size of sizes) {
      const keys = Array.from({ length: size }, (_, index) => `no-such-customer-${index}`);
      const pages = await readCreditBlockPages(orm.em, 'customerId', keys, {
        limit: 20,
        currency: 'credits',
        includeAll: false,
        now: new Date(),
        effectiveDate: {},
      });
      expect(pages.map((page) => page.customer)).toEqual(keys.map(() => null));
    }
    const batch = (await preparedStatements()).filter((row) =>
      row.statement.includes('c.id = any('),
    );
    expect(batch).toHaveLength(1);
    expect(batch[0]!.executions).toBe(sizes.length);
    expect(batch[0]!.generic).toBe(sizes.length - 5);
  });
});
