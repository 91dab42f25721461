/**
 * kill -9 of the process that delivers loses nothing: a worker process (scripts/start.ts,
 * ROLE=worker) is killed while a delivery is in flight; another worker process takes over when
 * the claim runs out and delivers every event, in order, the interrupted one again with the same
 * id (at least once).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { WebhookEventDraft } from '../../../worker/jobs/webhookEvents.ts';
import { REDIS_URL, startTestService, type TestService } from '../../support/testService.ts';
import { RoleProcesses } from '../worker/roleProcesses.ts';
import { Receiver, unwrap } from './receiver.ts';

const SECRET = `whsec_${randomUUID()}`;
let t: TestService;
let receiver: Receiver;
let roles: RoleProcesses;

beforeAll(async () => {
  receiver = await Receiver.start();
  const webhooks = {
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: SECRET,
    WEBHOOK_TIMEOUT_MS: '1000',
    WEBHOOK_POLL_MS: '100',
    WEBHOOK_RETRY_BASE_MS: '50',
  };
  // The test's own process runs the api only: the delivery loop lives in the spawned workers.
  t = await startTestService({ ROLE: 'api', ...webhooks });
  roles = new RoleProcesses({
    databaseUrl: t.databaseUrl,
    redisUrl: REDIS_URL,
    queuePrefix: t.queuePrefix,
    partitions: 4,
    extra: webhooks,
  });
});
afterAll(async () => {
  await roles?.stopAll();
  await t?.stop();
  await receiver?.stop();
});

it('loses nothing when the delivering process is killed mid-delivery', async () => {
  const first = await roles.start('worker');
  const chain = `chain_${randomUUID()}`;
  const drafts: WebhookEventDraft[] = [0, 1, 2, 3].map((index) => ({
    id: `evt_${randomUUID()}`,
    createdAt: new Date(),
    customerId: chain,
    ledgerSequenceNumber: null,
    facts: { type: 'resource_event.test', message: `killed:${index}` },
  }));
  // The first delivery hangs in the receiver while the process sending it is killed.
  receiver.answer = () => 'hang';
  await t.service.orm.em.fork().transactional((em) => t.service.outbox.append(em, drafts));
  await expect.poll(() => receiver.received.length, { timeout: 10_000 }).toBe(1);
  await roles.kill(first);
  receiver.answer = () => ({ status: 200 });
  await roles.start('worker');
  await expect
    .poll(() => receiver.delivered().map((one) => one.event.id), { timeout: 20_000 })
    .toEqual(drafts.map((draft) => draft.id));
  expect(receiver.received[0]!.event.id).toBe(drafts[0]!.id);
  for (const one of receiver.delivered()) unwrap(one, SECRET);
}, 60_000);
