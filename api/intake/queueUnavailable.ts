/**
 * How intake meets an unreachable queue (Redis down, or connected and silent): an enqueue is
 * given ENQUEUE_TIMEOUT_MS, so that a request answers within a second whatever Redis does, and a
 * failed one becomes `503` with `Retry-After` (RFC 7807 body, api/errors.ts) — unless the request
 * is durable in Postgres already, which the caller then accepts instead (deferredEnqueues.ts).
 */
import { isRedisCommandUnavailable } from '../../worker/jobs/redis.ts';
import { ApiError } from '../errors.ts';
import { TimeoutError, withTimeout } from '../withTimeout.ts';

/** Far above a healthy enqueue (about a millisecond), and leaves the answer under a second. */
export const ENQUEUE_TIMEOUT_MS = 750;
/** Long enough for Redis to restart or fail over, short against a client's patience. */
export const QUEUE_RETRY_AFTER_SECONDS = 2;

/** An enqueue that settles within ENQUEUE_TIMEOUT_MS; it may still land later, under its job id. */
export function enqueueWithin<T>(enqueue: Promise<T>, what: string): Promise<T> {
  return withTimeout(enqueue, ENQUEUE_TIMEOUT_MS, what);
}

/** True when the error says the queue could not be reached, not that the request was wrong. */
export function isQueueUnavailable(error: unknown): boolean {
  return error instanceof TimeoutError || isRedisCommandUnavailable(error);
}

export function queueUnavailable(detail: string): ApiError {
  return ApiError.unavailable(
    `The queue is unavailable; ${detail} Retry after ${QUEUE_RETRY_AFTER_SECONDS} s.`,
    QUEUE_RETRY_AFTER_SECONDS,
  );
}
