/**
 * Bodies and queries of the webhook endpoints API and the events feed. Unknown keys are refused,
 * so a misspelt `event_types` cannot silently mean "every type".
 */
import { z } from 'zod';
import { WEBHOOK_EVENT_TYPES } from '../../worker/jobs/webhookEvents.ts';
import { limitQuery } from './listQueries.ts';
import { jsonInteger } from './primitives.ts';

const URL_LENGTH_MAX = 2_000;
const DESCRIPTION_LENGTH_MAX = 500;
/** A rotated secret's overlap: up to a week. */
const OVERLAP_SECONDS_MAX = 7 * 24 * 3600;
export const OVERLAP_SECONDS_DEFAULT = 24 * 3600;

const url = z
  .url({ protocol: /^https?$/, hostname: z.regexes.hostname })
  .max(URL_LENGTH_MAX)
  .meta({ description: 'http or https; no redirect is followed.' });
const eventTypes = z
  .array(z.enum(WEBHOOK_EVENT_TYPES))
  .min(1)
  .nullable()
  .meta({ description: 'The event types sent to this endpoint; null: every type.' });
const description = z.string().max(DESCRIPTION_LENGTH_MAX).nullable();

export const webhookEndpointCreate = z.strictObject({
  url,
  description: description.optional(),
  event_types: eventTypes.optional(),
  enabled: z.boolean().optional(),
});
export type WebhookEndpointCreate = z.infer<typeof webhookEndpointCreate>;

export const webhookEndpointUpdate = z.strictObject({
  url: url.optional(),
  description: description.optional(),
  event_types: eventTypes.optional(),
  enabled: z.boolean().optional(),
});
export type WebhookEndpointUpdate = z.infer<typeof webhookEndpointUpdate>;

export const rotateSecretRequest = z
  .strictObject({
    previous_secret_overlap_seconds: jsonInteger
      .pipe(z.number().min(0).max(OVERLAP_SECONDS_MAX))
      .optional(),
  })
  .nullish();

const empty = (value: unknown) => (value === '' ? undefined : value);

export const webhookEndpointsQuery = z.object({
  limit: limitQuery(100),
  cursor: z.preprocess(empty, z.string().optional()),
});

export const webhookDeliveriesQuery = z.object({
  limit: limitQuery(100),
  cursor: z.preprocess(empty, z.string().optional()),
  status: z.preprocess(empty, z.enum(['pending', 'delivered', 'failed']).optional()),
});

export const webhookEventsQuery = z.object({
  limit: limitQuery(100),
  cursor: z.preprocess(empty, z.string().optional()),
  customer_id: z.preprocess(empty, z.string().optional()),
  external_customer_id: z.preprocess(empty, z.string().optional()),
  type: z.preprocess(empty, z.enum(WEBHOOK_EVENT_TYPES).optional()),
});
