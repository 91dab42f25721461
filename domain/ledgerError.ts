/**
 * Business refusals are values, not exceptions (STYLE.md, TigerBeetle): every refusal the rules
 * make has one code from REFUSAL_KINDS, and the code alone decides its HTTP-neutral kind, which
 * api/errors.ts maps to Orb's RFC 7807 types. The detail is a sentence for the caller; callers
 * branch on the code (or the kind), never on the sentence. Exceptions stay for broken invariants.
 *
 * ## Precedence
 * A request's checks run in a fixed order, all before the draft changes anything (the clock
 * catch-up aside, which a refusal discards with the rest), and the first broken rule is the
 * answer: the request on its own, then the resource it names, then that resource's state, then
 * what the result would be. Each kind lists its checks in one ordered array of named checks
 * (domain/firstRefusal.ts); test/unit/domain/refusalPrecedence.test.ts holds these lists:
 *
 * - increment (INCREMENT_CHECKS): amount_not_positive, cost_basis_invalid,
 *   invoice_settings_required, cost_basis_required, due_date_ambiguous, due_date_missing,
 *   net_terms_out_of_range, expiry_not_future, expiry_not_after_effective,
 *   invoice_due_before_invoice_date, invoice_total_inexact, invoice_total_out_of_range,
 *   balance_out_of_range.
 * - decrement (DECREMENT_CHECKS): amount_not_positive, balance_out_of_range.
 * - expiration_change (EXPIRATION_CHANGE_CHECKS): amount_not_positive, source_block_unnamed,
 *   block_not_found, block_with_expiry_not_found, source_block_ambiguous, block_voided,
 *   block_expired, block_not_active, block_has_no_credit, insufficient_credits,
 *   target_expiry_not_future, target_expiry_before_effective.
 * - void (VOID_CHECKS): amount_not_positive, block_not_found, block_voided, block_expired,
 *   insufficient_credits, block_awaits_payment, balance_out_of_range.
 * - amendment (AMENDMENT_CHECKS): amount_not_positive, block_not_found, block_voided,
 *   block_expired, exceeds_initial_balance, balance_out_of_range.
 * - invoice mark_paid / void (INVOICE_CHECKS): invoice_not_issued.
 * - event deprecation (DEPRECATION_WINDOW_CHECKS, then DEPRECATION_CHECKS for an applied event):
 *   event_outside_grace, credits_not_returnable.
 * - balance transaction (BALANCE_TRANSACTION_CHECKS): amount_not_positive,
 *   customer_currency_missing, balance_out_of_range.
 * - usage: never refused. A top-up the threshold calls for but the rules refuse never fails the
 *   command or batch that crossed it: the changes report it (`LedgerChanges.topUpRefused`).
 *
 * The worker's parse of a stored request refuses with date_invalid, expiry_not_after_effective and
 * source_block_unnamed before any of these run; its load, with invoice_not_found,
 * event_not_found or top_up_not_found when the resource a request names is gone.
 *
 * An alert change (worker/processors/kinds/alertChange.ts): a create with
 * alert_thresholds_invalid, then alert_exists (a second alert of one type on a (customer,
 * currency)); an update, enable, disable or delete with alert_not_found, then (an update)
 * alert_thresholds_invalid.
 */

/** Each code's kind, in one table: the kind follows from the code and nothing else. */
export const REFUSAL_KINDS = {
  amount_not_positive: 'request_validation',
  date_invalid: 'request_validation',
  cost_basis_invalid: 'request_validation',
  invoice_settings_required: 'request_validation',
  cost_basis_required: 'request_validation',
  due_date_ambiguous: 'request_validation',
  due_date_missing: 'request_validation',
  net_terms_out_of_range: 'request_validation',
  expiry_not_after_effective: 'request_validation',
  expiry_not_future: 'request_validation',
  invoice_due_before_invoice_date: 'request_validation',
  invoice_total_inexact: 'request_validation',
  invoice_total_out_of_range: 'request_validation',
  source_block_unnamed: 'request_validation',
  block_not_found: 'resource_not_found',
  block_with_expiry_not_found: 'resource_not_found',
  source_block_ambiguous: 'request_validation',
  block_voided: 'request_validation',
  block_expired: 'request_validation',
  block_not_active: 'request_validation',
  block_has_no_credit: 'request_validation',
  insufficient_credits: 'request_validation',
  block_awaits_payment: 'request_validation',
  exceeds_initial_balance: 'request_validation',
  target_expiry_not_future: 'request_validation',
  target_expiry_before_effective: 'request_validation',
  balance_out_of_range: 'request_validation',
  customer_currency_missing: 'request_validation',
  invoice_not_issued: 'constraint_violation',
  event_outside_grace: 'constraint_violation',
  credits_not_returnable: 'constraint_violation',
  invoice_not_found: 'resource_not_found',
  event_not_found: 'resource_not_found',
  top_up_not_found: 'resource_not_found',
  alert_not_found: 'resource_not_found',
  // Orb answers a second alert of a type for one customer and currency with its 400 "duplicate
  // resource creation" (not a 409: nothing is in flight, and a retry will never succeed).
  alert_exists: 'duplicate_resource_creation',
  alert_thresholds_invalid: 'request_validation',
} as const satisfies Record<string, LedgerErrorKind>;

export type RefusalCode = keyof typeof REFUSAL_KINDS;

export type LedgerErrorKind =
  | 'request_validation'
  | 'constraint_violation'
  | 'resource_not_found'
  | 'duplicate_resource_creation';

export interface LedgerError {
  code: RefusalCode;
  /** REFUSAL_KINDS[code], carried so that callers that only know kinds keep working. */
  kind: LedgerErrorKind;
  detail: string;
}

export type Decision<T> = { ok: true; value: T } | { ok: false; error: LedgerError };

export function isRefusalCode(value: unknown): value is RefusalCode {
  return typeof value === 'string' && Object.hasOwn(REFUSAL_KINDS, value);
}

export function ledgerError(code: RefusalCode, detail: string): LedgerError {
  return { code, kind: REFUSAL_KINDS[code], detail };
}

export function refuse(code: RefusalCode, detail: string): { ok: false; error: LedgerError } {
  return { ok: false, error: ledgerError(code, detail) };
}
