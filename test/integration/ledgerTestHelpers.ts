/**
 * Helpers the integration tests share: creating customers and credits through the HTTP api, raw SQL
 * through the service's own MikroORM (never a mock), and the ledger's central invariants checked
 * against what Postgres holds (LEDGER_RULES.md §1, §2, §6).
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { Decimal } from '../../domain/decimal.ts';
import { partitionOf } from '../../worker/jobs/partition.ts';
import type { TestService } from '../support/testService.ts';

let customerCounter = 0;
let nameCounter = 0;

/** A name no other test (or earlier run on a shared database) uses: prefix, counter, random part. */
export function uniqueName(prefix: string): string {
  nameCounter += 1;
  return `${prefix}_${nameCounter}_${randomUUID().slice(0, 8)}`;
}

/** Creates a usage price for a fresh event name through `POST /v1/usage_prices`; returns its wire body. */
export async function createUsagePrice(
  t: TestService,
  fields: Record<string, unknown> = {},
  prefix = 'usage',
): Promise<any> {
  const eventName = uniqueName(prefix);
  const response = await t.request('POST', '/v1/usage_prices', {
    name: eventName,
    event_name: eventName,
    item_id: 'item',
    unit_amount: '1',
    ...fields,
  });
  expect(response.status, response.text).toBe(201);
  return response.body;
}

/** Creates a customer through `POST /v1/customers` and returns its wire body. */
export async function createCustomer(
  t: TestService,
  fields: Record<string, unknown> = {},
): Promise<any> {
  customerCounter += 1;
  const response = await t.request('POST', '/v1/customers', {
    name: `Customer ${customerCounter}`,
    email: `customer${customerCounter}@example.com`,
    ...fields,
  });
  expect(response.status, response.text).toBe(201);
  return response.body;
}

export function ledgerEntryPath(customerId: string): string {
  return `/v1/customers/${customerId}/credits/ledger_entry`;
}

/** Posts a ledger entry and expects a 201; returns the entry. */
export async function addEntry(
  t: TestService,
  customerId: string,
  body: Record<string, unknown>,
): Promise<any> {
  const response = await t.request('POST', ledgerEntryPath(customerId), body);
  expect(response.status, response.text).toBe(201);
  return response.body;
}

/** Raw SQL through the service's own ORM, on a fresh fork. */
export async function sql<T = Record<string, unknown>>(
  t: TestService,
  query: string,
  params: unknown[] = [],
): Promise<T[]> {
  return t.service.orm.em.fork().execute<T[]>(query, params);
}

/** How many ledger requests the customer has (a refused request must record none). */
export async function requestCount(t: TestService, customerId: string): Promise<number> {
  const [row] = await sql<{ count: string }>(
    t,
    'select count(*)::text as count from requests where customer_id = ?',
    [customerId],
  );
  return Number(row?.count);
}

/** Canonical decimal text of a stored or wire amount ("-20.000000000000" → "-20"). */
export function dec(value: string | number): string {
  return Decimal.of(String(value)).toString();
}

export interface StoredEntry {
  ledger_sequence_number: number;
  entry_type: string;
  amount: string;
  starting_balance: string;
  ending_balance: string;
  block_id: string;
  request_id: string | null;
  price_id: string | null;
}

export async function storedEntries(
  t: TestService,
  customerId: string,
  currency = 'credits',
): Promise<StoredEntry[]> {
  return sql<StoredEntry>(
    t,
    `select ledger_sequence_number, entry_type, amount::text as amount, starting_balance::text as starting_balance,
            ending_balance::text as ending_balance, block_id, request_id, price_id
       from ledger_entries where customer_id = ? and currency = ? order by ledger_sequence_number`,
    [customerId, currency],
  );
}

/**
 * Checks one ledger against Postgres: gapless sequence numbers from 0, every entry's arithmetic,
 * consecutive entries chained, Σ entries (transfers aside) = Σ blocks = the head row, and one
 * pending entry per usage group. A usage decrement (price_id set) grows after later entries were
 * written (LEDGER_RULES.md §5), so the entry after one need not start where it ends (as in
 * scripts/verify.ts). Returns the balance.
 */
