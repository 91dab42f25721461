/**
 * The status of an accepted ledger write (`GET /v1/ledger_requests/{id}`, and the 202 answer of
 * `Prefer: respond-async`): its entries are Orb CreditLedgerEntries (api/wire/ledgerEntry.ts),
 * its error an RFC 7807 problem.
 */
import { z } from 'zod';
import { REQUEST_KINDS, type RequestKind } from '../../worker/jobs/requestKinds.ts';
import type { LedgerEntryView } from '../../worker/store/views.ts';
import type { ProblemBody } from '../errors.ts';
import { requestStatus } from './balanceTransaction.ts';
import { dateTime, type Wire } from './exactNumber.ts';
import { ledgerEntrySchema, toWireLedgerEntry } from './ledgerEntry.ts';
import { problemSchema } from './problem.ts';

export const ledgerRequestSchema = z
  .object({
    id: z.string(),
    kind: z
      .enum(REQUEST_KINDS)
      .meta({ description: "What the request changes; `entries` are a ledger entry request's." }),
    status: requestStatus,
    entries: z.array(ledgerEntrySchema),
    error: problemSchema.nullable(),
    created_at: dateTime,
    completed_at: dateTime.nullable(),
  })
  .meta({
    id: 'LedgerRequest',
    description:
      'An accepted write: queued, processing, then committed (with its entries, for a ledger entry) or failed (with its error).',
  });

export interface LedgerRequestFields {
  id: string;
  kind: RequestKind;
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
    kind: request.kind,
    status: request.status,
    entries: entries.map(toWireLedgerEntry),
    error,
    created_at: request.createdAt.toISOString(),
    completed_at: request.completedAt?.toISOString() ?? null,
  };
}
