/**
 * After a fault run has stopped and its queues have drained: is everything the service
 * acknowledged applied exactly once? Read straight from Postgres, against what the load recorded.
 *
 * - Every accepted event (200 from /v1/ingest) has its row in `events`, `applied`, for its
 *   customer, priced at what was sent; per customer, Σ applied event credits = Σ accepted, and
 *   the usage decrements (`price_id` set) sum to minus that: an event applied twice, or lost,
 *   shows in both.
 * - Every ledger write answered 2xx has exactly one request under its Idempotency-Key,
 *   `committed`, whose entries sum to the signed amount sent; a 202 is polled to its end through
 *   `GET /v1/ledger_requests/{id}` first. No request exists without a key (the load always sends
 *   one), so a write cannot have been accepted twice.
 * - Per customer, the ledger's balance = Σ acknowledged increments − decrements − usage.
 * - Acceptance order: per customer and ledger, the entries of its committed requests follow
 *   `requests.accepted_seq` (every entry of a request comes after every entry of each request
 *   accepted before it), whatever partition, job or redelivery applied them.
 * - `verifyDatabase` (scripts/verify.ts) finds no violation.
 */
import pg from 'pg';
import { Decimal } from '../../domain/decimal.ts';
import { verifyDatabase } from '../verify.ts';
import { httpRequest } from './http.ts';
import { HUNDREDTHS_PER_CREDIT, type LoadResult, type LoadTarget } from './mixedLoad.ts';

const POLL_TIMEOUT_MS = 60_000;
const POLL_EVERY_MS = 200;
const UNITS_PER_HUNDREDTH = 10n ** 10n;

export interface AuditResult {
  eventsAccepted: number;
  eventsApplied: number;
  eventsLost: number;
  /** Events applied without a 200 for them (sent, but never acknowledged within the window). */
  eventsUnacknowledged: number;
  writesAcknowledged: number;
  writesCommitted: number;
  writesPolled: number;
  /** Committed requests with entries whose order was checked, over this many customers. */
  ordered: { requests: number; customers: number; outOfOrder: number };
  verified: { ledgers: number; entries: number };
  violations: string[];
}

/** Credits text from Postgres in hundredths; amounts here never have more than two decimals. */
function hundredths(text: string | null): bigint {
  const { units } = Decimal.of(text ?? '0');
  if (units % UNITS_PER_HUNDREDTH !== 0n)
    throw new Error(`amount ${text} has more than two decimals`);
  return units / UNITS_PER_HUNDREDTH;
}

const credits = (value: bigint) => {
  const sign = value < 0n ? '-' : '';
  const abs = value < 0n ? -value : value;
  return `${sign}${abs / HUNDREDTHS_PER_CREDIT}.${String(abs % HUNDREDTHS_PER_CREDIT).padStart(2, '0')}`;
};

/** Polls each 202 to `committed` or `failed`; answers the ones still not finished. */
async function pollAccepted(
  target: LoadTarget,
  load: LoadResult,
  violations: string[],
): Promise<number> {
  const deadline = Date.now() + POLL_TIMEOUT_MS;
  let polled = 0;
  for (const write of load.writes.values()) {
    if (write.requestId === undefined) continue;
    for (;;) {
      const answer = await httpRequest(
        'GET',
        `${target.baseUrl}/v1/ledger_requests/${write.requestId}`,
        target.apiKey,
        undefined,
        {},
        10_000,
      ).catch(() => undefined);
      const status =
        answer?.status === 200 ? (JSON.parse(answer.text) as { status: string }).status : undefined;
      if (status === 'committed' || status === 'failed') {
        polled += 1;
        if (status === 'failed')
          violations.push(
            `write ${write.key} was answered 202 (request ${write.requestId}) but failed: ${answer?.text.slice(0, 300)}`,
          );
        break;
      }
      if (Date.now() > deadline) {
        violations.push(
          `write ${write.key} (request ${write.requestId}) is still ${status ?? `unreadable (${answer?.status})`} after ${POLL_TIMEOUT_MS / 1000} s`,
        );
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_EVERY_MS));
    }
  }
  return polled;
}

