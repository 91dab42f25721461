/**
 * The status of an accepted ledger write (`GET /v1/ledger_requests/{id}`, and the 202 answer of
 * `Prefer: respond-async`): its entries are Orb CreditLedgerEntries (api/wire/ledgerEntry.ts),
 * its error an RFC 7807 problem.
 */
import { z } from 'zod';
import type { LedgerEntryView } from '../../worker/store/views.ts';
import type { ProblemBody } from '../errors.ts';
import { requestStatus } from './balanceTransaction.ts';
import { dateTime, type Wire } from './exactNumber.ts';
import { ledgerEntrySchema, toWireLedgerEntry } from './ledgerEntry.ts';
import { problemSchema } from './problem.ts';

export const ledgerRequestSchema = z
  .object({
    id: z.string(),
    status: requestStatus,
    entries: z.array(ledgerEntrySchema),
    error: problemSchema.nullable(),
    created_at: dateTime,
    completed_at: dateTime.nullable(),
  })
  .meta({
    id: 'LedgerRequest',
    description:
      'An accepted ledger write: queued, processing, then committed (with its entries) or failed (with its error).',
  });

export interface LedgerRequestFields {
  id: string;
  status: z.output<typeof requestStatus>;
  createdAt: Date;
  completedAt?: Date | null;
}

export function toWireLedgerRequest(
  request: LedgerRequestFields,
  entries: LedgerEntryView[],
  error: ProblemBody | null,
): Wire<typeof ledgerRequestSchema> {
  return {
    id: request.id,
    status: request.status,
    entries: entries.map(toWireLedgerEntry),
    error,
    created_at: request.createdAt.toISOString(),
    completed_at: request.completedAt?.toISOString() ?? null,
  };
}
