/**
 * SCALING.md: the data distributes by customer with Citus. This test reads the LIVE schema of a
 * migrated database (pg_catalog and information_schema, not the migrations' text) and holds the
 * rules Citus itself enforces when a table is distributed: a distributed table's primary key and
 * every unique key contain the distribution column, and a foreign key between two distributed
 * tables joins them on it; a reference table (copied to every node) never points at a
 * distributed one. Every table is in exactly one list below, so a new table fails here until
 * someone decides how it distributes; a key that loses `customer_id` fails here too.
 *
 * No key is exempt: Migration20261203120000_customerKeys put `customer_id` in every distributed
 * table's keys and foreign keys, and moved the external id's uniqueness to its own table.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cloneTemplateDatabase, type TestDatabase } from '../../support/databases.ts';

interface Distributed {
  /** The distribution column: `customer_id`, or `id` for `customers` itself. */
  column: string;
}

/** Tables that grow with customers, distributed by customer and co-located with `customers`. */
const DISTRIBUTED: Record<string, Distributed> = {
  customers: { column: 'id' },
  ledgers: { column: 'customer_id' },
  ledger_entries: { column: 'customer_id' },
  credit_blocks: { column: 'customer_id' },
  balance_transactions: { column: 'customer_id' },
  invoices: { column: 'customer_id' },
  top_ups: { column: 'customer_id' },
  alerts: { column: 'customer_id' },
};

/** Small shared tables, copied to every node (Citus reference tables). */
const REFERENCE = ['usage_prices'];

/**
 * Tables that cannot follow the rule, each with the SCALING.md section (a `###` heading) that
 * says how it is distributed instead.
 */
const EXCEPTIONS: Record<string, string> = {
  customer_external_ids: 'External customer ids',
  events: 'Usage events: a global idempotency key, and customers that do not exist yet',
  idempotency_keys: 'Idempotency-Key rows',
  requests: 'Requests, and the immediate kinds that have no customer',
  webhook_endpoints: 'Webhook endpoints, events and deliveries',
  webhook_events: 'Webhook endpoints, events and deliveries',
  webhook_deliveries: 'Webhook endpoints, events and deliveries',
  partition_fences: 'Queue and worker bookkeeping',
  worker_heartbeats: 'Queue and worker bookkeeping',
  partition_layouts: 'Queue and worker bookkeeping',
  mikro_orm_migrations: 'Schema bookkeeping',
  schema_functions: 'Schema bookkeeping',
};

interface Schema {
  tables: string[];
  /** table → column → nullable */
  columns: Map<string, Map<string, boolean>>;
  keys: { table: string; name: string; primary: boolean; columns: string[] }[];
  foreignKeys: { table: string; name: string; references: string; pairs: [string, string][] }[];
}