async function auditEvents(
  db: pg.Client,
  load: LoadResult,
  keyPrefix: string,
  violations: string[],
) {
  const { rows } = await db.query<{
    idempotency_key: string;
    customer_id: string | null;
    status: string;
    credits: string | null;
  }>(
    `select idempotency_key, customer_id, status, credits::text as credits from events where idempotency_key like $1`,
    [`${keyPrefix}-event-%`],
  );
  const applied = new Map(rows.map((row) => [row.idempotency_key, row]));
  let lost = 0;
  for (const event of load.events.values()) {
    const row = applied.get(event.key);
    if (!row) {
      lost += 1;
      if (lost <= 10)
        violations.push(
          `event ${event.key} (customer ${event.customerId}) was accepted but never applied`,
        );
      continue;
    }
    if (
      row.status !== 'applied' ||
      row.customer_id !== event.customerId ||
      hundredths(row.credits) !== event.creditsHundredths
    ) {
      violations.push(
        `event ${event.key}: stored ${row.status} for ${row.customer_id} at ${row.credits}, sent ${credits(event.creditsHundredths)} for ${event.customerId}`,
      );
    }
  }
  if (lost > 10) violations.push(`… ${lost} accepted events in all were never applied`);
  const unacknowledged = rows.filter((row) => !load.events.has(row.idempotency_key)).length;
  return { applied: rows.length - unacknowledged, lost, unacknowledged };
}

async function auditWrites(
  db: pg.Client,
  load: LoadResult,
  keyPrefix: string,
  violations: string[],
): Promise<number> {
  const { rows } = await db.query<{
    key: string;
    request_id: string | null;
    customer_id: string | null;
    status: string | null;
    entries: number;
    amount: string | null;
  }>(
    `select k.key, r.id as request_id, r.customer_id, r.status,
            (select count(*)::int from ledger_entries e where e.request_id = r.id) as entries,
            (select sum(e.amount)::text from ledger_entries e where e.request_id = r.id) as amount
       from idempotency_keys k left join requests r on r.id = k.request_id
      where k.key like $1`,
    [`${keyPrefix}-%`],
  );
  const byKey = new Map(rows.map((row) => [row.key, row]));
  let committed = 0;
  for (const write of load.writes.values()) {
    const row = byKey.get(write.key);
    const signed =
      write.entryType === 'increment' ? write.amountHundredths : -write.amountHundredths;
    if (!row?.request_id) {
      violations.push(
        `write ${write.key} was answered ${write.status} but no request is stored under its key`,
      );
    } else if (
      row.status !== 'committed' ||
      row.entries < 1 ||
      hundredths(row.amount) !== signed ||
      row.customer_id !== write.customerId
    ) {
      violations.push(
        `write ${write.key}: request ${row.request_id} is ${row.status} with ${row.entries} entries summing to ${row.amount} for ${row.customer_id}; ` +
          `sent ${write.entryType} ${credits(write.amountHundredths)} for ${write.customerId}`,
      );
    } else {
      committed += 1;
    }
  }
  const keyless = await db.query<{ id: string }>(
    `select r.id from requests r where r.kind = 'ledger_entry' and not exists (select 1 from idempotency_keys k where k.request_id = r.id) limit 10`,
  );
  for (const { id } of keyless.rows)
    violations.push(`ledger request ${id} has no Idempotency-Key: a write accepted twice?`);
  return committed;
}

/** Balances and usage totals per customer against what the load was told. */
async function auditCustomers(
  db: pg.Client,
  load: LoadResult,
  violations: string[],
): Promise<void> {
  const expectedUsage = new Map<string, bigint>();
  const expectedBalance = new Map<string, bigint>();
  for (const event of load.events.values()) {
    expectedUsage.set(
      event.customerId,
      (expectedUsage.get(event.customerId) ?? 0n) + event.creditsHundredths,
    );
    expectedBalance.set(
      event.customerId,
      (expectedBalance.get(event.customerId) ?? 0n) - event.creditsHundredths,
    );
  }
  for (const write of load.writes.values()) {
    const signed =
      write.entryType === 'increment' ? write.amountHundredths : -write.amountHundredths;
    expectedBalance.set(write.customerId, (expectedBalance.get(write.customerId) ?? 0n) + signed);
  }
  const { rows } = await db.query<{
    id: string;
    balance: string | null;
    event_credits: string | null;
    usage_entries: string | null;
  }>(
    `select c.id,
            (select balance::text from ledgers l where l.customer_id = c.id and l.currency = 'credits') as balance,
            (select sum(credits)::text from events e where e.customer_id = c.id and e.status = 'applied') as event_credits,
            (select sum(amount)::text from ledger_entries e where e.customer_id = c.id and e.price_id is not null) as usage_entries
       from customers c where c.id = any($1)`,
    [load.customers],
  );
  for (const row of rows) {
    const usage = expectedUsage.get(row.id) ?? 0n;
    const balance = expectedBalance.get(row.id) ?? 0n;
    if (hundredths(row.event_credits) !== usage) {
      violations.push(
        `customer ${row.id}: applied events total ${row.event_credits}, accepted events total ${credits(usage)}`,
      );
    }
    if (hundredths(row.usage_entries) !== -usage) {
      violations.push(
        `customer ${row.id}: usage decrements total ${row.usage_entries}, accepted events total ${credits(usage)}`,
      );
    }
    if (hundredths(row.balance) !== balance) {
      violations.push(
        `customer ${row.id}: balance ${row.balance}, acknowledged writes and usage make ${credits(balance)}`,
      );
    }
  }
  if (rows.length !== load.customers.length)
    violations.push(`${load.customers.length - rows.length} customers are missing`);
}

