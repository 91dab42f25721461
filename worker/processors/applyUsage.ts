/**
 * Applies a batch of usage events for one partition (ARCHITECTURE.md step 5), in one transaction:
 * price each event, insert the events (a repeated idempotency key is dropped and counted), list
 * the new ones per (customer, currency) in the order the service accepted them (the jobs' order,
 * then each job's), and decide each touched ledger with the pure `decideUsage`: each event draws
 * from the blocks drawable at its own timestamp (LEDGER_RULES.md §5), so the order matters. Redelivery is harmless: the insert finds every event already there and
 * nothing is deducted twice.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Duration } from 'luxon';
import { decideUsage } from '../../domain/decideUsage.ts';
import { priceEvent, type PropertyValue, type UsagePrice } from '../../domain/priceEvent.ts';
import type { UsageCharge } from '../../domain/types.ts';
import { UsageDayCache } from '../../domain/usageDay.ts';
import { JsonNumber, parseExactJson, stringifyExactJson } from '../runtime/exactJson.ts';
import { newId } from '../runtime/ids.ts';
import { jobCatalog, type JobPayload } from '../jobs/queues.ts';
import {
  insertEventsAndLoadLedgers,
  loadPricingContext,
  saveUsage,
  type EventRecord,
  type UsageLedgerKey,
} from '../store/usageRepository.ts';
import { applyingTransaction } from '../partitionFence.ts';
import { withTransientRetry } from '../runtime/transientRetry.ts';
import { countWritten, type WrittenCounts } from '../writtenCounts.ts';
import type { ProcessorDeps } from './processorDeps.ts';

export interface UsageResult {
  received: number;
  duplicates: number;
  applied: number;
  unpriced: number;
  invalid: number;
  written: WrittenCounts;
}

/** An event with the instant its job was accepted. */
type UsageEvent = JobPayload<'usage.apply'>['events'][number] & { accepted_at: string };

/** Numbers keep their digits as `{ numberText }`; nested values price nothing (Orb forbids them). */
function propertyValues(properties: unknown): Record<string, PropertyValue> {
  const values: Record<string, PropertyValue> = {};
  for (const [key, value] of Object.entries(properties as Record<string, unknown>)) {
    values[key] =
      value instanceof JsonNumber
        ? { numberText: value.source }
        : typeof value === 'string' || typeof value === 'boolean'
          ? value
          : null;
  }
  return values;
}

interface PricedEvent {
  record: EventRecord;
  group?: UsageCharge & { customerId: string; currency: string };
}

function price(
  event: UsageEvent,
  prices: Map<string, UsagePrice>,
  timezone: string,
  days: UsageDayCache,
): PricedEvent {
  const properties = parseExactJson(event.properties_json);
  const record: EventRecord = {
    idempotency_key: event.idempotency_key,
    customer_id: event.customer_id,
    external_customer_id: event.external_customer_id,
    event_name: event.event_name,
    timestamp: event.timestamp,
    properties,
    status: 'unpriced',
    price_id: null,
    credits: null,
    usage_day: null,
    ingested_at: event.accepted_at,
  };
  const usagePrice = prices.get(event.event_name);
  if (!usagePrice) return { record };
  const day = days.dayOf(new Date(event.timestamp), timezone);
  const pricing = priceEvent(usagePrice, propertyValues(properties));
  if (pricing.status === 'invalid_quantity')
    return { record: { ...record, status: 'invalid_quantity', price_id: usagePrice.id } };
  return {
    record: {
      ...record,
      status: 'applied',
      price_id: usagePrice.id,
      credits: pricing.credits.toString(),
      usage_day: day.usageDay,
    },
    group: {
      customerId: event.customer_id,
      currency: usagePrice.currency,
      priceId: usagePrice.id,
      itemId: usagePrice.itemId,
      usageDay: day.usageDay,
      at: new Date(event.timestamp),
      closesAt: day.closesAt,
      credits: pricing.credits,
    },
  };
}

/** Every ledger and usage day the priced events belong to, whether or not they turn out new. */
function ledgerKeys(priced: PricedEvent[]): UsageLedgerKey[] {
  const keys = new Map<string, UsageLedgerKey>();
  for (const { group } of priced) {
    if (!group) continue;
    const ledgerKey = `${group.customerId}\u0000${group.currency}`;
    const key = keys.get(ledgerKey) ?? {
      customerId: group.customerId,
      currency: group.currency,
      usageDays: [],
    };
    if (!key.usageDays.includes(group.usageDay)) key.usageDays.push(group.usageDay);
    keys.set(ledgerKey, key);
  }
  return [...keys.values()];
}

