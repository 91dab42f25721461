/**
 * Automatic top-ups (Orb `credits/top_ups`; issue 5 item 5): after a command's changes are in the
 * draft, a ledger whose balance went from above the top-up threshold to at or below it gets one
 * top-up increment, invoiced like any increment with invoice_settings (domain/invoiceFor.ts).
 *
 * - One top-up per crossing: a balance already at or below the threshold before the command
 *   crossed nothing, so a second decrement below the line adds nothing.
 * - At most one unpaid top-up per ledger: while a top-up's invoice is issued and unpaid, a new
 *   crossing adds nothing (the caller says whether one exists).
 * - Nothing before `active_from`: a top-up configured to start later does nothing while the
 *   decision's instant is before it; the first crossing at or after it tops up (a crossing before
 *   it is not remembered).
 * - A top-up the increment's rules refuse (domain/decideIncrement.ts INCREMENT_CHECKS, e.g. an
 *   invoice total that cannot be exact) is returned as the error and adds nothing: it must not
 *   fail the decrement or usage that crossed the threshold, and the caller reports it.
 * Pure: the caller gives the balance before the command, the configuration and the clock.
 */
import { DateTime } from 'luxon';
import type { Decimal } from './decimal.ts';
import { decideIncrement } from './decideIncrement.ts';
import type { LedgerDraft } from './ledgerDraft.ts';
import type { LedgerError } from './ledgerError.ts';
import type { DecisionContext, IncrementCommand, InvoiceSettings } from './types.ts';

export const TOP_UP_DESCRIPTION = 'Automatic top-up';

/** A (customer, currency) top-up as configured, its invoice settings resolved by the shell. */
export interface TopUpConfig {
  currency: string;
  amount: Decimal;
  threshold: Decimal;
  perUnitCostBasis: string;
  /** The customer's timezone: expires_after counts calendar days or months there. */
  timezone: string;
  invoice: Omit<InvoiceSettings, 'invoiceAt' | 'customDueAt' | 'markAsPaid' | 'itemId'>;
  expiresAfter: number | null;
  expiresAfterUnit: 'day' | 'month' | null;
  /** Orb's `active_from`: the instant from which the top-up acts; null means from its creation. */
  activeFrom: Date | null;
}

/** What the worker loads with the ledger: its top-up, if any, and whether one is unpaid. */
export interface TopUpState {
  config: TopUpConfig | null;
  unpaid: boolean;
}

/** Whether the top-up acts at `now`: not before its `active_from`. */
export function isTopUpActive(config: TopUpConfig, now: Date): boolean {
  return config.activeFrom === null || now.getTime() >= config.activeFrom.getTime();
}

/** Whether this change of balance calls for a top-up (the caller checks that it is active). */
export function needsTopUp(
  before: Decimal,
  after: Decimal,
  config: TopUpConfig,
  unpaidTopUpExists: boolean,
): boolean {
  if (unpaidTopUpExists) return false;
  return before.compare(config.threshold) > 0 && after.compare(config.threshold) <= 0;
}

/** The increment a top-up writes at `now`. */
export function topUpCommand(config: TopUpConfig, now: Date): IncrementCommand {
  const expiresAt =
    config.expiresAfter === null
      ? null
      : DateTime.fromJSDate(now, { zone: config.timezone })
          .plus(
            config.expiresAfterUnit === 'month'
              ? { months: config.expiresAfter }
              : { days: config.expiresAfter },
          )
          .toJSDate();
  return {
    type: 'increment',
    currency: config.currency,
    amount: config.amount,
    effectiveAt: null,
    expiresAt,
    perUnitCostBasis: config.perUnitCostBasis,
    filters: [],
    description: TOP_UP_DESCRIPTION,
    metadata: {},
    invoice: {
      ...config.invoice,
      invoiceAt: null,
      customDueAt: null,
      markAsPaid: false,
      itemId: null,
      topUp: true,
    },
    source: 'top_up',
  };
}

/**
 * Adds the top-up to the draft when the balance crossed the threshold, and says whether it did.
 * A top-up the rules refuse is a configuration the api should not have accepted: the draft is left
 * as it was (the increment's checks run before it changes anything) and the refusal is returned.
 */
export function decideTopUp(
  draft: LedgerDraft,
  balanceBefore: Decimal,
  config: TopUpConfig | null,
  unpaidTopUpExists: boolean,
  context: DecisionContext,
): { toppedUp: boolean; error?: LedgerError } {
  if (config === null || config.currency !== draft.currency || !isTopUpActive(config, context.now))
    return { toppedUp: false };
  if (!needsTopUp(balanceBefore, draft.balance, config, unpaidTopUpExists))
    return { toppedUp: false };
  const error = decideIncrement(topUpCommand(config, context.now), draft, context);
  return error ? { toppedUp: false, error } : { toppedUp: true };
}
