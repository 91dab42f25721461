/**
 * Refuses requests that carry the NUL character (U+0000) in a path parameter, a query value or
 * anywhere in a JSON body (keys included). Postgres cannot store it in `text` or `jsonb`, so such a
 * value used to reach the driver and fail there as a 500 (found by the fuzzer, scripts/fuzz.ts);
 * it is a malformed request, answered 400 before validation, so nothing is recorded or queued.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError } from './errors.ts';

/** Nesting deeper than this is not walked further; the JSON parser's own limits apply first. */
const DEPTH_MAX = 200;

export function containsNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (value === null || typeof value !== 'object' || depth > DEPTH_MAX) return false;
  if (Array.isArray(value)) return value.some((item) => containsNul(item, depth + 1));
  // Walked without Object.entries' arrays: every request's params and query pass through here.
  for (const key of Object.keys(value)) {
    if (key.includes('\u0000') || containsNul((value as Record<string, unknown>)[key], depth + 1))
      return true;
  }
  return false;
}

export function registerNulGuard(app: FastifyInstance): void {
  // A callback hook (no promise per request); an error passed to `done` is answered like a throw.
  app.addHook('preValidation', (request, _reply, done) => {
    const where = containsNul(request.params)
      ? 'the path'
      : containsNul(request.query)
        ? 'the query'
        : containsNul(request.body)
          ? 'the body'
          : undefined;
    if (!where) return done();
    done(
      ApiError.validation(`${where} contains the NUL character (U+0000), which no value may hold.`),
    );
  });
}
