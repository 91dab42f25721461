/**
 * The webhook delivery loop, run by every worker process (any number of them). The deliveries are
 * made with the events, in the writing transaction (worker/store/webhookEvents.ts); each turn the
 * loop claims due chain heads up to its concurrency and sends them: signed at the attempt (signature.ts), posted with the address checked on
 * connect (postWebhook.ts), marked delivered, or retried with exponential backoff and jitter
 * until the retry window has passed, then `failed` so that the chain's later events flow.
 *
 * It wakes on Postgres notifications (a writer's, at its commit, from any process), when one of
 * its sends finishes (the chain's next event may go), at its earliest due retry, and on a poll,
 * the fallback for a notification missed. No long transaction anywhere holds delivery back. At least once: a process killed while
 * sending leaves its claim to run out (the lease), and the delivery is sent again, with the same
 * event id and body. Signing secrets never reach a log line; neither does the endpoint's URL,
 * which may carry credentials (the endpoint's id does).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import { WEBHOOK_EVENTS_CHANNEL } from '../jobs/webhookEvents.ts';
import type { WebhookConfig } from '../runtime/config.ts';
import { listen } from '../store/notifications.ts';
import type { Orm } from '../store/orm.ts';
import {
  claimDeliveryHeads,
  markAttemptFailed,
  markDeliveredAndClaimNext,
  nextDueAt,
  type ClaimedDelivery,
} from '../store/webhookDeliveries.ts';
import {
  allWebhookEndpoints,
  signingSecrets,
  type WebhookEndpointRecord,
} from '../store/webhookEndpoints.ts';
import { postWebhook } from './postWebhook.ts';
import { signatureHeaders } from './signature.ts';

/** A claim outlives the attempt's timeout by this much before another process may take it. */
const LEASE_MARGIN_MS = 5_000;
/**
 * The shortest time between two searches for chain heads: wake-ups (every writer's commit, every
 * send that ends its chain) coalesce into one search instead of one each. A busy chain does not
 * wait for it: a delivered event claims its chain's next in the same statement.
 */
const TURN_MIN_MS = 20;

export type AttemptOutcome = 'delivered' | 'retrying' | 'failed';

export interface DeliveryObserver {
  /** `lagSeconds`: from the event's write to the receiver's 2xx (delivered only). */
  onAttempt(outcome: AttemptOutcome, lagSeconds: number | null): void;
}

export interface DeliveryLoopOptions {
  orm: Orm;
  databaseUrl: string;
  logger: Logger;
  config: WebhookConfig;
  observer?: DeliveryObserver;
}

/** Exponential backoff with jitter: between half and all of base·2^(attempt−1), capped. */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 40));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

export class WebhookDeliveryLoop {
  private readonly options: DeliveryLoopOptions;
  private readonly listener: pg.Client;
  private readonly closing = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private running = true;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private loop: Promise<void> = Promise.resolve();

  private constructor(options: DeliveryLoopOptions, listener: pg.Client) {
    this.options = options;
    this.listener = listener;
  }

  static async start(options: DeliveryLoopOptions): Promise<WebhookDeliveryLoop> {
    const listener = new pg.Client({ connectionString: options.databaseUrl });
    await listener.connect();
    const loop = new WebhookDeliveryLoop(options, listener);
    listener.on('notification', () => loop.wake());
    // A lost LISTEN connection only slows delivery to the poll; it is logged, not fatal.
    listener.on('error', (error) =>
      options.logger.warn({ reason: error.message }, 'webhook delivery lost its listener'),
    );
    await listen(listener, WEBHOOK_EVENTS_CHANNEL);
    loop.loop = loop.run();
    return loop;
  }

  /** Stops claiming, aborts the sends in flight (their claims run out and are sent again). */
  async close(): Promise<void> {
    this.running = false;
    this.closing.abort();
    this.wake();
    await this.loop;
    await Promise.allSettled([...this.inFlight]);
    await this.listener.end().catch(() => undefined);
  }

