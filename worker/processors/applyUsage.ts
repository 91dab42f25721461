/**
 * Applies the usage events accepted for customers of one partition (ARCHITECTURE.md step 5). The
 * events are in Postgres (the api wrote them before answering); the jobs only say whose, and up
 * to which place in line. In one transaction per ACCEPTED_EVENTS_PER_TRANSACTION_MAX events: lock
 * the customers, then read their events in acceptance order with their prices (usage_claim.sql:
 * two usage jobs of one customer on two partitions, during a partition-count change, take turns
 * and the second finds only what is left), price each, load every ledger they touch, decide
 * each ledger with the pure `decideUsage` (each event draws from the blocks drawable at its own
 * timestamp, LEDGER_RULES.md §5, so the order matters), then mark the events and write the
 * ledgers together. Redelivery is harmless: an applied event is no longer accepted, so nothing is
 * deducted twice.
 *
 * Jobs of older versions carried their events: those are written as accepted in the first
 * transaction (a repeat of a known key is dropped) and applied with the rest.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Duration } from 'luxon';
import { decideUsage } from '../../domain/decideUsage.ts';
import type { LedgerError } from '../../domain/ledgerError.ts';
import { priceEvent } from '../../domain/priceEvent.ts';
import type { UsageCharge } from '../../domain/types.ts';
import { UsageDayCache } from '../../domain/usageDay.ts';
import { newId } from '../runtime/ids.ts';
import { jobCatalog } from '../jobs/queues.ts';
import {
  claimAcceptedEvents,
  insertQueuedEvents,
  loadUsageLedgers,
  saveAppliedEvents,
  type AppliedEvent,
  type ClaimedEvent,
  type QueuedEvent,
  type UsageLedgerKey,
} from '../store/usageRepository.ts';
import { applyingTransaction } from '../partitionFence.ts';
import { LedgerNews } from './ledgerNews.ts';
import { withTransientRetry } from '../runtime/transientRetry.ts';
import { countWritten, type WrittenCounts } from '../writtenCounts.ts';
import type { ProcessorDeps } from './processorDeps.ts';

/**
 * Events one transaction applies at most: large enough that a backlog drains in few
 * transactions, small enough that one holds its customers' locks for well under a second.
 */
export const ACCEPTED_EVENTS_PER_TRANSACTION_MAX = 5_000;

export interface UsageResult {
  received: number;
  duplicates: number;
  applied: number;
  unpriced: number;
  invalid: number;
  written: WrittenCounts;
}

type UsageDeps = ProcessorDeps & { gracePeriod: Duration };

interface PricedEvent {
  applied: AppliedEvent;
  charge?: UsageCharge & { customerId: string; currency: string };
}

function price(event: ClaimedEvent, days: UsageDayCache): PricedEvent {
  const unpriced: AppliedEvent = {
    idempotencyKey: event.idempotencyKey,
    status: 'unpriced',
    priceId: null,
    credits: null,
    usageDay: null,
  };
  const usagePrice = event.price;
  if (!usagePrice) return { applied: unpriced };
  const pricing = priceEvent(
    usagePrice,
    usagePrice.quantityProperty === null ? {} : { [usagePrice.quantityProperty]: event.quantity },
  );
  if (pricing.status === 'invalid_quantity')
    return { applied: { ...unpriced, status: 'invalid_quantity', priceId: usagePrice.id } };
  const at = new Date(event.at);
  const day = days.dayOf(at, event.timezone);
  return {
    applied: {
      ...unpriced,
      status: 'applied',
      priceId: usagePrice.id,
      credits: pricing.credits.toString(),
      usageDay: day.usageDay,
    },
    charge: {
      customerId: event.customerId,
      currency: usagePrice.currency,
      priceId: usagePrice.id,
      itemId: usagePrice.itemId,
      usageDay: day.usageDay,
      at,
      closesAt: day.closesAt,
      credits: pricing.credits,
    },
  };
}

const ledgerKeyOf = (customerId: string, currency: string) => `${customerId}\u0000${currency}`;

/** The charges per ledger, in acceptance order, and every usage day each ledger needs loaded. */
function chargesByLedger(priced: PricedEvent[]): {
  charges: Map<string, UsageCharge[]>;
  keys: UsageLedgerKey[];
} {
  const charges = new Map<string, UsageCharge[]>();
  const keys = new Map<string, UsageLedgerKey>();
  for (const { charge } of priced) {
    if (!charge) continue;
    const ledgerKey = ledgerKeyOf(charge.customerId, charge.currency);
    let key = keys.get(ledgerKey);
    if (!key) {
      key = { customerId: charge.customerId, currency: charge.currency, usageDays: [] };
      keys.set(ledgerKey, key);
      charges.set(ledgerKey, []);
    }
    if (!key.usageDays.includes(charge.usageDay)) key.usageDays.push(charge.usageDay);
    charges.get(ledgerKey)!.push(charge);
  }
  return { charges, keys: [...keys.values()] };
}

