/**
 * The outcome of a ledger request: what the worker decided, returned as the job's value (for
 * waiters) and stored on the request row (for pollers and idempotent replays).
 */
import type { LedgerErrorKind } from '../../domain/ledgerError.ts';
import type { LedgerEntryView } from '../store/views.ts';
import type { WrittenCounts } from '../writtenCounts.ts';

export interface OutcomeError {
  /** `internal` is ours, not the domain's: a bug or an outage, answered as a 500. */
  kind: LedgerErrorKind | 'internal';
  detail: string;
}

export type LedgerOutcome =
  /** `written`: the entries this application wrote (absent when the outcome is a replay). */
  | { status: 'committed'; requestId: string; entry: LedgerEntryView; written?: WrittenCounts }
  | { status: 'failed'; requestId: string; error: OutcomeError };
