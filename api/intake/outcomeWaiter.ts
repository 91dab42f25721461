/**
 * Lets an HTTP request wait for its job's outcome (ARCHITECTURE.md step 4). Outcomes arrive two
 * ways: from the workers' outcome channel (any worker process, worker/jobs/outcomeChannel.ts) and, when
 * the worker runs in this process, straight from it; whichever comes first answers. Register
 * before enqueueing, so that a fast worker cannot finish before anyone listens.
 *
 * Why not BullMQ's QueueEvents: it needs a blocking connection per partition and delivers every
 * event of every job (added, waiting, active, …) to every api process; the channel carries only
 * outcomes, and one subscriber connection serves all partitions.
 */
import type { RequestOutcome } from '../../worker/jobs/requestOutcome.ts';
import { outcomeChannel, readOutcomeMessage } from '../../worker/jobs/outcomeChannel.ts';
import type { QueueStore } from '../../worker/jobs/queueStore.ts';

interface Waiting {
  resolve: (outcome: RequestOutcome | undefined) => void;
  timer: NodeJS.Timeout;
}

export class OutcomeWaiter {
  private readonly waiting = new Map<string, Waiting>();
  private unsubscribe: () => Promise<void> = async () => undefined;

  static async open(store: QueueStore, prefix: string): Promise<OutcomeWaiter> {
    const waiter = new OutcomeWaiter();
    waiter.unsubscribe = await store.subscribe(outcomeChannel(prefix), (message) => {
      const outcome = readOutcomeMessage(message, (requestId) => waiter.waiting.has(requestId));
      if (outcome) waiter.notify(outcome);
    });
    return waiter;
  }

  /**
   * Starts listening for `requestId`; the promise gives `undefined` after `timeoutMs`. `T` is the
   * outcome of the job enqueued under that id (a ledger request's unless said otherwise): the
   * caller knows which job it enqueued, the channel does not.
   */
  expect<T extends RequestOutcome>(requestId: string, timeoutMs: number): Promise<T | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settle(requestId, undefined), timeoutMs);
      this.waiting.set(requestId, {
        resolve: (outcome) => resolve(outcome as T | undefined),
        timer,
      });
    });
  }

  cancel(requestId: string): void {
    this.settle(requestId, undefined);
  }

  /** Answers whether a request here was waiting for this outcome. */
  notify(outcome: RequestOutcome): boolean {
    return this.settle(outcome.requestId, outcome);
  }

  private settle(requestId: string, outcome: RequestOutcome | undefined): boolean {
    const waiting = this.waiting.get(requestId);
    if (!waiting) return false;
    this.waiting.delete(requestId);
    clearTimeout(waiting.timer);
    waiting.resolve(outcome);
    return true;
  }

  /** Answers every waiting request now, without an outcome (they answer 202): for shutdown. */
  releaseAll(): void {
    for (const requestId of [...this.waiting.keys()]) this.cancel(requestId);
  }

  async close(): Promise<void> {
    this.releaseAll();
    await this.unsubscribe();
  }
}
