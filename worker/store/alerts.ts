/**
 * Rows of `alerts` (Migration20261203070000_alertsAndOutbox): an alert configuration and its
 * state, one per (customer, currency, type). Thresholds are decimal text, highest first.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

export interface AlertRecord {
  id: string;
  customerId: string;
  externalCustomerId: string | null;
  currency: string;
  type: 'credit_balance_depleted' | 'credit_balance_dropped' | 'credit_balance_recovered';
  enabled: boolean;
  thresholds: { value: string; atOrBelow: boolean }[];
  createdAt: Date;
}

/** The stored jsonb element of `alerts.thresholds`. */
interface ThresholdJson {
  value: string;
  at_or_below: boolean;
}

interface AlertSqlRow {
  id: string;
  customer_id: string;
  external_customer_id: string | null;
  currency: string;
  type: AlertRecord['type'];
  enabled: boolean;
  thresholds: ThresholdJson[] | string;
  created_at: Date | string;
}

/** The columns every read of an alert selects (`a` is alerts, `c` its customer). */
export const ALERT_COLUMNS = `a.id, a.customer_id, c.external_customer_id, a.currency, a.type, a.enabled,
  a.thresholds, a.created_at`;

export function toAlertRecord(row: AlertSqlRow): AlertRecord {
  const thresholds: ThresholdJson[] =
    typeof row.thresholds === 'string' ? JSON.parse(row.thresholds) : row.thresholds;
  return {
    id: row.id,
    customerId: row.customer_id,
    externalCustomerId: row.external_customer_id,
    currency: row.currency,
    type: row.type,
    enabled: row.enabled,
    thresholds: thresholds.map((t) => ({ value: t.value, atOrBelow: t.at_or_below })),
    createdAt: row.created_at instanceof Date ? row.created_at : new Date(row.created_at),
  };
}

export function toThresholdJson(thresholds: AlertRecord['thresholds']): ThresholdJson[] {
  return thresholds.map((t) => ({ value: t.value, at_or_below: t.atOrBelow }));
}

/**
 * Locks (`for update`) and answers every alert of these customers, ordered by customer, currency
 * and type: a ledger write holds them from load to save, so that an alert request on another
 * connection cannot interleave with the state the write computes. Run it in a transaction.
 */
export async function lockLedgerAlerts(
  em: EntityManager,
  customerIds: readonly string[],
): Promise<AlertRecord[]> {
  if (customerIds.length === 0) return [];
  const rows = await em.execute<AlertSqlRow[]>(
    `select ${ALERT_COLUMNS}
       from alerts a join customers c on c.id = a.customer_id
      where a.customer_id in (select jsonb_array_elements_text(?::jsonb))
      order by a.customer_id, a.currency, a.type
        for update of a`,
    [JSON.stringify(customerIds)],
  );
  return rows.map(toAlertRecord);
}

/** Writes new threshold states (and updated_at) of these alerts in one statement; [] does nothing. */
export async function saveAlertThresholds(
  em: EntityManager,
  rows: readonly { id: string; thresholds: AlertRecord['thresholds'] }[],
  now: Date,
): Promise<void> {
  if (rows.length === 0) return;
  await em.execute(
    `update alerts a set thresholds = input.thresholds, updated_at = ?::timestamptz
       from jsonb_to_recordset(?::jsonb) as input (id text, thresholds jsonb)
      where a.id = input.id`,
    [
      now.toISOString(),
      JSON.stringify(
        rows.map((row) => ({ id: row.id, thresholds: toThresholdJson(row.thresholds) })),
      ),
    ],
  );
}
