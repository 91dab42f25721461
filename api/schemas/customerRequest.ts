/**
 * The body of `POST /v1/customers` (Orb's NewCustomer): the fields this service keeps are
 * validated; Orb's integration settings (tax, accounting, payment configuration) are accepted
 * only as null, since accepting and silently ignoring them would mislead.
 */
import { z } from 'zod';
import { currencyCode, metadataInput, timezone } from './primitives.ts';

const unsupported = z.null().optional();

export const customerRequest = z.strictObject({
  name: z.string().min(1).max(500),
  email: z.email().max(500),
  metadata: metadataInput,
  timezone: timezone.nullable().optional(),
  external_customer_id: z.string().min(1).max(255).nullable().optional(),
  payment_provider_id: z.string().nullable().optional(),
  payment_provider: z.enum(['quickbooks', 'bill.com', 'stripe_charge', 'stripe_invoice', 'netsuite', 'adyen']).nullable().optional(),
  currency: currencyCode.nullable().optional(),
  auto_collection: z.boolean().nullable().optional(),
  email_delivery: z.boolean().nullable().optional(),
  additional_emails: z.array(z.email()).max(50).nullable().optional(),
  auto_issuance: z.boolean().nullable().optional(),
  shipping_address: unsupported,
  billing_address: unsupported,
  tax_id: unsupported,
  tax_configuration: unsupported,
  reporting_configuration: unsupported,
  accounting_sync_configuration: unsupported,
  hierarchy: unsupported,
  payment_configuration: unsupported,
});
export type CustomerRequest = z.infer<typeof customerRequest>;
