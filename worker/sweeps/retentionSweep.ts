/**
 * Retention (issue 13 item 6): Idempotency-Keys older than IDEMPOTENCY_KEY_RETENTION and finished
 * requests older than REQUEST_RETENTION are deleted, so neither table grows forever. Keys go
 * first, so a request whose key has just expired can go in the same run. After expiry a replay
 * with the key is a new request (Orb's keys expire too), and `GET /v1/ledger_requests/{id}` of a
 * swept request answers 404. Queued requests, and keys of queued requests, are never swept; the
 * ledger (entries, blocks, events, balance transactions) never is.
 *
 * Deletes run in batches of `batchSize` rows, each its own statement, while batches come back
 * full, up to `maxRowsPerRun` rows per table per run: a first run over years of history leaves
 * the rest to later runs instead of holding up the expiry and day-close sweeps that share the
 * maintenance worker.
 */
import { DateTime, type Duration } from 'luxon';
import type { Clock } from '../runtime/clock.ts';
import { deleteFinishedRequestsBefore, deleteIdempotencyKeysBefore } from '../store/retention.ts';
import type { Orm } from '../store/orm.ts';
import { deleteWebhookEventsBefore } from '../store/webhookDeliveries.ts';

export interface Retention {
  idempotencyKeys: Duration;
  requests: Duration;
  /** WEBHOOK_RETENTION: webhook events and their delivery records (none still pending). */
  webhookEvents?: Duration;
}

export const RETENTION_BATCH_SIZE = 5_000;
/**
 * ~5 s of deletes per table per run on a 2-core machine (~0.5 s per 5,000-row statement measured
 * with 400k rows due): expiries, which share the maintenance worker, stay within their minute.
 */
export const RETENTION_ROWS_PER_RUN_MAX = 50_000;

export interface RetentionSwept {
  idempotencyKeys: number;
  webhookEvents?: number;
  requests: number;
}

/**
 * Calls `deleteBatch` until it deletes less than a full batch or `maxRows` are gone; answers the
 * rows deleted. Ends even if every batch is full (the bound), and on a batch of 0.
 */
export async function deleteInBatches(
  deleteBatch: (batch: number) => Promise<number>,
  batchSize: number,
  maxRows: number,
): Promise<number> {
  let total = 0;
  while (total < maxRows) {
    const batch = Math.min(batchSize, maxRows - total);
    const deleted = await deleteBatch(batch);
    total += deleted;
    if (deleted < batch) break;
  }
  return total;
}

/** `now` less `retention`, in UTC (a month of retention is a calendar month). */
function cutoff(now: Date, retention: Duration): Date {
  return DateTime.fromJSDate(now, { zone: 'utc' }).minus(retention).toJSDate();
}

export async function sweepRetention(
  deps: { orm: Orm; clock: Clock; retention: Retention },
  options: { batchSize?: number; maxRowsPerRun?: number } = {},
): Promise<RetentionSwept> {
  const batchSize = options.batchSize ?? RETENTION_BATCH_SIZE;
  const maxRows = options.maxRowsPerRun ?? RETENTION_ROWS_PER_RUN_MAX;
  const now = deps.clock.now();
  const em = deps.orm.em.fork();
  const keysBefore = cutoff(now, deps.retention.idempotencyKeys);
  const idempotencyKeys = await deleteInBatches(
    (batch) => deleteIdempotencyKeysBefore(em, keysBefore, batch),
    batchSize,
    maxRows,
  );
  const requestsBefore = cutoff(now, deps.retention.requests);
  const requests = await deleteInBatches(
    (batch) => deleteFinishedRequestsBefore(em, requestsBefore, batch),
    batchSize,
    maxRows,
  );
  if (deps.retention.webhookEvents === undefined) return { idempotencyKeys, requests };
  const eventsBefore = cutoff(now, deps.retention.webhookEvents);
  const webhookEvents = await deleteInBatches(
    (batch) => deleteWebhookEventsBefore(em, eventsBefore, batch),
    batchSize,
    maxRows,
  );
  return { idempotencyKeys, requests, webhookEvents };
}