async function readSchema(client: pg.ClientBase): Promise<Schema> {
  const tables = await client.query<{ table_name: string }>(
    `select table_name from information_schema.tables
      where table_schema = current_schema() and table_type = 'BASE TABLE' order by table_name`,
  );
  const columns = await client.query<{
    table_name: string;
    column_name: string;
    nullable: boolean;
  }>(
    `select table_name, column_name, is_nullable = 'YES' as nullable
       from information_schema.columns where table_schema = current_schema()`,
  );
  // Unique indexes, not only unique constraints: `create unique index` makes no constraint. An
  // expression column has attnum 0 and shows as null, which never matches a distribution column.
  const keys = await client.query<{
    table: string;
    name: string;
    primary: boolean;
    columns: (string | null)[];
  }>(
    `select t.relname as table, i.relname as name, x.indisprimary as primary,
            array(select a.attname::text from unnest(x.indkey::int2[]) with ordinality as k(attnum, n)
                    left join pg_attribute a on a.attrelid = t.oid and a.attnum = k.attnum
                   order by k.n) as columns
       from pg_index x
       join pg_class i on i.oid = x.indexrelid
       join pg_class t on t.oid = x.indrelid
       join pg_namespace s on s.oid = t.relnamespace
      where s.nspname = current_schema() and x.indisunique`,
  );
  const foreignKeys = await client.query<{
    table: string;
    name: string;
    references: string;
    pairs: [string, string][];
  }>(
    `select t.relname as table, c.conname as name, r.relname as references,
            (select json_agg(json_build_array(ca.attname, ra.attname) order by k.n)
                    from unnest(c.conkey, c.confkey) with ordinality as k(own, referenced, n)
                    join pg_attribute ca on ca.attrelid = c.conrelid and ca.attnum = k.own
                    join pg_attribute ra on ra.attrelid = c.confrelid and ra.attnum = k.referenced
                 ) as pairs
       from pg_constraint c
       join pg_class t on t.oid = c.conrelid
       join pg_class r on r.oid = c.confrelid
       join pg_namespace s on s.oid = t.relnamespace
      where s.nspname = current_schema() and c.contype = 'f'`,
  );
  const byTable = new Map<string, Map<string, boolean>>();
  for (const row of columns.rows) {
    const table = byTable.get(row.table_name) ?? new Map<string, boolean>();
    table.set(row.column_name, row.nullable);
    byTable.set(row.table_name, table);
  }
  return {
    tables: tables.rows.map((row) => row.table_name),
    columns: byTable,
    keys: keys.rows.map((row) => ({
      ...row,
      columns: row.columns.map((c) => c ?? '(expression)'),
    })),
    foreignKeys: foreignKeys.rows,
  };
}

/** Every broken rule, one sentence each; empty when the schema follows SCALING.md. */
function violations(schema: Schema): string[] {
  const found: string[] = [];
  const listed = [...Object.keys(DISTRIBUTED), ...REFERENCE, ...Object.keys(EXCEPTIONS)];
  for (const table of schema.tables) {
    const lists = listed.filter((name) => name === table).length;
    if (lists === 0)
      found.push(`${table} is in no list: distributed, reference or exception (SCALING.md)`);
    if (lists > 1) found.push(`${table} is in more than one list`);
  }
  for (const table of listed)
    if (!schema.tables.includes(table)) found.push(`${table} is listed but no longer exists`);

  for (const [table, { column }] of Object.entries(DISTRIBUTED)) {
    const nullable = schema.columns.get(table)?.get(column);
    if (nullable === undefined) found.push(`${table} has no distribution column ${column}`);
    else if (nullable) found.push(`${table}.${column} is nullable`);
  }
  for (const key of schema.keys) {
    const distributed = DISTRIBUTED[key.table];
    if (distributed === undefined) continue;
    if (!key.columns.includes(distributed.column))
      found.push(
        `${key.table}: ${key.primary ? 'primary' : 'unique'} key ${key.name} (${key.columns.join(', ')}) lacks ${distributed.column}`,
      );
  }
  for (const foreignKey of schema.foreignKeys) {
    const { table, name, references } = foreignKey;
    if (REFERENCE.includes(table) && DISTRIBUTED[references] !== undefined)
      found.push(`${table}: reference table points at distributed ${references} (${name})`);
    if (DISTRIBUTED[table] === undefined || DISTRIBUTED[references] === undefined) continue;
    if (!followsDistribution(foreignKey, table))
      found.push(`${table}: foreign key ${name} joins ${references} other than by customer`);
  }
  return found.sort();
}

/** Whether a foreign key between distributed tables pairs their distribution columns. */
function followsDistribution(foreignKey: Schema['foreignKeys'][number], table: string): boolean {
  const own = DISTRIBUTED[table]?.column;
  const referenced = DISTRIBUTED[foreignKey.references]?.column;
  return foreignKey.pairs.some(([a, b]) => a === own && b === referenced);
}

let database: TestDatabase;
let client: pg.Client;

