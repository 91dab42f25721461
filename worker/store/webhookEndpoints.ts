/**
 * Webhook endpoints in Postgres (`webhook_endpoints`, Migration20261203080000_webhookDelivery).
 * Signing secrets leave this module only as `SigningSecret`, whose JSON, string and inspected forms
 * are redacted, so a logged endpoint (pino serializes with JSON) never shows one; the value is
 * read with `reveal()`, by the signer and by the two answers that show a secret once (create and
 * rotate). Secrets are kept newest first; one whose `expires_at` has passed no longer signs and is
 * dropped at the next rotation.
 */
import { inspect } from 'node:util';
import type { EntityManager } from '@mikro-orm/postgresql';

const REDACTED = '[redacted]';
/** The id of the endpoint WEBHOOK_URL configures. */
export const CONFIGURED_ENDPOINT_ID = 'webhook_url';

export class SigningSecret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

export interface EndpointSecret {
  secret: SigningSecret;
  createdAt: Date;
  /** Null for the current secret; the end of the overlap for a rotated one. */
  expiresAt: Date | null;
}

export interface WebhookEndpointRecord {
  id: string;
  url: string;
  description: string | null;
  /** Null: every event type. */
  eventTypes: string[] | null;
  enabled: boolean;
  /** WEBHOOK_URL's endpoint: may point at a private or loopback address. */
  trusted: boolean;
  secrets: EndpointSecret[];
  createdAt: Date;
  updatedAt: Date;
}

interface StoredSecret {
  secret: string;
  created_at: string;
  expires_at: string | null;
}

interface EndpointSqlRow {
  id: string;
  url: string;
  description: string | null;
  event_types: string[] | null;
  enabled: boolean;
  trusted: boolean;
  secrets: StoredSecret[] | string;
  created_at: Date | string;
  updated_at: Date | string;
}

const COLUMNS =
  'id, url, description, event_types, enabled, trusted, secrets, created_at, updated_at';

