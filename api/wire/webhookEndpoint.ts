/**
 * The service's own webhook endpoint and delivery shapes (Orb manages endpoints in its dashboard,
 * so these are of our design, in Orb's style: snake_case, ISO instants, cursor pages). A signing
 * secret appears only in the answers to create and rotate (`secret`), once; an endpoint otherwise
 * shows when each of its secrets was made and until when a rotated one still signs.
 */
import { z } from 'zod';
import type { DeliveryRecord } from '../../worker/store/webhookDeliveries.ts';
import type { WebhookEndpointRecord } from '../../worker/store/webhookEndpoints.ts';
import { dateTime, page, type Wire } from './exactNumber.ts';

export const webhookEndpointSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    description: z.string().nullable(),
    event_types: z.array(z.string()).nullable().meta({ description: 'null: every event type' }),
    enabled: z.boolean(),
    configured_by_environment: z.boolean(),
    secrets: z.array(z.object({ created_at: dateTime, expires_at: dateTime.nullable() })),
    created_at: dateTime,
    updated_at: dateTime,
  })
  .meta({ id: 'WebhookEndpoint' });

export const webhookEndpointWithSecretSchema = webhookEndpointSchema
  .extend({
    secret: z.string().meta({ description: 'The new signing secret; shown only in this answer.' }),
  })
  .meta({ id: 'WebhookEndpointWithSecret' });

export const webhookEndpointsSchema = page(webhookEndpointSchema).meta({
  id: 'WebhookEndpoints',
});

export const webhookDeliverySchema = z
  .object({
    id: z.string(),
    event_id: z.string(),
    event_type: z.string(),
    status: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number().int(),
    response_code: z.number().int().nullable(),
    latency_ms: z.number().int().nullable(),
    error: z.string().nullable(),
    next_attempt_at: dateTime.nullable(),
    last_attempt_at: dateTime.nullable(),
    delivered_at: dateTime.nullable(),
    created_at: dateTime,
  })
  .meta({ id: 'WebhookDelivery' });

export const webhookDeliveriesSchema = page(webhookDeliverySchema).meta({
  id: 'WebhookDeliveries',
});

export const redeliveredSchema = z
  .object({ redelivered: z.number().int() })
  .meta({ id: 'WebhookRedelivered' });

export function toWireWebhookEndpoint(
  endpoint: WebhookEndpointRecord,
): Wire<typeof webhookEndpointSchema> {
  return {
    id: endpoint.id,
    url: endpoint.url,
    description: endpoint.description,
    event_types: endpoint.eventTypes,
    enabled: endpoint.enabled,
    configured_by_environment: endpoint.trusted,
    secrets: endpoint.secrets.map((one) => ({
      created_at: one.createdAt.toISOString(),
      expires_at: one.expiresAt === null ? null : one.expiresAt.toISOString(),
    })),
    created_at: endpoint.createdAt.toISOString(),
    updated_at: endpoint.updatedAt.toISOString(),
  };
}

export function toWireWebhookDelivery(row: DeliveryRecord): Wire<typeof webhookDeliverySchema> {
  return {
    id: row.id,
    event_id: row.eventId,
    event_type: row.eventType,
    status: row.status,
    attempts: row.attempts,
    response_code: row.responseCode,
    latency_ms: row.latencyMs,
    error: row.error,
    next_attempt_at: row.nextAttemptAt,
    last_attempt_at: row.lastAttemptAt,
    delivered_at: row.deliveredAt,
    created_at: row.createdAt,
  };
}
