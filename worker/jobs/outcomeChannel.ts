/**
 * Where finished jobs announce their outcome to waiting HTTP requests in any api process: one
 * pub/sub channel per queue prefix, in the queue store (Redis PUBLISH, or Postgres NOTIFY). A message is `requestId` + newline + the outcome JSON,
 * so that a listener can drop messages for requests it is not waiting on without parsing them.
 * A message that is missed only means the waiting client gets a 202 and polls.
 */
import type { QueueStore } from './queueStore.ts';
import type { RequestOutcome } from './requestOutcome.ts';

export function outcomeChannel(prefix: string): string {
  return `${prefix}:ledger:outcomes`;
}

export async function publishOutcome(
  store: QueueStore,
  prefix: string,
  outcome: RequestOutcome,
): Promise<void> {
  await store.publish(outcomeChannel(prefix), `${outcome.requestId}\n${JSON.stringify(outcome)}`);
}

export function readOutcomeMessage(
  message: string,
  wanted: (requestId: string) => boolean,
): RequestOutcome | undefined {
  const newline = message.indexOf('\n');
  if (newline < 0 || !wanted(message.slice(0, newline))) return undefined;
  return JSON.parse(message.slice(newline + 1)) as RequestOutcome;
}