function toRecord(row: EndpointSqlRow): WebhookEndpointRecord {
  const secrets: StoredSecret[] =
    typeof row.secrets === 'string' ? JSON.parse(row.secrets) : row.secrets;
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    eventTypes: row.event_types,
    enabled: row.enabled,
    trusted: row.trusted,
    secrets: secrets.map((stored) => ({
      secret: new SigningSecret(stored.secret),
      createdAt: new Date(stored.created_at),
      expiresAt: stored.expires_at === null ? null : new Date(stored.expires_at),
    })),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

function storedSecrets(secrets: readonly EndpointSecret[]): string {
  return JSON.stringify(
    secrets.map((one) => ({
      secret: one.secret.reveal(),
      created_at: one.createdAt.toISOString(),
      expires_at: one.expiresAt === null ? null : one.expiresAt.toISOString(),
    })),
  );
}

/** The secrets that sign at `now`: the current one and those still in their overlap. */
export function signingSecrets(endpoint: WebhookEndpointRecord, now: Date): SigningSecret[] {
  return endpoint.secrets
    .filter((one) => one.expiresAt === null || one.expiresAt.getTime() > now.getTime())
    .map((one) => one.secret);
}

export async function insertWebhookEndpoint(
  em: EntityManager,
  endpoint: WebhookEndpointRecord,
): Promise<void> {
  await em.execute(
    `insert into webhook_endpoints (${COLUMNS}) values (?, ?, ?, ?::text[], ?, ?, ?::jsonb, ?, ?)`,
    [
      endpoint.id,
      endpoint.url,
      endpoint.description,
      endpoint.eventTypes === null ? null : `{${endpoint.eventTypes.join(',')}}`,
      endpoint.enabled,
      endpoint.trusted,
      storedSecrets(endpoint.secrets),
      endpoint.createdAt,
      endpoint.updatedAt,
    ],
  );
}

export async function findWebhookEndpoint(
  em: EntityManager,
  id: string,
): Promise<WebhookEndpointRecord | null> {
  const [row] = await em.execute<EndpointSqlRow[]>(
    `select ${COLUMNS} from webhook_endpoints where id = ?`,
    [id],
  );
  return row ? toRecord(row) : null;
}

/** Every endpoint by id (the delivery loop's cache refresh). */
export async function allWebhookEndpoints(em: EntityManager): Promise<WebhookEndpointRecord[]> {
  const rows = await em.execute<EndpointSqlRow[]>(`select ${COLUMNS} from webhook_endpoints`);
  return rows.map(toRecord);
}

/** Oldest first; `after` is the keyset of the last one seen. Up to `limit + 1` rows. */
export async function listWebhookEndpoints(
  em: EntityManager,
  limit: number,
  after: { createdAt: Date; id: string } | undefined,
): Promise<WebhookEndpointRecord[]> {
  const rows = await em.execute<EndpointSqlRow[]>(
    `select ${COLUMNS} from webhook_endpoints
      where (?::timestamptz is null or (created_at, id) > (?::timestamptz, ?))
      order by created_at, id limit ?`,
    [after?.createdAt ?? null, after?.createdAt ?? null, after?.id ?? '', limit + 1],
  );
  return rows.map(toRecord);
}

export interface EndpointChanges {
  url?: string;
  description?: string | null;
  eventTypes?: string[] | null;
  enabled?: boolean;
  secrets?: EndpointSecret[];
}

/** Applies the changes given (an absent field keeps its value); null when there is no such id. */
export async function updateWebhookEndpoint(
  em: EntityManager,
  id: string,
  changes: EndpointChanges,
  now: Date,
): Promise<WebhookEndpointRecord | null> {
  const [row] = await em.execute<EndpointSqlRow[]>(
    `update webhook_endpoints set
        url = case when ? then ? else url end,
        description = case when ? then ? else description end,
        event_types = case when ? then ?::text[] else event_types end,
        enabled = case when ? then ? else enabled end,
        secrets = case when ? then ?::jsonb else secrets end,
        updated_at = ?
      where id = ? returning ${COLUMNS}`,
    [
      changes.url !== undefined,
      changes.url ?? null,
      changes.description !== undefined,
      changes.description ?? null,
      changes.eventTypes !== undefined,
      changes.eventTypes ? `{${changes.eventTypes.join(',')}}` : null,
      changes.enabled !== undefined,
      changes.enabled ?? null,
      changes.secrets !== undefined,
      changes.secrets ? storedSecrets(changes.secrets) : null,
      now,
      id,
    ],
  );
  return row ? toRecord(row) : null;
}

/** Deletes the endpoint and its delivery records; false when there was none. */
export async function deleteWebhookEndpoint(em: EntityManager, id: string): Promise<boolean> {
  const rows = await em.execute<{ id: string }[]>(
    'delete from webhook_endpoints where id = ? returning id',
    [id],
  );
  return rows.length === 1;
}

/**
 * The endpoint WEBHOOK_URL configures, under a fixed id: made or brought up to date at start
 * (every type, trusted, the given secret); with no WEBHOOK_URL it is disabled, not deleted, so its
 * delivery log stays readable.
 */
export async function upsertConfiguredEndpoint(
  em: EntityManager,
  id: string,
  configured: { url: string; secret: string } | undefined,
  now: Date,
): Promise<void> {
  if (!configured) {
    await em.execute('update webhook_endpoints set enabled = false where id = ?', [id]);
    return;
  }
  const secrets = storedSecrets([
    { secret: new SigningSecret(configured.secret), createdAt: now, expiresAt: null },
  ]);
  await em.execute(
    `insert into webhook_endpoints (${COLUMNS})
     values (?, ?, 'WEBHOOK_URL', null, true, true, ?::jsonb, ?, ?)
     on conflict (id) do update set url = excluded.url, event_types = null, enabled = true,
        trusted = true,
        secrets = case when webhook_endpoints.secrets -> 0 ->> 'secret' = ? then webhook_endpoints.secrets
                       else excluded.secrets end,
        updated_at = excluded.updated_at`,
    [id, configured.url, secrets, now, now, configured.secret],
  );
}
