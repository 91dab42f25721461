/**
 * A ledger request as stored in `ledger_requests.payload` and parsed again by the worker: the
 * validated Orb body in a JSON-safe form (amounts as decimal text, dates as given). `toCommand`
 * turns it into the domain's command, resolving dates in the customer's timezone.
 */
import { z } from 'zod';
import { Decimal } from '../domain/decimal.ts';
import { resolveInstant } from '../domain/instant.ts';
import type { LedgerError } from '../domain/ledgerError.ts';
import type { LedgerCommand } from '../domain/types.ts';

export const DEFAULT_CURRENCY = 'credits';

const decimalText = z.string().refine((text) => typeof Decimal.parse(text) !== 'string', 'a decimal');
const metadata = z.record(z.string(), z.string());
const filter = z.object({
  field: z.literal('item_id'),
  operator: z.enum(['includes', 'excludes']),
  values: z.array(z.string()),
});

const common = {
  amount: decimalText,
  currency: z.string().nullable(),
  description: z.string().nullable(),
  metadata,
};

export const ledgerRequestPayload = z.discriminatedUnion('entry_type', [
  z.object({
    entry_type: z.literal('increment'),
    ...common,
    expiry_date: z.string().nullable(),
    effective_date: z.string().nullable(),
    per_unit_cost_basis: z.string().nullable(),
    filters: z.array(filter),
  }),
  z.object({ entry_type: z.literal('decrement'), ...common }),
]);
export type LedgerRequestPayload = z.infer<typeof ledgerRequestPayload>;

export function toCommand(payload: LedgerRequestPayload, timezone: string): LedgerCommand | LedgerError {
  const currency = payload.currency ?? DEFAULT_CURRENCY;
  const amount = Decimal.of(payload.amount);
  switch (payload.entry_type) {
    case 'increment': {
      const expiresAt = payload.expiry_date === null ? null : resolveInstant(payload.expiry_date, timezone);
      const effectiveAt = payload.effective_date === null ? null : resolveInstant(payload.effective_date, timezone);
      if (payload.expiry_date !== null && expiresAt === null) {
        return { kind: 'request_validation', detail: `expiry_date ${payload.expiry_date} is not a valid date` };
      }
      if (payload.effective_date !== null && effectiveAt === null) {
        return { kind: 'request_validation', detail: `effective_date ${payload.effective_date} is not a valid date` };
      }
      if (expiresAt && effectiveAt && expiresAt.getTime() <= effectiveAt.getTime()) {
        return { kind: 'request_validation', detail: 'expiry_date must be after effective_date' };
      }
      return {
        type: 'increment',
        currency,
        amount,
        expiresAt,
        effectiveAt,
        perUnitCostBasis: payload.per_unit_cost_basis,
        filters: payload.filters,
        description: payload.description,
        metadata: payload.metadata,
      };
    }
    case 'decrement':
      return { type: 'decrement', currency, amount, description: payload.description, metadata: payload.metadata };
    default: {
      const unreachable: never = payload;
      throw new Error(`unknown entry type ${JSON.stringify(unreachable)}`);
    }
  }
}
