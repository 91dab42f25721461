/**
 * The outcome of a request (one type for every kind): what the worker decided, returned as the
 * job's value, announced to the HTTP requests waiting on it (worker/jobs/outcomeChannel.ts) and
 * recorded on the request's row (for pollers and idempotent replays). A refusal is an outcome,
 * not an exception: `failed` with the domain's error, or `internal` for a bug or an outage.
 */
import type { LedgerErrorKind, RefusalCode } from '../../domain/ledgerError.ts';
import type { BalanceTransactionRecord } from '../store/balanceTransactions.ts';
import type { TopUpRecord } from '../store/topUps.ts';
import type { LedgerEntryView } from '../store/views.ts';
import type { WrittenCounts } from '../writtenCounts.ts';
import type { RequestKind } from './requestKinds.ts';

export interface OutcomeError {
  /** `internal` is ours, not the domain's: a bug or an outage, answered as a 500. */
  kind: LedgerErrorKind | 'internal';
  /** The domain's refusal code (domain/ledgerError.ts); absent for `internal` and older rows. */
  code?: RefusalCode;
  detail: string;
}

export interface FailedOutcome<K extends RequestKind = RequestKind> {
  status: 'failed';
  kind: K;
  requestId: string;
  error: OutcomeError;
}

export type LedgerOutcome =
  /** `written`: the entries this application wrote (absent when the outcome is a replay). */
  | {
      status: 'committed';
      kind: 'ledger_entry';
      requestId: string;
      entry: LedgerEntryView;
      written?: WrittenCounts;
    }
  | FailedOutcome<'ledger_entry'>;

export type BalanceOutcome =
  | {
      status: 'committed';
      kind: 'balance_transaction';
      requestId: string;
      transaction: BalanceTransactionRecord;
    }
  | FailedOutcome<'balance_transaction'>;

/** The invoice is read afresh to answer (its number and totals are the stored ones). */
export type InvoiceChangeOutcome =
  | {
      status: 'committed';
      kind: 'invoice_change';
      requestId: string;
      invoiceId: string;
      written?: WrittenCounts;
    }
  | FailedOutcome<'invoice_change'>;

export type DeprecationOutcome =
  | {
      status: 'committed';
      kind: 'event_deprecation';
      requestId: string;
      eventId: string;
      /** Decimal text; "0" when the event took nothing (or was deprecated already). */
      creditsReturned?: string;
      written?: WrittenCounts;
    }
  | FailedOutcome<'event_deprecation'>;

/** The top-up as written (a replay makes it from the request's own payload, so it matches). */
export type TopUpCreateOutcome =
  | { status: 'committed'; kind: 'top_up_create'; requestId: string; topUp: TopUpRecord }
  | FailedOutcome<'top_up_create'>;

export type TopUpDeleteOutcome =
  | { status: 'committed'; kind: 'top_up_delete'; requestId: string; topUpId: string }
  | FailedOutcome<'top_up_delete'>;

/**
 * The alert a change named; the api reads it afresh to answer (its state is the stored one). A
 * replay makes it from the request's own payload.
 */
export type AlertChangeOutcome =
  | {
      status: 'committed';
      kind: 'alert_change';
      requestId: string;
      alertId: string;
      action: 'create' | 'update_thresholds' | 'enable' | 'disable' | 'delete';
    }
  | FailedOutcome<'alert_change'>;

export type RequestOutcome =
  | LedgerOutcome
  | BalanceOutcome
  | InvoiceChangeOutcome
  | DeprecationOutcome
  | TopUpCreateOutcome
  | TopUpDeleteOutcome
  | AlertChangeOutcome;
export type OutcomeOf<K extends RequestKind> = Extract<RequestOutcome, { kind: K }>;

export function failedOutcome<K extends RequestKind>(
  kind: K,
  requestId: string,
  error: OutcomeError,
): FailedOutcome<K> {
  return { status: 'failed', kind, requestId, error };
}