/** Applies the next accepted events of these customers up to `throughSeq`; answers how many. */
/** A top-up the threshold called for that the rules refused (domain/decideUsage.ts). */
interface RefusedTopUp {
  customerId: string;
  error: LedgerError;
}

async function applyAccepted(
  em: EntityManager,
  customerIds: string[],
  throughSeq: string,
  deps: UsageDeps,
): Promise<{ claimed: number; result: UsageResult; topUpsRefused: RefusedTopUp[] }> {
  const now = deps.clock.now();
  const claimed = await claimAcceptedEvents(
    em,
    customerIds,
    throughSeq,
    ACCEPTED_EVENTS_PER_TRANSACTION_MAX,
  );
  const days = new UsageDayCache(deps.gracePeriod);
  const priced = claimed.map((event) => price(event, days));
  const { charges, keys } = chargesByLedger(priced);
  const loaded = await loadUsageLedgers(em, keys, now);
  const decisions = loaded.map((ledger) => ({
    customerId: ledger.customerId,
    changes: decideUsage(
      ledger.ledger,
      ledger.blocks,
      ledger.pending,
      charges.get(ledgerKeyOf(ledger.customerId, ledger.ledger.currency)) ?? [],
      { now, newId },
      ledger.topUp,
    ),
  }));
  if (claimed.length > 0)
    await saveAppliedEvents(
      em,
      priced.map((event) => event.applied),
      decisions,
    );
  const news = new LedgerNews();
  for (const { customerId, changes } of decisions) news.ledgerChanged(customerId, changes);
  await news.write(em, now, deps.outbox);
  const count = (status: AppliedEvent['status']) =>
    priced.filter((event) => event.applied.status === status).length;
  return {
    claimed: claimed.length,
    topUpsRefused: decisions.flatMap(({ customerId, changes }) =>
      changes.topUpRefused ? [{ customerId, error: changes.topUpRefused }] : [],
    ),
    result: {
      received: claimed.length,
      duplicates: 0,
      applied: count('applied'),
      unpriced: count('unpriced'),
      invalid: count('invalid_quantity'),
      written: countWritten(decisions.map((decision) => decision.changes)),
    },
  };
}

function sum(a: UsageResult, b: UsageResult): UsageResult {
  const written: WrittenCounts = { ...a.written };
  for (const [key, value] of Object.entries(b.written))
    written[key as keyof WrittenCounts] = (written[key as keyof WrittenCounts] ?? 0) + value;
  return {
    received: a.received + b.received,
    duplicates: a.duplicates + b.duplicates,
    applied: a.applied + b.applied,
    unpriced: a.unpriced + b.unpriced,
    invalid: a.invalid + b.invalid,
    written,
  };
}

const EMPTY: UsageResult = {
  received: 0,
  duplicates: 0,
  applied: 0,
  unpriced: 0,
  invalid: 0,
  written: {},
};

/** Applies what one or more usage jobs (the running job and those behind it) ring for, together. */
export async function applyUsage(jobs: unknown[], deps: UsageDeps): Promise<UsageResult> {
  const customers = new Set<string>();
  let throughSeq = 0n;
  const queued: QueuedEvent[] = [];
  for (const data of jobs) {
    const payload = jobCatalog['usage.apply'].payload.parse(data);
    if ('events' in payload) {
      for (const event of payload.events) {
        queued.push({ ...event, accepted_at: payload.accepted_at });
        customers.add(event.customer_id);
      }
      continue;
    }
    for (const customerId of payload.customer_ids) customers.add(customerId);
    if (BigInt(payload.through_seq) > throughSeq) throughSeq = BigInt(payload.through_seq);
  }
  const customerIds = [...customers];
  let total: UsageResult = EMPTY;
  let carried = queued;
  for (;;) {
    const { claimed, result, through, duplicates, topUpsRefused } = await withTransientRetry(() =>
      applyingTransaction(deps, async (em) => {
        // Written in the first transaction only: once it commits, they are accepted like any.
        const written =
          carried.length > 0
            ? await insertQueuedEvents(em, carried)
            : { written: 0, acceptedSeqMax: null };
        const seq = written.acceptedSeqMax === null ? 0n : BigInt(written.acceptedSeqMax);
        const through = seq > throughSeq ? seq : throughSeq;
        const applied = await applyAccepted(em, customerIds, through.toString(), deps);
        return { ...applied, through, duplicates: carried.length - written.written };
      }),
    );
    // Logged once committed: a rolled-back attempt refused nothing.
    for (const { customerId, error } of topUpsRefused)
      deps.logger.warn(
        { customerId, code: error.code, detail: error.detail },
        'automatic top-up refused; the usage that crossed its threshold applied without it',
      );
    carried = [];
    throughSeq = through;
    total = sum(total, { ...result, received: result.received + duplicates, duplicates });
    if (claimed < ACCEPTED_EVENTS_PER_TRANSACTION_MAX) return total;
  }
}