/** The new events' charges per ledger, in acceptance order (the order of `priced`). */
function chargesByLedger(priced: PricedEvent[], inserted: Set<string>): Map<string, UsageCharge[]> {
  const ledgers = new Map<string, UsageCharge[]>();
  for (const { record, group } of priced) {
    if (!group || !inserted.has(record.idempotency_key)) continue;
    const ledgerKey = `${group.customerId}\u0000${group.currency}`;
    const charges = ledgers.get(ledgerKey) ?? [];
    ledgers.set(ledgerKey, charges);
    charges.push({
      priceId: group.priceId,
      itemId: group.itemId,
      usageDay: group.usageDay,
      at: group.at,
      closesAt: group.closesAt,
      credits: group.credits,
    });
  }
  return ledgers;
}

/**
 * The first event of each idempotency key. One batch can hold a key twice: a job delivered twice
 * and taken as its own follower (worker/jobs/usageFollowers.ts), or a client's retry coalesced into
 * the same job as its first attempt. Postgres refuses an `on conflict do update` that meets one
 * key twice in one statement ("cannot affect row a second time"), which failed the whole job and
 * lost every event in it; the repeats are dropped here instead, like repeats across batches.
 */
function firstOfEachKey(events: UsageEvent[]): UsageEvent[] {
  const seen = new Set<string>();
  return events.filter(
    (event) => !seen.has(event.idempotency_key) && seen.add(event.idempotency_key),
  );
}

async function applyBatch(
  em: EntityManager,
  events: UsageEvent[],
  deps: ProcessorDeps & { gracePeriod: Duration },
): Promise<UsageResult> {
  const now = deps.clock.now();
  const unique = firstOfEachKey(events);
  const { prices, timezones } = await loadPricingContext(
    em,
    [...new Set(unique.map((event) => event.event_name))],
    [...new Set(unique.map((event) => event.customer_id))],
  );
  const days = new UsageDayCache(deps.gracePeriod);
  const priced = unique.map((event) =>
    price(event, prices, timezones.get(event.customer_id) ?? 'UTC', days),
  );
  const { inserted, ledgers: loaded } = await insertEventsAndLoadLedgers(
    em,
    stringifyExactJson(priced.map((event) => event.record)),
    ledgerKeys(priced),
    now,
  );
  const ledgers = chargesByLedger(priced, inserted);
  let written: WrittenCounts = {};
  // Ledgers were loaded for every priced event; only those a new event touches are decided.
  const touched = loaded.filter((ledger) =>
    ledgers.has(`${ledger.customerId}\u0000${ledger.ledger.currency}`),
  );
  if (touched.length > 0) {
    const decisions = touched.map((ledger) => ({
      customerId: ledger.customerId,
      changes: decideUsage(
        ledger.ledger,
        ledger.blocks,
        ledger.pending,
        ledgers.get(`${ledger.customerId}\u0000${ledger.ledger.currency}`) ?? [],
        { now, newId },
        ledger.topUp,
      ),
    }));
    await saveUsage(em, decisions);
    written = countWritten(decisions.map((decision) => decision.changes));
  }
  const fresh = priced.filter((event) => inserted.has(event.record.idempotency_key));
  return {
    received: events.length,
    duplicates: events.length - inserted.size,
    applied: fresh.filter((event) => event.record.status === 'applied').length,
    unpriced: fresh.filter((event) => event.record.status === 'unpriced').length,
    invalid: fresh.filter((event) => event.record.status === 'invalid_quantity').length,
    written,
  };
}

/** Applies one or more usage jobs' events (the running job and those behind it) together. */
export async function applyUsage(
  jobs: unknown[],
  deps: ProcessorDeps & { gracePeriod: Duration },
): Promise<UsageResult> {
  const payloads = jobs.map((data) => jobCatalog['usage.apply'].payload.parse(data));
  const events = payloads.flatMap((each) =>
    each.events.map((event) => ({ ...event, accepted_at: each.accepted_at })),
  );
  return withTransientRetry(() => applyingTransaction(deps, (em) => applyBatch(em, events, deps)));
}
