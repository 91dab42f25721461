/**
 * Top-ups in Postgres (Orb `credits/top_ups`): the configuration rows the worker writes for a
 * `top_up_create` or `top_up_delete` request (on the customer's partition, so that a change of
 * configuration is ordered with the ledger writes around it), and the json the
 * worker's load functions carry (`top_up_load`, Migration20261121060000_topUps) turned into the
 * domain's `TopUpState`.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { Decimal } from '../../domain/decimal.ts';
import type { TopUpState } from '../../domain/decideTopUp.ts';

/** The json `top_up_load` gives; null when the ledger has no top-up. */
export interface TopUpLoadJson {
  amount: string;
  threshold: string;
  per_unit_cost_basis: string;
  invoice_currency: string;
  timezone: string;
  auto_collection: boolean;
  net_terms: number;
  memo: string | null;
  require_successful_payment: boolean;
  expires_after: number | null;
  expires_after_unit: 'day' | 'month' | null;
  /** json_build_object writes a timestamptz as ISO text. */
  active_from: string | null;
  unpaid: boolean;
}

export function toTopUpState(
  currency: string,
  json: TopUpLoadJson | null | undefined,
): TopUpState | null {
  if (!json) return null;
  return {
    unpaid: json.unpaid,
    config: {
      currency,
      amount: Decimal.of(json.amount),
      threshold: Decimal.of(json.threshold),
      perUnitCostBasis: json.per_unit_cost_basis,
      timezone: json.timezone,
      invoice: {
        currency: json.invoice_currency,
        timezone: json.timezone,
        autoCollection: json.auto_collection,
        netTermsDays: json.net_terms,
        memo: json.memo,
        requireSuccessfulPayment: json.require_successful_payment,
      },
      expiresAfter: json.expires_after,
      expiresAfterUnit: json.expires_after_unit,
      activeFrom:
        json.active_from === null || json.active_from === undefined
          ? null
          : new Date(json.active_from),
    },
  };
}

/** A `top_ups` row: the configuration `top_up_load` hands the worker, with its own keys. */
export type TopUpRow = Omit<TopUpLoadJson, 'timezone' | 'unpaid' | 'active_from'> & {
  id: string;
  customer_id: string;
  currency: string;
  active_from: Date | string | null;
  created_at: Date | string;
};

/** A top-up as its answer needs it: the row without its owner, invoicing currency and creation time. */
export type TopUpRecord = Omit<TopUpRow, 'customer_id' | 'created_at' | 'invoice_currency'>;

const COLUMNS = `id, customer_id, currency, amount::text as amount, threshold::text as threshold, per_unit_cost_basis,
  invoice_currency, auto_collection, net_terms, memo, require_successful_payment, expires_after, expires_after_unit, active_from, created_at`;

/** Creates the (customer, currency) top-up, replacing the previous one; run it in a transaction. */
export async function replaceTopUp(tx: EntityManager, row: TopUpRow): Promise<TopUpRow> {
  {
    await tx.execute('delete from top_ups where customer_id = ? and currency = ?', [
      row.customer_id,
      row.currency,
    ]);
    const [stored] = await tx.execute<TopUpRow[]>(
      `insert into top_ups (id, customer_id, currency, amount, threshold, per_unit_cost_basis, invoice_currency, auto_collection,
                            net_terms, memo, require_successful_payment, expires_after, expires_after_unit, active_from, created_at)
       values (?, ?, ?, ?::numeric, ?::numeric, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       returning ${COLUMNS}`,
      [
        row.id,
        row.customer_id,
        row.currency,
        row.amount,
        row.threshold,
        row.per_unit_cost_basis,
        row.invoice_currency,
        row.auto_collection,
        row.net_terms,
        row.memo,
        row.require_successful_payment,
        row.expires_after,
        row.expires_after_unit,
        row.active_from,
        row.created_at,
      ],
    );
    if (!stored) throw new Error(`top-up ${row.id} was not stored`);
    return stored;
  }
}

/** A customer's top-ups, newest first, `limit + 1` rows from the keyset `after` (created_at, id). */
export async function listTopUps(
  em: EntityManager,
  customerId: string,
  limit: number,
  after: { createdAt: Date; id: string } | undefined,
): Promise<TopUpRow[]> {
  const where = after ? 'and (created_at, id) < (?, ?)' : '';
  const params: unknown[] = after
    ? [customerId, after.createdAt, after.id, limit + 1]
    : [customerId, limit + 1];
  return em.execute<TopUpRow[]>(
    `select ${COLUMNS} from top_ups where customer_id = ? ${where} order by created_at desc, id desc limit ?`,
    params,
  );
}

/** Deletes the customer's top-up; false when it has no top-up with this id. */
export async function deleteTopUp(
  em: EntityManager,
  customerId: string,
  topUpId: string,
): Promise<boolean> {
  const rows = await em.execute<{ id: string }[]>(
    'delete from top_ups where id = ? and customer_id = ? returning id',
    [topUpId, customerId],
  );
  return rows.length > 0;
}
