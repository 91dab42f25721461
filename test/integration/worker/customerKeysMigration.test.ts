/**
 * Migration20261203120000_customerKeys on a database that already holds rows: taken back to the
 * migration before it, filled under the old keys, then migrated again. Every row stays; the keys,
 * foreign keys and the external-id table are the new ones and hold (SCALING.md "Distribution by
 * customer"); the down migration restores the old keys.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openOrm, type Orm } from '../../../worker/store/orm.ts';
import { cloneTemplateDatabase, type TestDatabase } from '../../support/databases.ts';

const BEFORE = 'Migration20261203100000_webhookEndpointRequests';

let database: TestDatabase;
let orm: Orm;
let client: pg.Client;

const TABLES = [
  'customers',
  'credit_blocks',
  'ledger_entries',
  'invoices',
  'balance_transactions',
  'top_ups',
  'alerts',
] as const;

async function primaryKey(table: string): Promise<string> {
  const { rows } = await client.query<{ definition: string }>(
    `select pg_get_constraintdef(oid) as definition from pg_constraint
      where conrelid = $1::regclass and contype = 'p'`,
    [table],
  );
  return rows[0]!.definition;
}

async function counts(): Promise<Record<string, number>> {
  const found: Record<string, number> = {};
  for (const table of TABLES)
    found[table] = (
      await client.query<{ n: number }>(`select count(*)::int as n from ${table}`)
    ).rows[0]!.n;
  return found;
}

/** Runs `sql` in a savepoint and answers the error code it failed with (undefined if none). */
async function failure(sql: string): Promise<string | undefined> {
  await client.query('begin');
  try {
    await client.query(sql);
    await client.query('set constraints all immediate');
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  } finally {
    await client.query('rollback');
  }
}

beforeAll(async () => {
  database = await cloneTemplateDatabase();
  orm = await openOrm(database.url, { migrate: false, poolSize: 2 });
  await orm.migrator.down({ to: BEFORE });
  client = new pg.Client({ connectionString: database.url });
  await client.connect();
  const at = '2026-01-01T00:00:00Z';
  // Rows as the old schema takes them: ids unique on their own, a hierarchy, an external id.
  await client.query(
    `insert into customers (id, external_customer_id, name, email, timezone, created_at, parent_customer_id)
     values ('cus_p', 'ext-p', 'P', 'p@example.com', 'UTC', $1, null),
            ('cus_c', 'ext-c', 'C', 'c@example.com', 'UTC', $1, 'cus_p'),
            ('cus_n', null, 'N', 'n@example.com', 'UTC', $1, null);
     insert into credit_blocks (id, customer_id, currency, balance, maximum_initial_balance,
                                effective_date, status, created_at, creation_sequence)
     values ('blk_p', 'cus_p', 'credits', 10, 10, $1, 'active', $1, 1),
            ('blk_c', 'cus_c', 'credits', 5, 5, $1, 'active', $1, 1);
     insert into ledger_entries (id, customer_id, currency, ledger_sequence_number, entry_type,
                                 entry_status, amount, starting_balance, ending_balance, block_id, created_at)
     values ('ent_p', 'cus_p', 'credits', 1, 'increment', 'committed', 10, 0, 10, 'blk_p', $1),
            ('ent_c', 'cus_c', 'credits', 1, 'increment', 'committed', 5, 0, 5, 'blk_c', $1);
     insert into invoices (id, customer_id, block_id, number, currency, status, quantity, unit_price,
                           total, invoice_date, due_date, auto_collection, require_successful_payment,
                           issued_at, created_at)
     values ('inv_p', 'cus_p', 'blk_p', 1, 'USD', 'issued', 10, 1, 10, $1, $1, false, false, $1, $1);
     insert into balance_transactions (id, customer_id, currency, action, type, amount,
                                       starting_balance, ending_balance, created_at)
     values ('btx_p', 'cus_p', 'USD', 'manual_adjustment', 'increment', 3, 0, 3, $1);
     insert into top_ups (id, customer_id, currency, amount, threshold, per_unit_cost_basis,
                          invoice_currency, auto_collection, net_terms, require_successful_payment,
                          created_at)
     values ('top_p', 'cus_p', 'credits', 10, 1, '1', 'USD', false, 0, false, $1);
     insert into alerts (id, customer_id, currency, type, thresholds, created_at, updated_at)
     values ('al_p', 'cus_p', 'credits', 'credit_balance_depleted', '[]', $1, $1);`.replace(
      /\$1/g,
      `'${at}'`,
    ),
  );
  await orm.migrator.up();
});
afterAll(async () => {
  await client?.end();
  await orm?.close();
  await database?.drop();
});

