/**
 * Postgres's own pub/sub (NOTIFY / LISTEN), which carries outcomes to the api processes when the
 * queues live in Postgres (worker/jobs/queueStore.ts). A notification is delivered only to
 * sessions listening when its transaction commits, so a missed one only means a 202.
 */
import type pg from 'pg';

export async function notify(pool: pg.Pool, channel: string, payload: string): Promise<void> {
  await pool.query('select pg_notify($1, $2)', [channel, payload]);
}

/** LISTEN holds its session: `client` is a connection of its own, never a pooled one. */
export async function listen(client: pg.Client, channel: string): Promise<void> {
  await client.query(`listen ${client.escapeIdentifier(channel)}`);
}
