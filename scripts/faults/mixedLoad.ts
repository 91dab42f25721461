/**
 * Steady mixed load for the fault runs, behaving like a careful client: usage batches through
 * `POST /v1/ingest` (unique event keys) and ledger increments and decrements, synchronous and
 * `Prefer: respond-async`, each with an Idempotency-Key. A request that does not get its answer
 * (a network error, a timeout, 409 in flight, 429, 5xx) is sent again with the same body and the
 * same keys until it is answered or the retry window closes. What was answered 2xx is recorded,
 * by key, for the audit; every failed attempt is counted by its status.
 *
 * A 2xx that the service should not have given cannot be seen here; the audit finds it. What can
 * be seen here: a 500 where an outage should be a 503 (RFC 7807), and a 4xx refusal of a request
 * that is valid.
 *
 * With `alertCustomers` (the webhooks fault), the first customers also get balance alerts
 * (dropped at two thresholds, depleted, recovered), and one more client swings their balances
 * across all of them: a decrement of more than the balance (into the overdraft), then the same
 * increment back. Each swing makes four crossings; the swings are ledger writes like the others,
 * recorded and audited with them.
 */
import { randomInt } from 'node:crypto';
import { httpRequest, type HttpAnswer } from './http.ts';

/** Credits are counted in hundredths here: every amount the load sends has two decimals at most. */
export const HUNDREDTHS_PER_CREDIT = 100n;
/** The usage price: quantity `n` × 0.25 credits. */
export const USAGE_UNIT_HUNDREDTHS = 25n;
export const INITIAL_CREDITS = 1_000_000n;

const REQUEST_TIMEOUT_MS = 30_000;
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 2_000;
/** After the load stops, how long unanswered requests keep being retried. */
export const RETRY_WINDOW_MS = 120_000;
/** In the duplicates fault: the share of answered requests sent once more, same key, same body. */
const HTTP_REPLAY_SHARE = 0.25;
/** A swing moves an alert customer's balance by this much, down then up: twice its first credit. */
const SWING_HUNDREDTHS = 2n * INITIAL_CREDITS * HUNDREDTHS_PER_CREDIT;
/** Thresholds of the dropped alerts, in credits: between the starting balance and zero. */
const DROPPED_THRESHOLDS = [500_000, 1_000];
/** The swing client's pause between two swings (each swing is two writes). */
const SWING_PAUSE_MS = 250;

export interface LoadTarget {
  baseUrl: string;
  apiKey: string;
  keyPrefix: string;
}

export interface LoadShape {
  customers: number;
  ingestClients: number;
  eventsPerBatch: number;
  ledgerClients: number;
  /** Pause between one client's requests. */
  pauseMs: number;
  /** Send a share of answered requests again (duplicates fault). */
  replayHttp: boolean;
  /** How many customers get alerts and a client swinging their balance across them (0: none). */
  alertCustomers?: number;
}

export interface AcceptedEvent {
  key: string;
  customerId: string;
  creditsHundredths: bigint;
}

export interface AcceptedWrite {
  key: string;
  customerId: string;
  entryType: 'increment' | 'decrement';
  amountHundredths: bigint;
  status: 201 | 202;
  /** The entry answered with a 201, or the request to poll after a 202. */
  entryId: string | undefined;
  requestId: string | undefined;
}

export interface RequestCounts {
  /** Requests answered 2xx (for ingest: 200; for ledger writes: 201 or 202). */
  answered: number;
  /** Requests that needed more than one attempt before their answer. */
  retried: number;
  /** Failed attempts by status (`network` for no answer). */
  failures: Record<string, number>;
  /** Requests never answered within the retry window. */
  gaveUp: number;
  /** Requests refused with a 4xx that a valid request must not get. */
  refused: number;
  /** Requests sent again after their answer (same key, same body), and answered as expected. */
  replays: number;
}

export interface LoadResult {
  events: Map<string, AcceptedEvent>;
  writes: Map<string, AcceptedWrite>;
  ingest: RequestCounts & { events: number };
  ledger: RequestCounts & { created: number; accepted: number; replayedAnswers: number };
  /** Anything a correct service cannot answer. */
  problems: string[];
  customers: string[];
  /** Alerts created (on the first `alertCustomers` customers) and swings made across them. */
  alerts: { created: number; swings: number };
}