describe('Migration20261203120000_customerKeys', () => {
  it('keeps every row and maps the existing external ids', async () => {
    expect(await counts()).toEqual({
      customers: 3,
      credit_blocks: 2,
      ledger_entries: 2,
      invoices: 1,
      balance_transactions: 1,
      top_ups: 1,
      alerts: 1,
    });
    const { rows } = await client.query(
      'select external_customer_id, customer_id from customer_external_ids order by 1',
    );
    expect(rows).toEqual([
      { external_customer_id: 'ext-c', customer_id: 'cus_c' },
      { external_customer_id: 'ext-p', customer_id: 'cus_p' },
    ]);
    const parent = await client.query(
      "select parent_customer_id from customers where id = 'cus_c'",
    );
    expect(parent.rows).toEqual([{ parent_customer_id: 'cus_p' }]);
  });

  it('keys the growing tables by (id, customer_id)', async () => {
    for (const table of TABLES.filter((name) => name !== 'customers'))
      expect(await primaryKey(table)).toBe('PRIMARY KEY (id, customer_id)');
    expect(await primaryKey('customers')).toBe('PRIMARY KEY (id)');
  });

  it('refuses an entry or invoice that points at another customer’s block', async () => {
    expect(
      await failure(`insert into ledger_entries (id, customer_id, currency, ledger_sequence_number,
                       entry_type, entry_status, amount, starting_balance, ending_balance, block_id, created_at)
                     values ('ent_x', 'cus_c', 'credits', 2, 'decrement', 'committed', -1, 5, 4, 'blk_p', now())`),
    ).toBe('23503');
    expect(
      await failure(`insert into ledger_entries (id, customer_id, currency, ledger_sequence_number,
                       entry_type, entry_status, amount, starting_balance, ending_balance, block_id, created_at)
                     values ('ent_x', 'cus_c', 'credits', 2, 'decrement', 'committed', -1, 5, 4, 'blk_c', now())`),
    ).toBeUndefined();
    expect(await failure(`update invoices set customer_id = 'cus_c' where id = 'inv_p'`)).toBe(
      '23503',
    );
  });

  it('keeps an external id unique through customer_external_ids, no longer on customers', async () => {
    expect(
      await failure(
        `insert into customer_external_ids (external_customer_id, customer_id) values ('ext-p', 'cus_n')`,
      ),
    ).toBe('23505');
    expect(
      await failure(`update customers set external_customer_id = 'ext-p' where id = 'cus_n'`),
    ).toBeUndefined();
  });

  it('migrates back down to the old keys', async () => {
    const copy = await cloneTemplateDatabase();
    const back = await openOrm(copy.url, { migrate: false, poolSize: 2 });
    try {
      await back.migrator.down({ to: BEFORE });
      const [row] = await back.em.execute<{ definition: string }[]>(
        `select pg_get_constraintdef(oid) as definition from pg_constraint
          where conname = 'ledger_entries_block_id_fkey'`,
      );
      expect(row?.definition).toBe(
        'FOREIGN KEY (block_id) REFERENCES credit_blocks(id) DEFERRABLE INITIALLY DEFERRED',
      );
      await back.migrator.up();
    } finally {
      await back.close();
      await copy.drop();
    }
  });
});
