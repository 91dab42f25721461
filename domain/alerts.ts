/**
 * Credit-balance alerts (Orb's `credit_balance_depleted`, `credit_balance_dropped`,
 * `credit_balance_recovered`), made exact:
 *
 * - The watched balance of a ledger is the sum of the balances of its live blocks: active (not
 *   `pending_payment`), not voided, effective and not expired at the instant — pending usage
 *   included, since usage draws the blocks down as it comes.
 * - Each threshold keeps one bit of state, "the balance is at or below it now". An alert fires
 *   when a threshold's bit turns on (depleted: threshold 0; dropped: each threshold on its own),
 *   or, for recovered, when the bit of its threshold 0 turns off. A drop across several
 *   thresholds fires each once, highest first, then depleted; a disabled alert keeps its state
 *   and fires nothing.
 * - The balance is watched in ledger order: `watchAlerts` takes the balance after each step of
 *   the ledger (an entry appended or a pending usage entry grown, `BalancePoint`) and returns the
 *   crossings with the sequence number of the entry that caused each.
 */
import { Decimal } from './decimal.ts';
import { isLive } from './drawdown.ts';
import type { Block } from './types.ts';

export const ALERT_TYPES = [
  'credit_balance_depleted',
  'credit_balance_dropped',
  'credit_balance_recovered',
] as const;
export type AlertType = (typeof ALERT_TYPES)[number];

export interface AlertThreshold {
  value: Decimal;
  /** The watched balance is at or below `value` now. */
  atOrBelow: boolean;
}

/** One alert configuration with its state, as the shell loads it for a ledger. */
export interface WatchedAlert {
  id: string;
  type: AlertType;
  currency: string;
  enabled: boolean;
  /** Dropped: the configured thresholds; depleted and recovered: the one threshold 0. */
  thresholds: AlertThreshold[];
}

/** The watched balance right after the ledger step numbered `sequenceNumber`. */
export interface BalancePoint {
  sequenceNumber: number;
  balance: Decimal;
}

export interface AlertCrossing {
  alert: WatchedAlert;
  /** The threshold crossed (0 for depleted and recovered). */
  threshold: Decimal;
  /** The entry whose step crossed it. */
  sequenceNumber: number;
  /** The index of that step among the points walked: events of one walk sort by it. */
  step: number;
  /** The watched balance right after that step. */
  balance: Decimal;
}

/** The sum of the balances of the blocks that count at `at` (see the module comment). */
export function watchedBalance(blocks: readonly Block[], at: Date): Decimal {
  return Decimal.saturating(watchedUnits(blocks, at));
}

/** The watched balance in units, unbounded: a sum of in-range balances may leave the range. */
export function watchedUnits(blocks: readonly Block[], at: Date): bigint {
  let sum = 0n;
  for (const block of blocks) if (countsTowardAlerts(block, at)) sum += block.balance.units;
  return sum;
}

export function countsTowardAlerts(block: Block, at: Date): boolean {
  return isLive(block, at);
}

/**
 * When the watched balance next changes by itself: the earliest effective date after `at` of a
 * block that holds (or owes) credit. Time alone makes no entry, so the ledger is looked at again
 * then (the alert recheck sweep); expiries need no such date, their sweep writes entries.
 */
export function nextEffectiveAt(blocks: Iterable<Block>, at: Date): Date | null {
  let next: Date | null = null;
  for (const block of blocks) {
    if (block.balance.isZero() || block.status !== 'active' || block.voidedAt !== null) continue;
    if (block.effectiveAt.getTime() <= at.getTime()) continue;
    if (block.expiresAt !== null && block.expiresAt.getTime() <= block.effectiveAt.getTime())
      continue;
    if (next === null || block.effectiveAt.getTime() < next.getTime()) next = block.effectiveAt;
  }
  return next;
}

/** The thresholds an alert of `type` watches: dropped its own, the others 0. */
export function alertThresholds(type: AlertType, configured: readonly Decimal[]): Decimal[] {
  if (type !== 'credit_balance_dropped') return [Decimal.ZERO];
  const unique = new Map(configured.map((value) => [value.toString(), value]));
  return [...unique.values()].sort((a, b) => b.compare(a));
}

/**
 * The state of a new alert or of new thresholds, from the balance now: a threshold the balance is
 * already at or below is in alert, and nothing fires for it (no retroactive events).
 */
export function initialThresholds(
  type: AlertType,
  configured: readonly Decimal[],
  balance: Decimal,
): AlertThreshold[] {
  return alertThresholds(type, configured).map((value) => ({
    value,
    atOrBelow: balance.compare(value) <= 0,
  }));
}

/**
 * Orb's `in_alert` of a threshold: depleted and dropped are in alert while the balance is at or
 * below; recovered while it is above zero (the condition it reports holds).
 */
export function inAlert(type: AlertType, atOrBelow: boolean): boolean {
  return type === 'credit_balance_recovered' ? !atOrBelow : atOrBelow;
}

/** Depleted and dropped fire going down; recovered going up: the order within one step. */
const STEP_ORDER: Record<AlertType, number> = {
  credit_balance_dropped: 0,
  credit_balance_depleted: 1,
  credit_balance_recovered: 2,
};

/**
 * Walks the points in order and returns every crossing (of enabled alerts) and every alert's state
 * after the last point. The alerts are those of one ledger; `alerts` is not changed. A crossing
 * carries the alert as it stood right after its step, so that the event reports that state.
 */
export function watchAlerts(
  alerts: readonly WatchedAlert[],
  points: readonly BalancePoint[],
): { alerts: WatchedAlert[]; crossings: AlertCrossing[] } {
  const current = new Map(alerts.map((alert) => [alert.id, alert]));
  const ordered = [...alerts].sort((a, b) => STEP_ORDER[a.type] - STEP_ORDER[b.type]);
  const crossings: AlertCrossing[] = [];
  for (const [step, point] of points.entries()) {
    for (const { id } of ordered) {
      const alert = current.get(id)!;
      const fired: Decimal[] = [];
      // Thresholds are kept highest first, so a drop across several fires them in that order.
      const thresholds = alert.thresholds.map((threshold) => {
        const atOrBelow = point.balance.compare(threshold.value) <= 0;
        if (atOrBelow === threshold.atOrBelow) return threshold;
        if (alert.type === 'credit_balance_recovered' ? !atOrBelow : atOrBelow)
          fired.push(threshold.value);
        return { ...threshold, atOrBelow };
      });
      if (thresholds.every((threshold, index) => threshold === alert.thresholds[index])) continue;
      const after = { ...alert, thresholds };
      current.set(id, after);
      if (!alert.enabled) continue;
      for (const threshold of fired)
        crossings.push({
          alert: after,
          threshold,
          sequenceNumber: point.sequenceNumber,
          step,
          balance: point.balance,
        });
    }
  }
  return { alerts: alerts.map((alert) => current.get(alert.id)!), crossings };
}
