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

/** An alert as a ledger write holds it: with its ledger's stored `recheck_at` (see insertAlert). */
export interface LockedAlert extends AlertRecord {
  recheckAt: Date | null;
}

/**
 * Locks (`for update`) and answers every alert of these customers, ordered by customer, currency
 * and type: a ledger write holds them from load to save, so that an alert request on another
 * connection cannot interleave with the state the write computes. Run it in a transaction.
 *
 * Every ledger transaction runs it, so it reaches the rows through the (customer_id, currency,
 * type) index: the ids as one array (`= any`) and the external id by primary key, rather than a
 * join the planner would make a hash of the whole `alerts` and `customers` tables.
 */
export async function lockLedgerAlerts(
  em: EntityManager,
  customerIds: readonly string[],
): Promise<LockedAlert[]> {
  if (customerIds.length === 0) return [];
  const rows = await em.execute<(AlertSqlRow & { recheck_at: Date | string | null })[]>(
    `select a.id, a.customer_id,
            (select c.external_customer_id from customers c where c.id = a.customer_id)
              as external_customer_id,
            a.currency, a.type, a.enabled, a.thresholds, a.created_at, a.recheck_at
       from alerts a
      where a.customer_id = any (array(select jsonb_array_elements_text(?::jsonb)))
      order by a.customer_id, a.currency, a.type
        for update`,
    [JSON.stringify(customerIds)],
  );
  return rows.map((row) => ({
    ...toAlertRecord(row),
    recheckAt: row.recheck_at === null ? null : new Date(row.recheck_at),
  }));
}

/**
 * Writes the state of these alerts after a ledger change in one statement: their thresholds and
 * their ledger's `recheckAt` (see insertAlert); updated_at only where the thresholds changed.
 * [] does nothing.
 */
export async function saveAlertThresholds(
  em: EntityManager,
  rows: readonly {
    id: string;
    customerId: string;
    thresholds: AlertRecord['thresholds'];
    recheckAt: Date | null;
  }[],
  now: Date,
): Promise<void> {
  if (rows.length === 0) return;
  await em.execute(
    `update alerts a
        set thresholds = input.thresholds, recheck_at = input.recheck_at,
            updated_at = case when a.thresholds = input.thresholds then a.updated_at
                              else ?::timestamptz end
       from jsonb_to_recordset(?::jsonb)
              as input (id text, customer_id text, thresholds jsonb, recheck_at timestamptz)
      where a.id = input.id and a.customer_id = input.customer_id
        and (a.thresholds <> input.thresholds or a.recheck_at is distinct from input.recheck_at)`,
    [
      now.toISOString(),
      JSON.stringify(
        rows.map((row) => ({
          id: row.id,
          customer_id: row.customerId,
          thresholds: toThresholdJson(row.thresholds),
          recheck_at: row.recheckAt?.toISOString() ?? null,
        })),
      ),
    ],
  );
}

/** One alert, with its customer's external id; null when there is none with this id. */
export async function findAlert(em: EntityManager, alertId: string): Promise<AlertRecord | null> {
  const [row] = await em.execute<AlertSqlRow[]>(
    `select ${ALERT_COLUMNS} from alerts a join customers c on c.id = a.customer_id where a.id = ?`,
    [alertId],
  );
  return row ? toAlertRecord(row) : null;
}

/** The customer's alert with this id, locked for the request that changes it; null when none. */
export async function lockAlert(
  em: EntityManager,
  customerId: string,
  alertId: string,
): Promise<AlertRecord | null> {
  const [row] = await em.execute<AlertSqlRow[]>(
    `select ${ALERT_COLUMNS} from alerts a join customers c on c.id = a.customer_id
      where a.id = ? and a.customer_id = ? for update of a`,
    [alertId, customerId],
  );
  return row ? toAlertRecord(row) : null;
}

/**
 * Inserts a new alert; false (and nothing written) when the customer already has one of its type
 * for its currency, which the table's unique key decides. `recheckAt`: when its ledger's watched
 * balance next changes with no entry (Migration20261203090000_alertRecheck).
 */