beforeAll(async () => {
  database = await cloneTemplateDatabase();
  client = new pg.Client({ connectionString: database.url });
  await client.connect();
});
afterAll(async () => {
  await client?.end();
  await database?.drop();
});

/** Runs `change` inside a transaction that is rolled back, and answers the schema it left. */
async function violationsAfter(change: string): Promise<string[]> {
  await client.query('begin');
  try {
    await client.query(change);
    return violations(await readSchema(client));
  } finally {
    await client.query('rollback');
  }
}

describe('distribution by customer (SCALING.md)', () => {
  it('the migrated schema follows the rules, with every gap listed', async () => {
    const schema = await readSchema(client);
    expect(schema.tables.length).toBeGreaterThan(10);
    expect(violations(schema)).toEqual([]);
  });

  it('every exception names a section of SCALING.md', () => {
    const scaling = readFileSync(new URL('../../../SCALING.md', import.meta.url), 'utf8');
    const headings = [...scaling.matchAll(/^#{2,3} (.+)$/gm)].map((match) => match[1]!.trim());
    for (const section of new Set(Object.values(EXCEPTIONS))) expect(headings).toContain(section);
  });

  it('fails on a table in no list', async () => {
    expect(await violationsAfter('create table gadgets (id text primary key)')).toEqual([
      'gadgets is in no list: distributed, reference or exception (SCALING.md)',
    ]);
  });

  it('fails when a distributed table loses customer_id from a key', async () => {
    const found = await violationsAfter(`
      alter table ledgers drop constraint ledgers_pkey;
      alter table ledgers add constraint ledgers_pkey primary key (currency, next_sequence_number);
      create unique index ledger_entries_id_only_uq on ledger_entries (id, currency)`);
    expect(found).toEqual([
      'ledger_entries: unique key ledger_entries_id_only_uq (id, currency) lacks customer_id',
      'ledgers: primary key ledgers_pkey (currency, next_sequence_number) lacks customer_id',
    ]);
  });

  it('fails on a foreign key between distributed tables that is not by customer', async () => {
    // credit_blocks' key is (id, customer_id); pairing its customer_id with another column than
    // top_ups' own customer_id lets a row point at another customer's block.
    const found = await violationsAfter(`
      alter table top_ups add column block_id text, add column block_customer_id text,
        add constraint top_ups_block_fkey foreign key (block_id, block_customer_id)
          references credit_blocks (id, customer_id)`);
    expect(found).toEqual([
      'top_ups: foreign key top_ups_block_fkey joins credit_blocks other than by customer',
    ]);
  });

  it('fails when a key or foreign key of the migrated schema goes back to the bare id', async () => {
    const found = await violationsAfter(`
      alter table ledger_entries drop constraint ledger_entries_block_id_fkey;
      alter table invoices drop constraint invoices_block_id_fkey;
      alter table credit_blocks drop constraint credit_blocks_pkey;
      alter table credit_blocks add constraint credit_blocks_pkey primary key (id);
      alter table ledger_entries add constraint ledger_entries_block_id_fkey
        foreign key (block_id) references credit_blocks (id);
      alter table customers add constraint customers_external_uq unique (external_customer_id)`);
    expect(found).toEqual([
      'credit_blocks: primary key credit_blocks_pkey (id) lacks customer_id',
      'customers: unique key customers_external_uq (external_customer_id) lacks id',
      'ledger_entries: foreign key ledger_entries_block_id_fkey joins credit_blocks other than by customer',
    ]);
  });

  it('fails when a reference table points at a distributed one, or a distribution column becomes nullable', async () => {
    const found = await violationsAfter(`
      alter table usage_prices add column customer_id text references customers (id);
      alter table alerts drop constraint alerts_pkey;
      alter table alerts alter column customer_id drop not null`);
    expect(found).toEqual([
      'alerts.customer_id is nullable',
      'usage_prices: reference table points at distributed customers (usage_prices_customer_id_fkey)',
    ]);
  });
});
