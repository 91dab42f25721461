/**
 * Which idempotency keys the events table already holds: what `POST /v1/ingest?debug=true`
 * reports as `duplicate`. A plain read of committed rows, never a lock: the worker writes events
 * after ingest answers, so a key whose first request is still on its way through the queue is not
 * seen yet (best-effort, like Orb's own debug answer).
 */
import type { EntityManager } from '@mikro-orm/postgresql';

export async function ingestedKeys(em: EntityManager, keys: string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const rows = await em.execute<{ idempotency_key: string }[]>(
    // One jsonb parameter, not a bound list: a request carries up to 500 keys.
    'select idempotency_key from events where idempotency_key in (select jsonb_array_elements_text(?::jsonb))',
    [JSON.stringify(keys)],
  );
  return new Set(rows.map((row) => row.idempotency_key));
}
