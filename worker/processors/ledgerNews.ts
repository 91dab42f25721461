/**
 * What a transaction must tell (ARCHITECTURE.md "Outbox"): each processor hands over the ledger
 * changes it saved, in the order it decided them, and the events of its own kinds; before commit,
 * `write` walks every changed ledger's watched balance through the customer's alerts in ledger
 * order (domain/alerts.ts), saves their state, and writes one webhook event per crossing and per
 * increment — in the same transaction, so a change that rolls back tells nothing.
 *
 * Events of one customer come out in ledger order: for each change, its increments and crossings
 * sorted by the sequence number of the entry that caused them (an increment before the crossing
 * it causes).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { watchAlerts, type WatchedAlert } from '../../domain/alerts.ts';
import { Decimal } from '../../domain/decimal.ts';
import type { LedgerChanges } from '../../domain/types.ts';
import {
  ALERT_EVENT_TYPES,
  type OutboxWriter,
  type WebhookEventDraft,
} from '../jobs/webhookEvents.ts';
import { newId } from '../runtime/ids.ts';
import {
  lockLedgerAlerts,
  saveAlertThresholds,
  type AlertRecord,
  type LockedAlert,
} from '../store/alerts.ts';

type News =
  | { kind: 'ledger'; customerId: string; changes: LedgerChanges }
  | { kind: 'event'; draft: WebhookEventDraft };

export class LedgerNews {
  private readonly news: News[] = [];

  /** A decision this transaction saved for `customerId`'s ledger (`changes.ledger.currency`). */
  ledgerChanged(customerId: string, changes: LedgerChanges): void {
    this.news.push({ kind: 'ledger', customerId, changes });
  }

  /** An event a kind made itself (a balance transaction, an invoice marked paid). */
  told(draft: WebhookEventDraft): void {
    this.news.push({ kind: 'event', draft });
  }

  /**
   * Evaluates the alerts, saves their state and writes every event handed over so far; call it
   * after the saves, and before anything changes an alert (it then starts afresh).
   */
  async write(em: EntityManager, now: Date, outbox: OutboxWriter): Promise<void> {
    if (this.news.length === 0) return;
    const news = this.news.splice(0);
    const customers = new Set<string>();
    for (const item of news) if (item.kind === 'ledger') customers.add(item.customerId);
    const alerts = customers.size > 0 ? await lockLedgerAlerts(em, [...customers]) : [];
    const stored = new Map(alerts.map((alert) => [alert.id, alert]));
    const byLedger = new Map<string, AlertRecord[]>();
    for (const alert of alerts) {
      const key = ledgerKey(alert.customerId, alert.currency);
      byLedger.set(key, [...(byLedger.get(key) ?? []), alert]);
    }
    /** Every alert of a changed ledger, with the ledger's next recheck: the last decision's. */
    const saved = new Map<string, { record: AlertRecord; recheckAt: Date | null }>();
    const drafts: WebhookEventDraft[] = [];
    for (const item of news) {
      if (item.kind === 'event') {
        drafts.push(item.draft);
        continue;
      }
      const { customerId, changes } = item;
      const key = ledgerKey(customerId, changes.ledger.currency);
      const records = byLedger.get(key) ?? [];
      const watched = watchAlerts(records.map(toWatched), changes.balancePoints);
      const after = records.map((record, index) => toRecord(record, watched.alerts[index]!));
      for (const record of after)
        saved.set(record.id, { record, recheckAt: changes.nextEffectiveAt });
      byLedger.set(key, after);
      // In the order of the walk: an increment at the step that appended it, before the crossings
      // of that step (a usage step may grow an older pending entry, so sequence numbers alone
      // would not say which came first).
      const made: { step: number; draft: WebhookEventDraft }[] = [];
      for (const entry of changes.entries)
        if (entry.entryType === 'increment')
          made.push({
            step: changes.balancePoints.findIndex(
              (point) => point.sequenceNumber === entry.ledgerSequenceNumber,
            ),
            draft: {
              id: newId(),
              createdAt: now,
              customerId,
              ledgerSequenceNumber: entry.ledgerSequenceNumber,
              facts: {
                type: 'customer.credit_ledger_incremented',
                blockId: entry.blockId,
                currency: entry.currency,
              },
            },
          });
      for (const crossing of watched.crossings) {
        const record = after.find((alert) => alert.id === crossing.alert.id)!;
        made.push({
          step: crossing.step,
          draft: {
            id: newId(),
            createdAt: now,
            customerId,
            ledgerSequenceNumber: crossing.sequenceNumber,
            facts: {
              type: ALERT_EVENT_TYPES[record.type],
              alert: toRecord(record, crossing.alert),
              balanceThreshold: crossing.threshold.toString(),
            },
          },
        });
      }
      // Stable: an increment and the crossings of one step keep the order they were made in.
      made.sort((a, b) => a.step - b.step);
      drafts.push(...made.map(({ draft }) => draft));
    }
    // Only the alerts whose state or recheck moved: most transactions cross nothing and keep
    // their recheck, and then make no statement at all (the statement itself skips such rows
    // too, but a round trip inside every ledger transaction is what 1,000 alerts cost most).
    await saveAlertThresholds(
      em,
      [...saved.values()]
        .filter(({ record, recheckAt }) => moved(stored.get(record.id)!, record, recheckAt))
        .map(({ record, recheckAt }) => ({
          id: record.id,
          customerId: record.customerId,
          thresholds: record.thresholds,
          recheckAt,
        })),
      now,
    );
    await outbox.append(em, drafts);
  }
}

/** Whether an alert's state or recheck differs from what its row holds. */
function moved(row: LockedAlert, after: AlertRecord, recheckAt: Date | null): boolean {
  return (
    (row.recheckAt?.getTime() ?? null) !== (recheckAt?.getTime() ?? null) ||
    row.thresholds.length !== after.thresholds.length ||
    row.thresholds.some(
      (threshold, index) =>
        threshold.value !== after.thresholds[index]!.value ||
        threshold.atOrBelow !== after.thresholds[index]!.atOrBelow,
    )
  );
}

function ledgerKey(customerId: string, currency: string): string {
  return `${customerId}\u0000${currency}`;
}

function toWatched(record: AlertRecord): WatchedAlert {
  return {
    id: record.id,
    type: record.type,
    currency: record.currency,
    enabled: record.enabled,
    thresholds: record.thresholds.map((threshold) => ({
      value: Decimal.of(threshold.value),
      atOrBelow: threshold.atOrBelow,
    })),
  };
}

function toRecord(record: AlertRecord, watched: WatchedAlert): AlertRecord {
  return {
    ...record,
    thresholds: watched.thresholds.map((threshold) => ({
      value: threshold.value.toString(),
      atOrBelow: threshold.atOrBelow,
    })),
  };
}
