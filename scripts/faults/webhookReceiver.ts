/**
 * The webhooks fault's receiver: node:http on 127.0.0.1 inside the faults process, the endpoint
 * WEBHOOK_URL points at. It is `up` (answers 200), `unavailable` (answers 503 to everything) or
 * `refusing` (not listening: connections are refused, open ones are cut), and comes back on the
 * same port. Every body it takes (answers 2xx) is verified at once with the official SDK's
 * `unwrap` (which refuses a signature timestamp more than five minutes old, so it cannot wait for
 * the audit) and kept by event id: the first body, how many times it came, whether a later copy
 * differed, when it first came. The order of first receipts is kept for the audit's order check.
 *
 * `holdNext()` lets the runner kill the delivering process while a delivery is in flight: the next
 * request is read, counted as received (a receiver that had done its work when its sender died),
 * and answered only once the runner releases it, by then to a dead socket, so that the sender
 * never learned it was delivered and must send it again.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Orb from 'orb-billing';

export type ReceiverMode = 'up' | 'unavailable' | 'refusing';

export interface EventReceipts {
  body: string;
  /** How many times it was taken (answered 2xx, or held while its sender was killed). */
  count: number;
  /** Copies whose body differed from the first. */
  bodyMismatches: number;
  /** `Date.now()` at the first receipt. */
  firstAt: number;
}

export interface HeldRequest {
  /** Whether the held request was one the receiver takes (up) or refuses (unavailable, a 503). */
  taken: boolean;
  release(): void;
}

const UNAVAILABLE_BODY = '{"error":"receiver down for the webhooks fault"}';
const SIGNATURE_FAILURES_KEPT = 10;

export class WebhookReceiver {
  /** By event id. */
  readonly events = new Map<string, EventReceipts>();
  /** Event ids in the order of their first receipt. */
  readonly firstReceiptOrder: string[] = [];
  /** Requests answered 503 while unavailable. */
  answeredUnavailable = 0;
  /** Bodies `unwrap` refused (all of them counted, the first few kept with the reason). */
  signatureFailures = 0;
  readonly signatureFailureExamples: string[] = [];
  /** Requests held while their sender was killed. */
  heldRequests = 0;
  url = '';
  private readonly sdk = new Orb({ apiKey: 'x' });
  private readonly secret: string;
  private readonly server: http.Server;
  private port = 0;
  private modeNow: ReceiverMode = 'up';
  private holdWaiter: ((held: HeldRequest) => void) | undefined;

  private constructor(secret: string) {
    this.secret = secret;
    this.server = http.createServer((request, response) => this.handle(request, response));
    // Keep-alive sockets the sender leaves open must not keep a refusing receiver half-open.
    this.server.keepAliveTimeout = 5_000;
  }

  static async start(secret: string): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver(secret);
    await receiver.listen(0);
    receiver.port = (receiver.server.address() as AddressInfo).port;
    receiver.url = `http://127.0.0.1:${receiver.port}/webhooks`;
    return receiver;
  }

  get mode(): ReceiverMode {
    return this.modeNow;
  }

  /** Total receipts, repeats included. */
  get receipts(): number {
    let total = 0;
    for (const event of this.events.values()) total += event.count;
    return total;
  }

  async setMode(mode: ReceiverMode): Promise<void> {
    if (mode === this.modeNow) return;
    if (mode === 'refusing') {
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      this.server.closeAllConnections();
      await closed;
    } else if (this.modeNow === 'refusing') {
      await this.listen(this.port);
    }
    this.modeNow = mode;
  }

  /**
   * Holds the next request that arrives within `timeoutMs` (answers it only on `release()`);
   * undefined when none came (refusing, or nothing to deliver).
   */
  holdNext(timeoutMs: number): Promise<HeldRequest | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.holdWaiter = undefined;
        resolve(undefined);
      }, timeoutMs);
      this.holdWaiter = (held) => {
        clearTimeout(timer);
        resolve(held);
      };
    });
  }

  async stop(): Promise<void> {
    if (this.modeNow === 'refusing') return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const taken = this.modeNow === 'up';
      const answer = () => {
        if (response.destroyed) return;
        if (taken) response.writeHead(200).end('ok');
        else response.writeHead(503, { 'content-type': 'application/json' }).end(UNAVAILABLE_BODY);
      };
      if (taken) this.take(Buffer.concat(chunks).toString('utf8'), request.headers);
      else this.answeredUnavailable += 1;
      const waiter = this.holdWaiter;
      if (!waiter) return answer();
      this.holdWaiter = undefined;
      this.heldRequests += 1;
      waiter({ taken, release: answer });
    });
  }

  private take(body: string, headers: http.IncomingHttpHeaders): void {
    let id: string;
    try {
      const event = this.sdk.webhooks.unwrap(body, flatHeaders(headers), this.secret) as {
        id?: unknown;
      };
      id = String(event.id);
    } catch (error) {
      this.signatureFailures += 1;
      if (this.signatureFailureExamples.length < SIGNATURE_FAILURES_KEPT)
        this.signatureFailureExamples.push(`${(error as Error).message}: ${body.slice(0, 120)}`);
      // Still recorded under its id, if it has one, so that the rest of the audit sees it.
      try {
        id = String((JSON.parse(body) as { id?: unknown }).id);
      } catch {
        return;
      }
    }
    const seen = this.events.get(id);
    if (seen) {
      seen.count += 1;
      if (seen.body !== body) seen.bodyMismatches += 1;
      return;
    }
    this.events.set(id, { body, count: 1, bodyMismatches: 0, firstAt: Date.now() });
    this.firstReceiptOrder.push(id);
  }
}

function flatHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).map(([key, value]) => [
      key,
      Array.isArray(value) ? value.join(', ') : String(value),
    ]),
  );
}