const newCounts = (): RequestCounts => ({
  answered: 0,
  retried: 0,
  failures: {},
  gaveUp: 0,
  refused: 0,
  replays: 0,
});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Verdict = 'done' | 'retry' | 'refused';

function hundredthsText(hundredths: bigint): string {
  const whole = hundredths / 100n;
  const fraction = String(hundredths % 100n).padStart(2, '0');
  return `${whole}.${fraction}`;
}

function isProblemJson(answer: HttpAnswer): boolean {
  if (!String(answer.headers['content-type'] ?? '').includes('application/problem+json'))
    return false;
  try {
    const body = JSON.parse(answer.text) as { status?: unknown; type?: unknown };
    return body.status === answer.status && typeof body.type === 'string';
  } catch {
    return false;
  }
}

export class MixedLoad {
  readonly result: LoadResult;
  private readonly target: LoadTarget;
  private readonly shape: LoadShape;
  private stopped = false;
  private giveUpAt = Number.POSITIVE_INFINITY;
  private sequence = 0;
  private eventName = '';
  private readonly running: Promise<void>[] = [];

  constructor(target: LoadTarget, shape: LoadShape) {
    this.target = target;
    this.shape = shape;
    this.result = {
      events: new Map(),
      writes: new Map(),
      ingest: { ...newCounts(), events: 0 },
      ledger: { ...newCounts(), created: 0, accepted: 0, replayedAnswers: 0 },
      problems: [],
      customers: [],
      alerts: { created: 0, swings: 0 },
    };
  }

