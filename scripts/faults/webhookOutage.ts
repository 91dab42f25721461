/**
 * The webhooks fault's injection, run while the mixed load runs: the receiver is up for a lead-in,
 * then down for the outage (its first half answering 503, its second half refusing connections),
 * then up again; meanwhile the worker, the process that delivers, is killed with SIGKILL while a
 * delivery is in flight and started again. The kills: the first in the lead-in, one while the
 * receiver answers 503 (with three kills or more), the rest after the receiver is back, while the
 * backlog is being delivered. "In flight" is made certain: the receiver holds the next request it
 * gets, the worker is killed while it waits for the answer, then the request is answered (to a
 * dead socket). With nothing arriving within the wait the worker is killed anyway, and counted.
 *
 * Throughout, a test event (`POST /v1/webhook_endpoints/{id}/test`, written by the api process
 * itself) goes to the endpoint every `TEST_EVENT_EVERY_MS`: the account's chain gets events, and
 * there is something to deliver whatever the ledger writes do (a killed worker's ledger jobs wait
 * out JOB_LOCK_MS, and the writes waiting on them make no events meanwhile).
 */
import { CONFIGURED_ENDPOINT_ID } from '../../worker/store/webhookEndpoints.ts';
import { httpRequest } from './http.ts';
import type { LoadTarget } from './mixedLoad.ts';
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
  testEvents: number;
  /** Test events the api did not answer 202. */
  problems: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const TEST_EVENT_EVERY_MS = 500;
const TEST_EVENT_TIMEOUT_MS = 10_000;

/** Sends a test event to the endpoint every TEST_EVENT_EVERY_MS until stopped. */
function sendTestEvents(target: LoadTarget, problems: string[]) {
  let stopped = false;
  let sent = 0;
  const url = `${target.baseUrl}/v1/webhook_endpoints/${CONFIGURED_ENDPOINT_ID}/test`;
  const running = (async () => {
    while (!stopped) {
      const answer = await httpRequest(
        'POST',
        url,
        target.apiKey,
        undefined,
        {},
        TEST_EVENT_TIMEOUT_MS,
      ).catch((error: unknown) => ({ status: 0, text: (error as Error).message }));
      if (answer.status === 202) sent += 1;
      else
        problems.push(`a test event was answered ${answer.status}: ${answer.text.slice(0, 200)}`);
      await sleep(TEST_EVENT_EVERY_MS);
    }
  })();
  return async () => {
    stopped = true;
    await running;
    return sent;
  };
}

export async function runWebhookOutage(
  receiver: WebhookReceiver,
  roles: ServiceRoles,
  target: LoadTarget,
  options: WebhookOutageOptions,
  log: (line: string) => void,
): Promise<WebhookOutageResult> {
  const problems: string[] = [];
  const stopTestEvents = sendTestEvents(target, problems);
  let testEvents = 0;
  let kills = 0;
  let killsMidDelivery = 0;
  let killsHeld = 0;
  let outageStarted = 0;
  let recoveredAt = 0;
  try {
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
    outageStarted = Date.now();
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
    recoveredAt = Date.now();
    log(`receiver is back after ${((recoveredAt - outageStarted) / 1000).toFixed(1)} s down`);

    for (let index = 0; index < after; index += 1) await kill('after the receiver came back');
    await sleep(Math.max(0, options.leadMs - (Date.now() - recoveredAt)));
  } finally {
    testEvents = await stopTestEvents();
  }
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
    testEvents,
    problems,
  };
}