/**
 * Per (customer, ledger): committed requests with entries, in `accepted_seq` order; each one's
 * lowest ledger sequence number must be above the highest of the request before it. A request
 * applied ahead of an earlier-accepted one of its customer (a job Redis lost, overtaken by a
 * later one; a redelivery; a second worker) shows as an inversion.
 */
async function auditAcceptanceOrder(
  db: pg.Client,
  customers: string[],
  violations: string[],
): Promise<AuditResult['ordered']> {
  const { rows } = await db.query<{
    customer_id: string;
    currency: string;
    id: string;
    accepted_seq: string;
    first: number;
    previous_id: string | null;
    previous_seq: string | null;
    previous_last: number | null;
  }>(
    `with applied as (
       select r.customer_id, e.currency, r.id, r.accepted_seq,
              min(e.ledger_sequence_number) as first, max(e.ledger_sequence_number) as last
         from requests r join ledger_entries e on e.request_id = r.id and e.customer_id = r.customer_id
        where r.status = 'committed' and r.customer_id = any($1)
        group by r.customer_id, e.currency, r.id, r.accepted_seq),
     lined as (
       select a.*, lag(id) over w as previous_id, lag(accepted_seq) over w as previous_seq,
              lag(last) over w as previous_last
         from applied a
       window w as (partition by customer_id, currency order by accepted_seq))
     select customer_id, currency, id, accepted_seq::text, first, previous_id,
            previous_seq::text, previous_last
       from lined`,
    [customers],
  );
  let outOfOrder = 0;
  for (const row of rows) {
    if (row.previous_last === null || row.first > row.previous_last) continue;
    outOfOrder += 1;
    if (outOfOrder <= 10)
      violations.push(
        `customer ${row.customer_id} (${row.currency}): request ${row.id} (accepted_seq ${row.accepted_seq}) has entry #${row.first}, ` +
          `not after #${row.previous_last} of ${row.previous_id} accepted before it (accepted_seq ${row.previous_seq})`,
      );
  }
  if (outOfOrder > 10)
    violations.push(`… ${outOfOrder} requests in all were applied out of acceptance order`);
  return {
    requests: rows.length,
    customers: new Set(rows.map((row) => row.customer_id)).size,
    outOfOrder,
  };
}

export async function auditLedger(
  target: LoadTarget,
  databaseUrl: string,
  load: LoadResult,
): Promise<AuditResult> {
  const violations: string[] = [];
  const polled = await pollAccepted(target, load, violations);
  const db = new pg.Client({
    connectionString: databaseUrl,
    application_name: 'credits-faults-audit',
  });
  await db.connect();
  try {
    const events = await auditEvents(db, load, target.keyPrefix, violations);
    const committed = await auditWrites(db, load, target.keyPrefix, violations);
    await auditCustomers(db, load, violations);
    const ordered = await auditAcceptanceOrder(db, load.customers, violations);
    const verified = await verifyDatabase(databaseUrl);
    violations.push(...verified.violations.map((violation) => `verify: ${violation}`));
    return {
      eventsAccepted: load.events.size,
      eventsApplied: events.applied,
      eventsLost: events.lost,
      eventsUnacknowledged: events.unacknowledged,
      writesAcknowledged: load.writes.size,
      writesCommitted: committed,
      writesPolled: polled,
      ordered,
      verified: { ledgers: verified.ledgers, entries: verified.entries },
      violations,
    };
  } finally {
    await db.end();
  }
}