export async function expectLedgerConsistent(
  t: TestService,
  customerId: string,
  currency = 'credits',
): Promise<string> {
  const entries = await storedEntries(t, customerId, currency);
  expect(entries.map((entry) => entry.ledger_sequence_number)).toEqual(
    entries.map((_, index) => index),
  );
  let previousEnding: string | undefined;
  for (const entry of entries) {
    if (entry.entry_type !== 'expiration_change' && entry.entry_type !== 'void_initiated') {
      expect(dec(entry.ending_balance), `entry ${entry.ledger_sequence_number}`).toBe(
        Decimal.of(entry.starting_balance).plus(Decimal.of(entry.amount)).toString(),
      );
    }
    if (previousEnding !== undefined)
      expect(dec(entry.starting_balance), `chain at ${entry.ledger_sequence_number}`).toBe(
        previousEnding,
      );
    previousEnding = entry.price_id === null ? dec(entry.ending_balance) : undefined;
  }
  const [sums] = await sql<{
    entries: string | null;
    blocks: string | null;
    head: string | null;
    next: number | null;
  }>(
    t,
    // Transfers (expiration_change, void_initiated) move credit without changing the balance.
    `select (select sum(amount)::text from ledger_entries where customer_id = ? and currency = ?
               and entry_type not in ('expiration_change', 'void_initiated')) as entries,
            (select sum(balance)::text from credit_blocks where customer_id = ? and currency = ?) as blocks,
            (select balance::text from ledgers where customer_id = ? and currency = ?) as head,
            (select next_sequence_number from ledgers where customer_id = ? and currency = ?) as next`,
    [customerId, currency, customerId, currency, customerId, currency, customerId, currency],
  );
  const balance = dec(sums?.entries ?? '0');
  expect(dec(sums?.blocks ?? '0'), 'Σ block balances').toBe(balance);
  expect(dec(sums?.head ?? '0'), 'ledgers.balance').toBe(balance);
  expect(sums?.next ?? 0, 'ledgers.next_sequence_number').toBe(entries.length);
  if (previousEnding !== undefined) expect(previousEnding, 'last ending_balance').toBe(balance);
  const groups = await sql<{ count: number }>(
    t,
    `select count(*)::int as count from ledger_entries where customer_id = ? and currency = ? and entry_status = 'pending'
      group by price_id, block_id, usage_day having count(*) > 1`,
    [customerId, currency],
  );
  expect(groups, 'one pending entry per (price, block, usage day)').toEqual([]);
  return balance;
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const ERROR_TYPE = {
  validation: 'https://docs.withorb.com/reference/error-responses#400-request-validation-errors',
  duplicate: 'https://docs.withorb.com/reference/error-responses#400-duplicate-resource-creation',
  notFound: 'https://docs.withorb.com/reference/error-responses#404-resource-not-found',
  conflict: 'https://docs.withorb.com/reference/error-responses#409-resource-conflict',
  internal: 'https://docs.withorb.com/reference/error-responses#500-internal-server-error',
} as const;

/**
 * A decrement of 4 the api recorded at `acceptedAt` whose job Redis no longer has: what a Redis
 * that lost keys leaves behind, for the stranded sweep to find.
 */
export async function strandedRequest(
  t: TestService,
  customerId: string,
  acceptedAt: Date,
): Promise<string> {
  const id = `stranded${randomUUID().replaceAll('-', '').slice(0, 8)}`;
  await sql(
    t,
    `insert into requests (id, customer_id, partition, currency, payload, status, created_at)
     values (?, ?, ?, 'credits', ?::jsonb, 'queued', ?)`,
    [
      id,
      customerId,
      partitionOf(customerId, t.service.config.partitions),
      JSON.stringify({
        entry_type: 'decrement',
        amount: '4',
        currency: null,
        description: null,
        metadata: {},
      }),
      acceptedAt,
    ],
  );
  return id;
}
