/**
 * The queue dashboard (bull-board) at /admin/queues, showing every partition queue, and the webhook
 * page beside it (adminWebhooks.ts). It exists only when ADMIN_USER and ADMIN_PASSWORD are set, sits behind HTTP
 * basic auth (not the API keys: people use it in a browser), and is read-only unless
 * ADMIN_READ_ONLY=false, since retrying or removing a job by hand can reorder a customer's writes.
 * Its routes are left out of the OpenAPI document: they are a web page, not the API.
 */
import { timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance } from 'fastify';
import { REDRIVE_NOTICE } from '../../worker/jobs/failedJobs.ts';
import type { PartitionQueues } from '../../worker/jobs/queues.ts';
import type { Clock } from '../../worker/runtime/clock.ts';
import type { Orm } from '../../worker/store/orm.ts';
import { registerWebhooksPage } from './adminWebhooks.ts';

export const DASHBOARD_PATH = '/admin/queues';

export interface DashboardOptions {
  queues: PartitionQueues;
  /** For the webhook page (adminWebhooks.ts). */
  orm: Orm;
  clock: Clock;
  adminUser: string | undefined;
  adminPassword: string | undefined;
  readOnly: boolean;
}

function sameText(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function registerAdminDashboard(
  app: FastifyInstance,
  options: DashboardOptions,
): Promise<void> {
  const { adminUser, adminPassword } = options;
  if (!adminUser || !adminPassword) return;
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({
    // Beside each queue's failed jobs: what a redrive does to the customer's order.
    queues: options.queues.queues.map(
      (queue) =>
        new BullMQAdapter(queue, { readOnlyMode: options.readOnly, description: REDRIVE_NOTICE }),
    ),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'credits ledger' } },
  });
  await app.register(async (scope) => {
    scope.addHook('onRoute', (route) => {
      route.schema = { ...route.schema, hide: true } as typeof route.schema;
    });
    scope.addHook('onRequest', async (request, reply) => {
      const encoded = /^Basic\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1] ?? '';
      const [user, ...rest] = Buffer.from(encoded, 'base64').toString('utf8').split(':');
      if (!sameText(user ?? '', adminUser) || !sameText(rest.join(':'), adminPassword)) {
        return reply
          .code(401)
          .header('www-authenticate', 'Basic realm="credits ledger queues"')
          .type('text/plain')
          .send('Unauthorized');
      }
    });
    await scope.register(serverAdapter.registerPlugin(), { prefix: DASHBOARD_PATH });
    registerWebhooksPage(scope, options);
  });
}