export async function insertAlert(
  em: EntityManager,
  alert: Omit<AlertRecord, 'externalCustomerId' | 'enabled'>,
  recheckAt: Date | null,
): Promise<boolean> {
  const rows = await em.execute<{ id: string }[]>(
    `insert into alerts (id, customer_id, currency, type, thresholds, enabled, created_at, updated_at, recheck_at)
     values (?, ?, ?, ?, ?::jsonb, true, ?::timestamptz, ?::timestamptz, ?::timestamptz)
     on conflict (customer_id, currency, type) do nothing
     returning id`,
    [
      alert.id,
      alert.customerId,
      alert.currency,
      alert.type,
      JSON.stringify(toThresholdJson(alert.thresholds)),
      alert.createdAt.toISOString(),
      alert.createdAt.toISOString(),
      recheckAt?.toISOString() ?? null,
    ],
  );
  return rows.length > 0;
}

/** New thresholds of one alert, with their state and its ledger's `recheckAt` (see insertAlert). */
export async function replaceAlertThresholds(
  em: EntityManager,
  customerId: string,
  alertId: string,
  thresholds: AlertRecord['thresholds'],
  recheckAt: Date | null,
  now: Date,
): Promise<void> {
  await em.execute(
    `update alerts set thresholds = ?::jsonb, recheck_at = ?::timestamptz, updated_at = ?::timestamptz
      where id = ? and customer_id = ?`,
    [
      JSON.stringify(toThresholdJson(thresholds)),
      recheckAt?.toISOString() ?? null,
      now.toISOString(),
      alertId,
      customerId,
    ],
  );
}

export async function setAlertEnabled(
  em: EntityManager,
  customerId: string,
  alertId: string,
  enabled: boolean,
  now: Date,
): Promise<void> {
  await em.execute(
    'update alerts set enabled = ?, updated_at = ?::timestamptz where id = ? and customer_id = ?',
    [enabled, now.toISOString(), alertId, customerId],
  );
}

/** Deletes the customer's alert; false when it has none with this id. */
export async function deleteAlert(
  em: EntityManager,
  customerId: string,
  alertId: string,
): Promise<boolean> {
  const rows = await em.execute<{ id: string }[]>(
    'delete from alerts where id = ? and customer_id = ? returning id',
    [alertId, customerId],
  );
  return rows.length > 0;
}

export interface AlertListFilter {
  customerId?: string;
  createdAt: { gt?: Date; gte?: Date; lt?: Date; lte?: Date };
}

const RANGE_OPERATORS = { gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;

/**
 * Alerts newest first (Orb's order), `limit + 1` rows from the keyset `after` (created_at, id),
 * optionally of one customer and within a creation-time range.
 */
export async function listAlerts(
  em: EntityManager,
  filter: AlertListFilter,
  limit: number,
  after: { createdAt: Date; id: string } | undefined,
): Promise<AlertRecord[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.customerId !== undefined) {
    where.push('a.customer_id = ?');
    params.push(filter.customerId);
  }
  for (const bound of Object.keys(RANGE_OPERATORS) as (keyof typeof RANGE_OPERATORS)[]) {
    const at = filter.createdAt[bound];
    if (at === undefined) continue;
    where.push(`a.created_at ${RANGE_OPERATORS[bound]} ?::timestamptz`);
    params.push(at.toISOString());
  }
  if (after) {
    where.push('(a.created_at, a.id) < (?::timestamptz, ?)');
    params.push(after.createdAt.toISOString(), after.id);
  }
  params.push(limit + 1);
  const rows = await em.execute<AlertSqlRow[]>(
    `select ${ALERT_COLUMNS} from alerts a join customers c on c.id = a.customer_id
      ${where.length > 0 ? `where ${where.join(' and ')}` : ''}
      order by a.created_at desc, a.id desc limit ?`,
    params,
  );
  return rows.map(toAlertRecord);
}
