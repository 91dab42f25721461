/**
 * Bounds a wait on something outside the process (Redis, Postgres): the promise settles as the
 * given one does, or rejects with a `TimeoutError` after `timeoutMs`. The underlying operation is
 * not cancelled; the caller just stops waiting for it, which is what health checks, metric
 * scrapes and the backlog check need (they must answer even while Redis or Postgres hangs).
 */
export class TimeoutError extends Error {}

export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TimeoutError(`${what} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  // A late rejection of the abandoned promise must not surface as an unhandled rejection.
  promise.catch(() => undefined);
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
