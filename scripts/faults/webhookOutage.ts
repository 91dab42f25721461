/**
 * The webhooks fault's injection, run while the mixed load runs: the receiver is up for a lead-in,
 * then down for the outage (its first half answering 503, its second half refusing connections),
 * then up again; meanwhile the worker, the process that delivers, is killed with SIGKILL while a
 * delivery is in flight and started again. The kills: the first in the lead-in, one while the
 * receiver answers 503 (with three kills or more), the rest after the receiver is back, while the
 * backlog is being delivered. "In flight" is made certain: the receiver holds the next request it
 * gets, the worker is killed while it waits for the answer, then the request is answered (to a
 * dead socket). With nothing arriving within the wait the worker is killed anyway, and counted.
 */
import type { ServiceRoles } from './serviceRoles.ts';
import type { WebhookReceiver } from './webhookReceiver.ts';

export interface WebhookOutageOptions {
  /** How long the receiver is down. */
  outageMs: number;
  kills: number;
  /** The lead-in before the outage, and at least this long of load after it. */
  leadMs: number;
  /** How long a kill waits for a request to hold (a retry can be up to WEBHOOK_RETRY_MAX_MS away). */
  holdWaitMs: number;
}

export interface WebhookOutageResult {
  injected: string;
  injectedCount: number;
  /** `Date.now()` when the receiver went down and when it came back. */
  downAt: number;
  recoveredAt: number;
  /** Kills made while a delivery the receiver had taken (2xx-bound) was in flight. */
  killsMidDelivery: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runWebhookOutage(
  receiver: WebhookReceiver,
  roles: ServiceRoles,
  options: WebhookOutageOptions,
  log: (line: string) => void,
): Promise<WebhookOutageResult> {
  let kills = 0;
  let killsMidDelivery = 0;
  let killsHeld = 0;
  const kill = async (when: string, holdWaitMs = options.holdWaitMs) => {
    const held = await receiver.holdNext(holdWaitMs);
    await roles.killAndRestartWorker();
    held?.release();
    kills += 1;
    if (held) killsHeld += 1;
    if (held?.taken) killsMidDelivery += 1;
    log(
      `kill -9 worker ${kills}/${options.kills} ${when}, ${held ? `while a delivery was in flight (${held.taken ? 'taken' : 'answered 503'})` : 'with no delivery arriving'}; restarted`,
    );
  };
  const inOutage = options.kills >= 3 ? 1 : 0;
  const before = Math.min(1, options.kills);
  const after = options.kills - before - inOutage;

  const leadStarted = Date.now();
  await sleep(options.leadMs / 2);
  for (let index = 0; index < before; index += 1) await kill('before the outage');
  await sleep(Math.max(0, options.leadMs - (Date.now() - leadStarted)));

  const half = options.outageMs / 2;
  const outageStarted = Date.now();
  await receiver.setMode('unavailable');
  log(`receiver answers 503 for ${(half / 1000).toFixed(1)} s`);
  // Within the 503 half: the kill must not stretch the outage by waiting for an attempt.
  for (let index = 0; index < inOutage; index += 1)
    await kill(
      'while the receiver answers 503',
      Math.min(options.holdWaitMs, Math.max(0, half / 2 - (Date.now() - outageStarted))),
    );
  await sleep(Math.max(0, half - (Date.now() - outageStarted)));
  await receiver.setMode('refusing');
  log(`receiver refuses connections for ${((options.outageMs - half) / 1000).toFixed(1)} s`);
  await sleep(Math.max(0, options.outageMs - (Date.now() - outageStarted)));
  await receiver.setMode('up');
  const recoveredAt = Date.now();
  log(`receiver is back after ${((recoveredAt - outageStarted) / 1000).toFixed(1)} s down`);

  for (let index = 0; index < after; index += 1) await kill('after the receiver came back');
  await sleep(Math.max(0, options.leadMs - (Date.now() - recoveredAt)));
  const retried =
    roles.failedStarts > 0
      ? `; ${roles.failedStarts} worker starts failed and were tried again`
      : '';
  return {
    injected:
      `receiver down ${(options.outageMs / 1000).toFixed(0)} s (503, then connections refused) under load; ` +
      `${kills} kill -9 of the delivering worker, ${killsHeld} with a delivery in flight${retried}`,
    injectedCount: kills,
    downAt: outageStarted,
    recoveredAt,
    killsMidDelivery,
  };
}
