/**
 * Ledger entry reads for the api (`GET …/credits/ledger`): one SQL statement, one round trip, run
 * prepared (queryPrepared.ts), for a page of entries with the customer's ids, each entry's block
 * and, for an increment, the invoice its purchase made. Plain rows (no ORM hydration, no Orb
 * JSON); amounts are decimal text (`::text`), never a JS number. The route builds the wire shape
 * (api/wire/ledgerEntry.ts).
 *
 * Newest first by `seq` (the insertion order, which for one customer is the order applied), with
 * LEDGER_RULES.md §6's filters. The page is taken from `ledger_entries_customer_seq_idx` and
 * limited before the joins, so its cost does not grow with the ledger's length. Like the block
 * page, it starts from the customer row: no row means no such customer.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { InvoiceStatus } from '../../domain/types.ts';
import {
  customerWhere,
  rangeClauses,
  type CreditBlockReadRow,
  type CustomerSelector,
} from './creditReads.ts';
import { queryPrepared } from './queryPrepared.ts';
import type { TimeRange } from './readQueries.ts';

type Instant = Date | string;

/** An entry with what the wire shows of its block and (increments) its invoice. */
export interface LedgerEntryReadRow {
  seq: string;
  id: string;
  customer_id: string;
  currency: string;
  ledger_sequence_number: number;
  entry_type: string;
  entry_status: string;
  amount: string;
  starting_balance: string;
  ending_balance: string;
  block_id: string;
  request_id: string | null;
  description: string | null;
  metadata: Record<string, string>;
  created_at: Instant;
  void_reason: string | null;
  void_amount: string | null;
  new_block_expiry_date: Instant | null;
  price_id: string | null;
  block_expiry_date: Instant | null;
  block_per_unit_cost_basis: string | null;
  block_filters: CreditBlockReadRow['filters'];
  /** The invoice columns, all null unless an increment's block has an invoice. */
  invoice_id: string | null;
  invoice_number: number | null;
  invoice_currency: string | null;
  invoice_status: InvoiceStatus | null;
  invoice_quantity: string | null;
  invoice_unit_price: string | null;
  invoice_total: string | null;
  invoice_date: Instant | null;
  invoice_due_date: Instant | null;
  invoice_memo: string | null;
  invoice_item_id: string | null;
  invoice_auto_collection: boolean | null;
  invoice_issued_at: Instant | null;
  invoice_paid_at: Instant | null;
  invoice_voided_at: Instant | null;
  invoice_created_at: Instant | null;
}

export interface LedgerPageQuery {
  limit: number;
  /** `seq` of the last entry already seen; the page continues with older ones. */
  afterSeq?: string;
  currency?: string;
  entryType?: string;
  entryStatus?: string;
  /** |amount| ≥ this decimal text. */
  minimumAmount?: string;
  createdAt: TimeRange;
}

export interface LedgerPage {
  /** Null when the customer does not exist. */
  customer: { id: string; externalCustomerId: string | null } | null;
  /** Up to `limit + 1` rows, newest first: one more than the page says there are more. */
  rows: LedgerEntryReadRow[];
}

/** One page of a customer's ledger entries in one statement. */
export async function readLedgerPage(
  em: EntityManager,
  selector: CustomerSelector,
  query: LedgerPageQuery,
): Promise<LedgerPage> {
  const where = ['e.customer_id = c.id'];
  const params: unknown[] = [];
  const add = (clause: string, value: unknown) => {
    where.push(clause);
    params.push(value);
  };
  if (query.afterSeq !== undefined) add('e.seq < ?::bigint', query.afterSeq);
  if (query.currency !== undefined) add('e.currency = ?', query.currency);
  if (query.entryType !== undefined) add('e.entry_type = ?', query.entryType);
  if (query.entryStatus !== undefined) add('e.entry_status = ?', query.entryStatus);
  if (query.minimumAmount !== undefined) add('abs(e.amount) >= ?::numeric', query.minimumAmount);
  where.push(...rangeClauses('e.created_at', query.createdAt, params));
  const customer = customerWhere(selector);
  params.push(query.limit + 1, customer.value);
  const rows = await queryPrepared<LedgerEntryReadRow & CustomerColumns>(
    em,
    ledgerPageSql(where.join(' and '), customer.clause),
    params,
  );
  const first = rows[0];
  if (!first) return { customer: null, rows: [] };
  return {
    customer: { id: first.page_customer_id, externalCustomerId: first.page_external_customer_id },
    rows: first.id === null ? [] : rows,
  };
}

/** The page statement for one combination of filters, built once (as creditReads.ts does). */
const ledgerPageSqlByShape = new Map<string, string>();

function ledgerPageSql(entryWhere: string, customerClause: string): string {
  const shape = `${customerClause}|${entryWhere}`;
  let sql = ledgerPageSqlByShape.get(shape);
  if (sql === undefined) {
    sql = `select c.id as page_customer_id, c.external_customer_id as page_external_customer_id,
            e.seq::text as seq, e.id, e.customer_id, e.currency, e.ledger_sequence_number,
            e.entry_type, e.entry_status, e.amount::text as amount,
            e.starting_balance::text as starting_balance, e.ending_balance::text as ending_balance,
            e.block_id, e.request_id, e.description, e.metadata, e.created_at, e.void_reason,
            e.void_amount::text as void_amount, e.new_block_expiry_date, e.price_id,
            b.expiry_date as block_expiry_date, b.per_unit_cost_basis as block_per_unit_cost_basis,
            b.filters as block_filters,
            i.id as invoice_id, i.number as invoice_number, i.currency as invoice_currency,
            i.status as invoice_status, i.quantity::text as invoice_quantity,
            i.unit_price::text as invoice_unit_price, i.total::text as invoice_total,
            i.invoice_date, i.due_date as invoice_due_date, i.memo as invoice_memo,
            i.item_id as invoice_item_id, i.auto_collection as invoice_auto_collection,
            i.issued_at as invoice_issued_at, i.paid_at as invoice_paid_at,
            i.voided_at as invoice_voided_at, i.created_at as invoice_created_at
       from customers c
       left join lateral (
         select e.* from ledger_entries e
          where ${entryWhere}
          order by e.seq desc
          limit ?
       ) e on true
       left join credit_blocks b on b.customer_id = e.customer_id and b.id = e.block_id
       left join invoices i on e.entry_type = 'increment' and i.customer_id = e.customer_id
                           and i.block_id = e.block_id
      where ${customerClause}
      order by e.seq desc`;
    ledgerPageSqlByShape.set(shape, sql);
  }
  return sql;
}

interface CustomerColumns {
  page_customer_id: string;
  page_external_customer_id: string | null;
}
