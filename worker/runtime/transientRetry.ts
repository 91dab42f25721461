/**
 * Transient failures (serialization failure, deadlock, a dropped connection) are retried inside
 * the processor with bounded, jittered backoff, never by BullMQ: a BullMQ retry would move the
 * job to the back of its partition and reorder the customer's writes (ARCHITECTURE.md).
 */
const ATTEMPTS_MAX = 6;
const BACKOFF_BASE_MS = 25;
const BACKOFF_CAP_MS = 2_000;
/**
 * How long a lost database is waited for. A Postgres restart or failover takes seconds, longer
 * than ATTEMPTS_MAX quick attempts (about 1.5 s): with only those, every job that ran during a
 * restart failed, losing the usage events it held and leaving ledger requests answered 202 as
 * `queued` (behind a failed job, which the stranded sweep does not re-enqueue) or `failed`. Waiting
 * reorders nothing: every job of the partition needs the database too. Bounded, so that a
 * database gone for good still fails the job (reported in /v1/failed_jobs) rather than hanging.
 */
const DATABASE_OUTAGE_WAIT_MAX_MS = 120_000;

const TRANSIENT_SQLSTATES = new Set([
  '25P03',
  '40001',
  '40P01',
  '55P03',
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);
/**
 * The connection was lost or refused (admin/crash shutdown, starting up, SQLSTATE class 08), or
 * the server ended it for idling inside a transaction (25P03: a worker paused mid-transaction,
 * worker/partitionFence.ts). A new connection may go on; a fenced-out worker then learns it is.
 */
const CONNECTION_SQLSTATES = new Set(['25P03', '57P01', '57P02', '57P03']);
const TRANSIENT_NODE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']);
const CONNECTION_MESSAGE =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable/i;

/** Walks the error and its causes; answers the first verdict `judge` gives. */
function classify(
  error: unknown,
  judge: (code: string | undefined, message: string | undefined) => boolean,
): boolean {
  for (let current: unknown = error; current instanceof Error || typeof current === 'object';) {
    if (current === null) return false;
    const code =
      (current as { code?: unknown; sqlState?: unknown }).code ??
      (current as { sqlState?: unknown }).sqlState;
    if (
      judge(
        typeof code === 'string' ? code : undefined,
        current instanceof Error ? current.message : undefined,
      )
    )
      return true;
    current = (current as { cause?: unknown }).cause;
    if (current === undefined) return false;
  }
  return false;
}

/** The database could not be reached or dropped the connection: it may come back. */
export function isConnectionLoss(error: unknown): boolean {
  return classify(
    error,
    (code, message) =>
      (code !== undefined &&
        (CONNECTION_SQLSTATES.has(code) ||
          TRANSIENT_NODE_CODES.has(code) ||
          code.startsWith('08'))) ||
      (message !== undefined && CONNECTION_MESSAGE.test(message)),
  );
}

export function isTransient(error: unknown): boolean {
  return (
    isConnectionLoss(error) ||
    classify(error, (code) => code !== undefined && TRANSIENT_SQLSTATES.has(code))
  );
}

/**
 * Retries `work` on a transient failure: up to `attempts` times for a conflict (serialization,
 * deadlock, lock timeout), and for up to DATABASE_OUTAGE_WAIT_MAX_MS while the database is lost.
 */
export async function withTransientRetry<T>(
  work: () => Promise<T>,
  attempts = ATTEMPTS_MAX,
  outageWaitMaxMs = DATABASE_OUTAGE_WAIT_MAX_MS,
): Promise<T> {
  const startedAt = Date.now();
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      const waitingOutOutage = isConnectionLoss(error) && Date.now() - startedAt < outageWaitMaxMs;
      if (!waitingOutOutage && (attempt >= attempts || !isTransient(error))) throw error;
      const backoffMs = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt - 1, 10));
      await new Promise((resolve) =>
        setTimeout(resolve, backoffMs / 2 + Math.random() * (backoffMs / 2)),
      );
    }
  }
}
