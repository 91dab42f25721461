/**
 * Lets an HTTP request wait for its job's outcome (ARCHITECTURE.md step 4). Outcomes arrive two
 * ways: from BullMQ's event stream (any worker process) and, when the worker runs in this process,
 * straight from it; whichever comes first answers. Register before enqueueing, so that a fast
 * worker cannot finish before anyone listens.
 */
import { QueueEvents } from 'bullmq';
import type { LedgerOutcome } from '../../worker/ledgerOutcome.ts';
import { partitionQueueName } from '../../worker/partition.ts';

interface Waiting {
  resolve: (outcome: LedgerOutcome | undefined) => void;
  timer: NodeJS.Timeout;
}

export class OutcomeWaiter {
  private readonly waiting = new Map<string, Waiting>();
  private readonly events: QueueEvents[];

  private constructor(events: QueueEvents[]) {
    this.events = events;
  }

  static async open(redisUrl: string, partitions: number, prefix: string): Promise<OutcomeWaiter> {
    const events = Array.from(
      { length: partitions },
      (_, partition) => new QueueEvents(partitionQueueName(partition), { connection: { url: redisUrl, maxRetriesPerRequest: null }, prefix }),
    );
    const waiter = new OutcomeWaiter(events);
    for (const queueEvents of events) {
      queueEvents.on('error', () => {
        // QueueEvents reconnects; a waiter that misses an event answers 202 and the client polls.
      });
      queueEvents.on('completed', ({ returnvalue }) => {
        const outcome = (typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue) as LedgerOutcome | null;
        if (outcome?.requestId) waiter.notify(outcome);
      });
    }
    await Promise.all(events.map((queueEvents) => queueEvents.waitUntilReady()));
    return waiter;
  }

  /** Starts listening for `requestId`; the promise gives `undefined` after `timeoutMs`. */
  expect(requestId: string, timeoutMs: number): Promise<LedgerOutcome | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settle(requestId, undefined), timeoutMs);
      this.waiting.set(requestId, { resolve, timer });
    });
  }

  cancel(requestId: string): void {
    this.settle(requestId, undefined);
  }

  notify(outcome: LedgerOutcome): void {
    this.settle(outcome.requestId, outcome);
  }

  private settle(requestId: string, outcome: LedgerOutcome | undefined): void {
    const waiting = this.waiting.get(requestId);
    if (!waiting) return;
    this.waiting.delete(requestId);
    clearTimeout(waiting.timer);
    waiting.resolve(outcome);
  }

  async close(): Promise<void> {
    for (const requestId of [...this.waiting.keys()]) this.cancel(requestId);
    await Promise.all(this.events.map((queueEvents) => queueEvents.close()));
  }
}
