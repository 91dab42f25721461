/**
 * The webhook page of the dashboard, `/admin/webhooks`, beside the queues (adminDashboard.ts, the
 * same basic auth): each endpoint with its pending and failed deliveries, how long the oldest has
 * waited, when it last delivered, and its latest error — what an operator looks at first when a
 * receiver is down. Read-only: redelivering is the API's (`POST
 * /v1/webhook_endpoints/{id}/redeliver_failed`). An endpoint's URL is shown without its path,
 * query or credentials, which may hold secrets.
 */
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../worker/runtime/clock.ts';
import type { Orm } from '../../worker/store/orm.ts';
import { endpointBacklogs, type EndpointBacklog } from '../../worker/store/webhookDeliveries.ts';

export const WEBHOOKS_PAGE_PATH = '/admin/webhooks';

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
const escape = (text: string) => text.replace(/[&<>"']/g, (char) => ESCAPES[char]!);

function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(not a URL)';
  }
}

function age(since: Date | null, now: Date): string {
  if (since === null) return '—';
  const seconds = Math.max(0, Math.round((now.getTime() - since.getTime()) / 1000));
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

function row(backlog: EndpointBacklog, now: Date): string {
  const cells = [
    backlog.endpointId,
    origin(backlog.url),
    backlog.description ?? '',
    backlog.enabled ? 'yes' : 'no',
    String(backlog.pending),
    String(backlog.failed),
    age(backlog.oldestPendingAt, now),
    backlog.lastDeliveredAt ? `${age(backlog.lastDeliveredAt, now)} ago` : 'never',
    [backlog.lastResponseCode, backlog.lastError].filter((part) => part !== null).join(' ') || '—',
  ];
  const attention = backlog.failed > 0 || backlog.pending > 0 ? ' class="attention"' : '';
  return `<tr${attention}>${cells.map((cell) => `<td>${escape(cell)}</td>`).join('')}</tr>`;
}

export function webhooksPage(backlogs: readonly EndpointBacklog[], now: Date): string {
  const headings = [
    'endpoint',
    'origin',
    'description',
    'enabled',
    'pending',
    'failed',
    'oldest pending',
    'last delivered',
    'latest error',
  ];
  const body =
    backlogs.length === 0
      ? `<tr><td colspan="${headings.length}">No webhook endpoints yet: set WEBHOOK_URL, or POST /v1/webhook_endpoints.</td></tr>`
      : backlogs.map((backlog) => row(backlog, now)).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>credits ledger · webhooks</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}tr.attention td{background:#fff4e5}</style>
</head><body>
<h1>Webhook deliveries</h1>
<p><a href="/admin/queues">Queues</a> · redeliver failed deliveries with
<code>POST /v1/webhook_endpoints/{id}/redeliver_failed</code></p>
<table><thead><tr>${headings.map((heading) => `<th>${heading}</th>`).join('')}</tr></thead>
<tbody>
${body}
</tbody></table>
</body></html>
`;
}

export function registerWebhooksPage(
  scope: FastifyInstance,
  deps: { orm: Orm; clock: Clock },
): void {
  scope.get(WEBHOOKS_PAGE_PATH, async (_request, reply) => {
    const backlogs = await endpointBacklogs(deps.orm.em.fork());
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(webhooksPage(backlogs, deps.clock.now()));
  });
}
