/**
 * Transient failures (serialization failure, deadlock, a dropped connection) are retried inside
 * the processor with bounded, jittered backoff, never by BullMQ: a BullMQ retry would move the
 * job to the back of its partition and reorder the customer's writes (ARCHITECTURE.md).
 */
const ATTEMPTS_MAX = 6;
const BACKOFF_BASE_MS = 25;
const BACKOFF_CAP_MS = 2_000;

const TRANSIENT_SQLSTATES = new Set(['40001', '40P01', '55P03', '57P01', '57P02', '57P03', '53300']);
const TRANSIENT_NODE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']);

export function isTransient(error: unknown): boolean {
  for (let current: unknown = error; current instanceof Error || typeof current === 'object'; ) {
    if (current === null) return false;
    const code = (current as { code?: unknown; sqlState?: unknown }).code ?? (current as { sqlState?: unknown }).sqlState;
    if (typeof code === 'string' && (TRANSIENT_SQLSTATES.has(code) || TRANSIENT_NODE_CODES.has(code) || code.startsWith('08'))) {
      return true;
    }
    if (current instanceof Error && /Connection terminated|connection timeout|timeout exceeded when trying to connect/i.test(current.message)) {
      return true;
    }
    current = (current as { cause?: unknown }).cause;
    if (current === undefined) return false;
  }
  return false;
}

export async function withTransientRetry<T>(work: () => Promise<T>, attempts = ATTEMPTS_MAX): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attempts || !isTransient(error)) throw error;
      const backoffMs = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
      await new Promise((resolve) => setTimeout(resolve, backoffMs / 2 + Math.random() * (backoffMs / 2)));
    }
  }
}