  /**
   * Sends until the verdict is not `retry` or the window closes; counts failed attempts. Answers
   * the last answer, or undefined when it gave up.
   */
  private async send(
    counts: RequestCounts,
    method: 'GET' | 'POST',
    path: string,
    body: string | undefined,
    headers: Record<string, string>,
    judge: (answer: HttpAnswer) => Verdict,
  ): Promise<HttpAnswer | undefined> {
    for (let attempt = 1; ; attempt += 1) {
      let answer: HttpAnswer | undefined;
      try {
        answer = await httpRequest(
          method,
          `${this.target.baseUrl}${path}`,
          this.target.apiKey,
          body,
          headers,
          REQUEST_TIMEOUT_MS,
        );
      } catch {
        counts.failures.network = (counts.failures.network ?? 0) + 1;
      }
      if (answer) {
        const verdict = judge(answer);
        if (verdict === 'done') {
          if (attempt > 1) counts.retried += 1;
          return answer;
        }
        counts.failures[String(answer.status)] = (counts.failures[String(answer.status)] ?? 0) + 1;
        if (answer.status >= 500 && answer.status !== 503) {
          this.result.problems.push(
            `${method} ${path} answered ${answer.status} (an outage must be a 503): ${answer.text.slice(0, 200)}`,
          );
        } else if (answer.status >= 400 && !isProblemJson(answer)) {
          this.result.problems.push(
            `${method} ${path} answered ${answer.status} without an RFC 7807 body: ${answer.text.slice(0, 200)}`,
          );
        }
        if (verdict === 'refused') {
          counts.refused += 1;
          this.result.problems.push(
            `${method} ${path} was refused with ${answer.status}: ${answer.text.slice(0, 300)}`,
          );
          return answer;
        }
      }
      if (Date.now() > this.giveUpAt) {
        counts.gaveUp += 1;
        return undefined;
      }
      await sleep(
        Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(attempt - 1, 5)) *
          (0.5 + Math.random() / 2),
      );
    }
  }

  private static retryable(status: number): boolean {
    return status === 409 || status === 429 || status >= 500;
  }

  private nextKey(kind: string): string {
    this.sequence += 1;
    return `${this.target.keyPrefix}-${kind}-${this.sequence}`;
  }

  /** The usage price and the customers, each customer with a large first increment. */
  async setUp(): Promise<void> {
    const counts = newCounts();
    const post = async (path: string, body: unknown, key: string) => {
      const answer = await this.send(
        counts,
        'POST',
        path,
        JSON.stringify(body),
        { 'idempotency-key': key },
        (a) => (a.status === 201 ? 'done' : MixedLoad.retryable(a.status) ? 'retry' : 'refused'),
      );
      if (answer?.status !== 201)
        throw new Error(`setting up: POST ${path} answered ${answer?.status}: ${answer?.text}`);
      return JSON.parse(answer.text) as { id: string; event_name?: string };
    };
    this.eventName = `${this.target.keyPrefix.replaceAll('-', '_')}_tokens`;
    await post(
      '/v1/usage_prices',
      {
        name: 'Fault tokens',
        event_name: this.eventName,
        item_id: 'faults',
        unit_amount: hundredthsText(USAGE_UNIT_HUNDREDTHS),
        quantity_property: 'n',
      },
      this.nextKey('price'),
    );
    for (let index = 0; index < this.shape.customers; index += 1) {
      const customer = await post(
        '/v1/customers',
        { name: `Fault ${index}`, email: `fault${index}@example.com` },
        this.nextKey('customer'),
      );
      this.result.customers.push(customer.id);
      await this.ledgerWrite(
        customer.id,
        'increment',
        INITIAL_CREDITS * HUNDREDTHS_PER_CREDIT,
        false,
      );
    }
    for (const customer of this.alertCustomers()) {
      const alerts = [
        {
          type: 'credit_balance_dropped',
          thresholds: DROPPED_THRESHOLDS.map((value) => ({ value })),
        },
        { type: 'credit_balance_depleted' },
        { type: 'credit_balance_recovered' },
      ];
      for (const alert of alerts) {
        await post(
          `/v1/alerts/customer_id/${customer}`,
          { currency: 'credits', ...alert },
          this.nextKey('alert'),
        );
        this.result.alerts.created += 1;
      }
    }
  }

  private alertCustomers(): string[] {
    return this.result.customers.slice(0, this.shape.alertCustomers ?? 0);
  }

  start(): void {
    for (let client = 0; client < this.shape.ingestClients; client += 1)
      this.running.push(this.loop(() => this.ingestBatch()));
    for (let client = 0; client < this.shape.ledgerClients; client += 1) {
      this.running.push(
        this.loop(() => {
          const customer = this.randomCustomer();
          const increment = Math.random() < 0.5;
          const amount = BigInt(increment ? randomInt(100, 10_001) : randomInt(1, 5_001));
          return this.ledgerWrite(
            customer,
            increment ? 'increment' : 'decrement',
            amount,
            Math.random() < 0.5,
          );
        }),
      );
    }
    const swung = this.alertCustomers();
    if (swung.length > 0) {
      let next = 0;
      this.running.push(
        this.loop(async () => {
          const customer = swung[next % swung.length]!;
          next += 1;
          await this.ledgerWrite(customer, 'decrement', SWING_HUNDREDTHS, Math.random() < 0.5);
          await this.ledgerWrite(customer, 'increment', SWING_HUNDREDTHS, Math.random() < 0.5);
          this.result.alerts.swings += 1;
          await sleep(SWING_PAUSE_MS);
        }),
      );
    }
  }

  /**
   * `count` asynchronous increments (`Prefer: respond-async`, each with its own key) spread over
   * `customers`, sent at once and recorded like the load's own: a backlog the fault runner makes
   * on purpose (cluster-lag: acknowledged writes whose jobs only a doomed master holds).
   */
  async burst(customers: readonly string[], count: number): Promise<void> {
    if (customers.length === 0) return;
    await Promise.all(
      Array.from({ length: count }, (_, index) =>
        this.ledgerWrite(
          customers[index % customers.length]!,
          'increment',
          BigInt(randomInt(100, 1_001)),
          true,
        ),
      ),
    );
  }

  /** Stops new requests; answers once every started one is answered or given up. */
  async stop(): Promise<LoadResult> {
    this.stopped = true;
    this.giveUpAt = Date.now() + RETRY_WINDOW_MS;
    await Promise.all(this.running);
    return this.result;
  }

  private async loop(work: () => Promise<void>): Promise<void> {
    while (!this.stopped) {
      await work();
      await sleep(this.shape.pauseMs);
    }
  }

  private randomCustomer(): string {
    const customer = this.result.customers[randomInt(this.result.customers.length)];
    if (!customer) throw new Error('no customers set up');
    return customer;
  }

  private async ingestBatch(): Promise<void> {
    const events = Array.from({ length: this.shape.eventsPerBatch }, () => ({
      idempotency_key: this.nextKey('event'),
      event_name: this.eventName,
      timestamp: new Date().toISOString(),
      customer_id: this.randomCustomer(),
      properties: { n: randomInt(1, 10) },
    }));
    const body = JSON.stringify({ events });
    const judge = (answer: HttpAnswer): Verdict =>
      answer.status === 200 ? 'done' : MixedLoad.retryable(answer.status) ? 'retry' : 'refused';
    const counts = this.result.ingest;
    const answer = await this.send(counts, 'POST', '/v1/ingest', body, {}, judge);
    if (answer?.status !== 200) return;
    const failed = (JSON.parse(answer.text) as { validation_failed: unknown[] }).validation_failed;
    if (failed.length > 0)
      this.result.problems.push(
        `ingest refused valid events: ${JSON.stringify(failed).slice(0, 300)}`,
      );
    counts.answered += 1;
    counts.events += events.length;
    for (const event of events) {
      this.result.events.set(event.idempotency_key, {
        key: event.idempotency_key,
        customerId: event.customer_id,
        creditsHundredths: BigInt(event.properties.n) * USAGE_UNIT_HUNDREDTHS,
      });
    }
    if (this.shape.replayHttp && Math.random() < HTTP_REPLAY_SHARE) {
      const again = await this.send(counts, 'POST', '/v1/ingest', body, {}, judge);
      if (again?.status === 200) counts.replays += 1;
    }
  }

  private async ledgerWrite(
    customerId: string,
    entryType: 'increment' | 'decrement',
    amountHundredths: bigint,
    respondAsync: boolean,
  ): Promise<void> {
    const key = this.nextKey(entryType);
    const path = `/v1/customers/${customerId}/credits/ledger_entry`;
    const body = `{"entry_type":"${entryType}","amount":${hundredthsText(amountHundredths)},"description":"${key}"}`;
    const headers = { 'idempotency-key': key, ...(respondAsync && { prefer: 'respond-async' }) };
    const judge = (answer: HttpAnswer): Verdict =>
      answer.status === 201 || answer.status === 202
        ? 'done'
        : MixedLoad.retryable(answer.status)
          ? 'retry'
          : 'refused';
    const counts = this.result.ledger;
    const answer = await this.send(counts, 'POST', path, body, headers, judge);
    if (answer?.status !== 201 && answer?.status !== 202) return;
    const { id } = JSON.parse(answer.text) as { id: string };
    const write: AcceptedWrite = {
      key,
      customerId,
      entryType,
      amountHundredths,
      status: answer.status,
      entryId: answer.status === 201 ? id : undefined,
      requestId: answer.status === 202 ? id : undefined,
    };
    this.result.writes.set(key, write);
    counts.answered += 1;
    if (answer.status === 201) this.result.ledger.created += 1;
    else this.result.ledger.accepted += 1;
    if (answer.headers['idempotent-replayed'] === 'true') this.result.ledger.replayedAnswers += 1;
    if (this.shape.replayHttp && Math.random() < HTTP_REPLAY_SHARE)
      await this.replayWrite(write, path, body, headers);
  }

  /**
   * The same request again: the first entry again (201, replayed); while it is still queued, 202
   * with the same request if the first answer was a 202, or 409 while the first caller waits.
   */
  private async replayWrite(
    write: AcceptedWrite,
    path: string,
    body: string,
    headers: Record<string, string>,
  ): Promise<void> {
    const counts = this.result.ledger;
    const again = await this.send(counts, 'POST', path, body, headers, (answer) =>
      answer.status === 201 || answer.status === 409 || answer.status === 202
        ? 'done'
        : MixedLoad.retryable(answer.status)
          ? 'retry'
          : 'refused',
    );
    if (!again) return;
    counts.replays += 1;
    if (again.status === 202) {
      const { id } = JSON.parse(again.text) as { id: string };
      if (write.requestId === undefined || id !== write.requestId)
        this.result.problems.push(
          `replay of ${write.key} answered 202 for request ${id}, but the first answer was ${write.status}`,
        );
      return;
    }
    if (again.status !== 201) return;
    const { id } = JSON.parse(again.text) as { id: string };
    if (again.headers['idempotent-replayed'] !== 'true')
      this.result.problems.push(`replay of ${write.key} answered 201 without Idempotent-Replayed`);
    if (write.entryId !== undefined && id !== write.entryId) {
      this.result.problems.push(
        `replay of ${write.key} answered entry ${id}, the first answer was entry ${write.entryId}`,
      );
    }
  }
}
