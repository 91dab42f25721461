/**
 * The body of `POST /v1/customers` (Orb's NewCustomer), every field of Orb's schema validated to
 * it and unknown keys refused. The output is what is stored, already in the shape of Orb's
 * Customer response where Orb echoes a setting (defaults filled in: `accounting_providers: []`,
 * `excluded_payment_method_types: []`), so that the stored value and the answer never differ.
 * Orb's integration settings (addresses, tax, reporting, accounting, payment configuration) are
 * kept and returned; this service acts on none of them. Nested objects refuse unknown keys too, as
 * everywhere in this api: a plain `z.object` would also take a number, which exact-JSON bodies
 * carry as a `JsonNumber` object (worker/runtime/exactJson.ts), for an empty settings object. `hierarchy` names other customers by Orb
 * id: api/routes/customers.ts checks them.
 */
import { z } from 'zod';
import { currencyCode, metadataInput, timezone } from './primitives.ts';
import { TAX_ID_COUNTRIES, TAX_ID_TYPES } from './customerTaxIds.ts';

/** Orb: "The total number of email addresses (including the primary email) cannot exceed 50." */
const ADDITIONAL_EMAILS_MAX = 49;

const optionalText = z
  .string()
  .nullable()
  .optional()
  .transform((value) => value ?? null);

/** Orb's AddressInput, stored as Orb's Address: every line present, null when not given. */
const addressInput = z.strictObject({
  line1: optionalText,
  line2: optionalText,
  city: optionalText,
  state: optionalText,
  postal_code: optionalText,
  country: optionalText,
});
export type Address = z.infer<typeof addressInput>;

const taxId = z.strictObject({
  country: z.enum(TAX_ID_COUNTRIES),
  type: z.enum(TAX_ID_TYPES),
  value: z.string().min(1),
});

/** One variant of Orb's NewTaxConfiguration, by `tax_provider`. */
const taxProvider = <Provider extends string>(provider: Provider) =>
  z.strictObject({
    tax_provider: z.literal(provider),
    tax_exempt: z.boolean(),
    automatic_tax_enabled: z
      .boolean()
      .nullable()
      .optional()
      .transform((value) => value ?? null),
  });

const taxConfiguration = z.discriminatedUnion('tax_provider', [
  taxProvider('avalara').extend({ tax_exemption_code: optionalText }),
  taxProvider('taxjar'),
  taxProvider('sphere'),
  taxProvider('numeral'),
  taxProvider('anrok'),
  taxProvider('stripe'),
]);
export type TaxConfiguration = z.infer<typeof taxConfiguration>;

const reportingConfiguration = z.strictObject({ exempt: z.boolean() });

/** Orb's NewAccountingSyncConfiguration, stored as its AccountingSyncConfiguration. */
const accountingSyncConfiguration = z.strictObject({
  excluded: z
    .boolean()
    .nullable()
    .optional()
    .transform((value) => value ?? false),
  accounting_providers: z
    .array(
      z.strictObject({
        provider_type: z.enum(['quickbooks', 'netsuite']),
        external_provider_id: z.string(),
      }),
    )
    .nullable()
    .optional()
    .transform((value) => value ?? []),
});

const paymentConfiguration = z.strictObject({
  payment_providers: z
    .array(
      z.strictObject({
        provider_type: z.enum(['stripe']),
        excluded_payment_method_types: z
          .array(z.string())
          .optional()
          .transform((value) => value ?? []),
        default_shared_payment_token: optionalText,
      }),
    )
    .optional()
    .transform((value) => value ?? []),
});

/** Orb's CustomerHierarchyConfig: Orb customer ids of the parent and of children to adopt. */
const hierarchy = z.strictObject({
  parent_customer_id: z
    .string()
    .min(1)
    .nullable()
    .optional()
    .transform((value) => value ?? null),
  child_customer_ids: z
    .array(z.string().min(1))
    .refine((ids) => new Set(ids).size === ids.length, 'child_customer_ids must not repeat an id')
    .optional()
    .transform((value) => value ?? []),
});
export type HierarchyConfig = z.infer<typeof hierarchy>;

/** A nullable, optional setting: absent and null are both "not set". */
const setting = <Schema extends z.ZodType>(schema: Schema) =>
  schema
    .nullable()
    .optional()
    .transform((value) => value ?? null);

export const customerRequest = z.strictObject({
  name: z.string().min(1).max(500),
  email: z.email().max(500),
  metadata: metadataInput,
  timezone: timezone.nullable().optional(),
  external_customer_id: z.string().min(1).max(255).nullable().optional(),
  payment_provider_id: z.string().nullable().optional(),
  payment_provider: z
    .enum(['quickbooks', 'bill.com', 'stripe_charge', 'stripe_invoice', 'netsuite', 'adyen'])
    .nullable()
    .optional(),
  currency: currencyCode.nullable().optional(),
  auto_collection: z.boolean().nullable().optional(),
  email_delivery: z.boolean().nullable().optional(),
  additional_emails: z.array(z.email()).max(ADDITIONAL_EMAILS_MAX).nullable().optional(),
  auto_issuance: setting(z.boolean()),
  shipping_address: setting(addressInput),
  billing_address: setting(addressInput),
  tax_id: setting(taxId),
  tax_configuration: setting(taxConfiguration),
  reporting_configuration: setting(reportingConfiguration),
  accounting_sync_configuration: setting(accountingSyncConfiguration),
  hierarchy: setting(hierarchy),
  payment_configuration: setting(paymentConfiguration),
});
export type CustomerRequest = z.infer<typeof customerRequest>;