  private wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  private async run(): Promise<void> {
    while (this.running) {
      const turnStarted = Date.now();
      this.woken = false;
      let dueAt: Date | null = null;
      try {
        await this.claimAndSend();
        dueAt = await nextDueAt(this.options.orm.em.fork());
      } catch (error) {
        this.options.logger.warn(
          { reason: (error as Error).message },
          'webhook delivery turn failed; trying again at the next poll',
        );
      }
      if (!this.running) break;
      if (this.woken) {
        const rest = TURN_MIN_MS - (Date.now() - turnStarted);
        if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
        continue;
      }
      // With no room for another send, the next one to finish wakes the loop.
      const full = this.inFlight.size >= this.options.config.concurrency;
      const untilDue =
        dueAt === null || full ? Infinity : Math.max(0, dueAt.getTime() - Date.now());
      await this.sleep(Math.min(this.options.config.pollMs, untilDue));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    }).then(() => {
      this.wakeUp = undefined;
    });
  }

  private async claimAndSend(): Promise<void> {
    const room = this.options.config.concurrency - this.inFlight.size;
    if (room <= 0) return;
    const em = this.options.orm.em.fork();
    const claims = await claimDeliveryHeads(
      em,
      room,
      this.options.config.timeoutMs + LEASE_MARGIN_MS,
      randomUUID(),
    );
    if (claims.length === 0) return;
    const endpoints = new Map(
      (await allWebhookEndpoints(em)).map((endpoint) => [endpoint.id, endpoint]),
    );
    for (const claim of claims) this.send(claim, endpoints.get(claim.endpointId));
  }

  /** Sends a claimed delivery and then, as long as its chain has a next one due, that one. */
  private send(claim: ClaimedDelivery, endpoint: WebhookEndpointRecord | undefined): void {
    const sending = (async () => {
      let current: ClaimedDelivery | null = claim;
      while (current !== null && this.running) current = await this.attempt(current, endpoint);
    })().finally(() => {
      this.inFlight.delete(sending);
      this.wake();
    });
    this.inFlight.add(sending);
  }

  /** One attempt; answers the chain's next delivery when this one was delivered and it was due. */
  private async attempt(
    claim: ClaimedDelivery,
    endpoint: WebhookEndpointRecord | undefined,
  ): Promise<ClaimedDelivery | null> {
    const { config, logger, observer } = this.options;
    try {
      // An endpoint deleted since the claim took its deliveries with it: nothing to mark.
      if (!endpoint) return null;
      const now = new Date();
      const headers = signatureHeaders(claim.body, signingSecrets(endpoint, now), now);
      const result = await postWebhook(endpoint.url, claim.body, headers, {
        timeoutMs: config.timeoutMs,
        allowPrivate: endpoint.trusted || config.allowPrivateNetworks,
        signal: this.closing.signal,
      });
      if (this.closing.signal.aborted && !result.ok) return null;
      const em = this.options.orm.em.fork();
      if (result.ok) {
        const marked = await markDeliveredAndClaimNext(em, claim, result, {
          leaseMs: config.timeoutMs + LEASE_MARGIN_MS,
          leaseToken: randomUUID(),
        });
        if (marked.marked)
          observer?.onAttempt('delivered', (Date.now() - claim.eventWrittenAt.getTime()) / 1000);
        return marked.next;
      }
      const status = await markAttemptFailed(
        em,
        claim,
        result,
        retryDelayMs(claim.attempt, config.retryBaseMs, config.retryMaxMs),
        config.retryWindow.toMillis(),
      );
      if (status === null) return null;
      observer?.onAttempt(status === 'failed' ? 'failed' : 'retrying', null);
      logger.warn(
        {
          endpointId: endpoint.id,
          deliveryId: claim.id,
          eventId: claim.eventId,
          attempt: claim.attempt,
          responseCode: result.responseCode,
          reason: result.error,
          status,
        },
        status === 'failed'
          ? 'webhook delivery failed for good after its retry window'
          : 'webhook delivery attempt failed; will retry',
      );
      return null;
    } catch (error) {
      logger.warn(
        { deliveryId: claim.id, reason: (error as Error).message },
        'webhook delivery attempt could not be recorded; its claim will run out and it is sent again',
      );
    }
    return null;
  }
}
