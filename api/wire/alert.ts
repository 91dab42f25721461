/**
 * Orb's Alert (orb-billing `resources/alerts.d.ts`) for the customer credit-balance alerts this
 * service keeps: `thresholds` only on `credit_balance_dropped` (null on the others, as Orb), and
 * `balance_alert_status` for every threshold watched. Threshold values are JSON numbers written
 * with the exact digits stored (Orb's REST schema has numbers; its webhook payloads have strings:
 * `toWebhookAlert`).
 */
import { z } from 'zod';
import type { AlertRecord } from '../../worker/store/alerts.ts';
import { inAlert } from '../../domain/alerts.ts';
import { dateTime, exact, exactNumber, page, type Wire } from './exactNumber.ts';
import { customerMinifiedSchema } from './invoice.ts';

const alertTypeSchema = z.enum([
  'credit_balance_depleted',
  'credit_balance_dropped',
  'credit_balance_recovered',
]);

export const alertSchema = z
  .object({
    id: z.string(),
    created_at: dateTime,
    currency: z.string().nullable(),
    customer: customerMinifiedSchema.nullable(),
    enabled: z.boolean(),
    metric: z.null(),
    plan: z.null(),
    subscription: z.null(),
    thresholds: z.array(z.object({ value: exactNumber })).nullable(),
    type: alertTypeSchema,
    balance_alert_status: z
      .array(z.object({ in_alert: z.boolean(), threshold_value: exactNumber }))
      .nullable(),
  })
  .meta({ id: 'Alert' });

export const alertsSchema = page(alertSchema).meta({ id: 'Alerts' });

/** The Alert inside webhook payloads: the same fields with decimal strings (orb-python's types). */
export const webhookAlertSchema = alertSchema
  .extend({
    thresholds: z.array(z.object({ value: z.string() })).nullable(),
    balance_alert_status: z
      .array(z.object({ in_alert: z.boolean(), threshold_value: z.string() }))
      .nullable(),
  })
  .meta({ id: 'WebhookAlert' });

function statuses(row: AlertRecord) {
  return row.thresholds.map((threshold) => ({
    in_alert: inAlert(row.type, threshold.atOrBelow),
    threshold_value: threshold.value,
  }));
}

export function toWireAlert(row: AlertRecord): Wire<typeof alertSchema> {
  return {
    id: row.id,
    created_at: row.createdAt.toISOString(),
    currency: row.currency,
    customer: { id: row.customerId, external_customer_id: row.externalCustomerId },
    enabled: row.enabled,
    metric: null,
    plan: null,
    subscription: null,
    thresholds:
      row.type === 'credit_balance_dropped'
        ? row.thresholds.map((threshold) => ({ value: exact(threshold.value) }))
        : null,
    type: row.type,
    balance_alert_status: statuses(row).map((status) => ({
      in_alert: status.in_alert,
      threshold_value: exact(status.threshold_value),
    })),
  };
}

export function toWebhookAlert(row: AlertRecord): Wire<typeof webhookAlertSchema> {
  return {
    ...toWireAlert(row),
    thresholds:
      row.type === 'credit_balance_dropped'
        ? row.thresholds.map((threshold) => ({ value: threshold.value }))
        : null,
    balance_alert_status: statuses(row),
  };
}
