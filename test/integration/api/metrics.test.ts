/**
 * `GET /metrics` against the real service, without an API key: the body is Prometheus text (every
 * sample belongs to a family declared by `# TYPE`), and the counters move with traffic: usage
 * events accepted, rejected and duplicate at intake, applied in the worker, ledger entries
 * written, job run times, HTTP latency by route. The per-partition queue gauges are read from
 * Redis when scraped; an api-only service (no worker drains its queues) shows a waiting job and
 * its age.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf } from '../../../worker/jobs/partition.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  eventually,
  ledgerEntryPath,
  sleep,
} from '../ledgerTestHelpers.ts';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t?.stop();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  types: Map<string, string>;
  samples: Sample[];
}

/** Values as Prometheus reads them (Go's ParseFloat: NaN and Inf in any case; prom-client writes `Nan`). */
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|nan|[+-]inf)$/i;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** A strict reading of the Prometheus text format (0.0.4): any line it does not know fails. */
function parse(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ')) continue;
    const type =
      /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    const sample = SAMPLE.exec(line);
    if (!sample) throw new Error(`not Prometheus text: ${JSON.stringify(line)}`);
    const labels = Object.fromEntries(
      [...(sample[2] ?? '').matchAll(LABEL)].map((match) => [match[1]!, match[2]!]),
    );
    const text = sample[3]!.toLowerCase();
    samples.push({
      name: sample[1]!,
      labels,
      value:
        text === 'nan'
          ? Number.NaN
          : text.endsWith('inf')
            ? Number(`${text[0]}1`) * Infinity
            : Number(text),
    });
  }
  return { types, samples };
}

function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return types.get(base) === 'histogram' || types.get(base) === 'summary' ? base : undefined;
}

async function scrape(service: TestService = t): Promise<Exposition> {
  const response = await service.request('GET', '/metrics', undefined, { authorization: '' });
  expect(response.status, response.text).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parse(response.text);
}

/** The value of the one sample with this name whose labels include `labels`; 0 when absent. */
function value(exposition: Exposition, name: string, labels: Record<string, string> = {}): number {
  const matching = exposition.samples.filter(
    (sample) =>
      sample.name === name &&
      Object.entries(labels).every(([key, wanted]) => sample.labels[key] === wanted),
  );
  return matching.reduce((sum, sample) => sum + sample.value, 0);
}

function usageEvent(customerId: string, eventName: string, fields: Record<string, unknown> = {}) {
  return {
    idempotency_key: randomUUID(),
    event_name: eventName,
    timestamp: new Date(Date.now() - 60_000).toISOString(),
    customer_id: customerId,
    properties: {},
    ...fields,
  };
}

describe('GET /metrics', () => {
  it('answers Prometheus text without an API key, with the default process metrics', async () => {
    const exposition = await scrape();
    for (const sample of exposition.samples) {
      expect(familyOf(sample.name, exposition.types), `${sample.name} has a # TYPE`).toBeDefined();
    }
    expect(exposition.types.get('process_cpu_user_seconds_total')).toBe('counter');
    expect(exposition.types.get('nodejs_heap_size_used_bytes')).toBe('gauge');
    expect(exposition.types.get('credits_http_request_duration_seconds')).toBe('histogram');
    expect(exposition.types.get('credits_job_duration_seconds')).toBe('histogram');
    expect(exposition.types.get('credits_usage_events_total')).toBe('counter');
    expect(exposition.types.get('credits_ledger_entries_written_total')).toBe('counter');
  });

  it('reports every partition queue with its job counts and oldest waiting age', async () => {
    const exposition = await scrape();
    for (let partition = 0; partition < t.service.config.partitions; partition += 1) {
      for (const state of ['waiting', 'active', 'delayed', 'failed']) {
        const samples = exposition.samples.filter(
          (sample) =>
            sample.name === 'credits_queue_jobs' &&
            sample.labels.partition === String(partition) &&
            sample.labels.state === state,
        );
        expect(samples, `partition ${partition} ${state}`).toHaveLength(1);
      }
      expect(
        exposition.samples.filter(
          (sample) =>
            sample.name === 'credits_queue_oldest_waiting_age_seconds' &&
            sample.labels.partition === String(partition),
        ),
      ).toHaveLength(1);
    }
  });

  it('counts usage events, ledger entries, jobs and requests as traffic flows', async () => {
    const before = await scrape();
    const customer = await createCustomer(t);
    const eventName = `metrics_${randomUUID().slice(0, 8)}`;
    const price = await t.request('POST', '/v1/usage_prices', {
      name: eventName,
      event_name: eventName,
      item_id: 'item',
      unit_amount: '1',
    });
    expect(price.status, price.text).toBe(201);
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 100 });

    const good = usageEvent(customer.id, eventName);
    const tooLate = usageEvent(customer.id, eventName, {
      timestamp: new Date(Date.now() + 3_600_000).toISOString(),
    });
    const first = await t.request('POST', '/v1/ingest', { events: [good, tooLate] });
    expect(first.status, first.text).toBe(200);
    expect(first.body.validation_failed).toHaveLength(1);
    const delta = (exposition: Exposition, name: string, labels: Record<string, string> = {}) =>
      value(exposition, name, labels) - value(before, name, labels);
    const scrapeUntilMoved = (name: string, labels: Record<string, string>, what: string, by = 1) =>
      eventually(
        async () => {
          const exposition = await scrape();
          return delta(exposition, name, labels) >= by ? exposition : undefined;
        },
        10_000,
        what,
      );
    // The repeat goes once the first is applied: a duplicate, whichever side of the worker it is.
    await scrapeUntilMoved(
      'credits_usage_events_total',
      { outcome: 'applied' },
      'the event applied',
    );
    const repeat = await t.request('POST', '/v1/ingest', { events: [good] });
    expect(repeat.status, repeat.text).toBe(200);
    await scrapeUntilMoved(
      'credits_usage_events_total',
      { outcome: 'duplicate' },
      'the repeat counted as a duplicate',
    );
    // The repeat still rings its partition (a retry after a 503 needs that): a second job runs.
    const after = await scrapeUntilMoved(
      'credits_job_duration_seconds_count',
      { job_name: 'usage.apply' },
      'the repeat’s job',
      2,
    );
    expect(delta(after, 'credits_usage_events_total', { outcome: 'accepted' })).toBe(2);
    expect(delta(after, 'credits_usage_events_total', { outcome: 'rejected' })).toBe(1);
    expect(delta(after, 'credits_usage_events_total', { outcome: 'applied' })).toBe(1);
    expect(delta(after, 'credits_usage_events_total', { outcome: 'duplicate' })).toBe(1);
    expect(
      delta(after, 'credits_ledger_entries_written_total', {
        entry_type: 'increment',
        entry_status: 'committed',
      }),
    ).toBe(1);
    expect(delta(after, 'credits_ledger_requests_total', { outcome: 'committed' })).toBe(1);
    expect(delta(after, 'credits_job_duration_seconds_count', { job_name: 'ledger.apply' })).toBe(
      1,
    );
    expect(
      delta(after, 'credits_job_duration_seconds_count', { job_name: 'usage.apply' }),
    ).toBeGreaterThanOrEqual(2);
    expect(
      delta(after, 'credits_job_duration_seconds_sum', { job_name: 'usage.apply' }),
    ).toBeGreaterThan(0);
    expect(
      delta(after, 'credits_http_request_duration_seconds_count', {
        method: 'POST',
        route: '/v1/ingest',
        status_code: '200',
      }),
    ).toBe(2);
    const ledgerRoutes = after.samples.filter(
      (sample) =>
        sample.name === 'credits_http_request_duration_seconds_count' &&
        sample.labels.route?.endsWith('/credits/ledger_entry') &&
        sample.labels.status_code === '201',
    );
    expect(ledgerRoutes.map((sample) => sample.labels.route)).toEqual([
      '/v1/customers/:customer_id/credits/ledger_entry',
    ]);
    // Routes are patterns, never raw URLs with ids in them.
    expect(after.samples.some((sample) => sample.labels.route?.includes(customer.id))).toBe(false);
  });

  it('shows a waiting job and its age on its partition when no worker drains the queue', async () => {
    const api = await startTestService({ ROLE: 'api' });
    try {
      const customer = await createCustomer(api);
      const partition = String(partitionOf(customer.id, api.service.config.partitions));
      const accepted = await api.request(
        'POST',
        ledgerEntryPath(customer.id),
        { entry_type: 'increment', amount: 5 },
        { prefer: 'respond-async' },
      );
      expect(accepted.status, accepted.text).toBe(202);
      await sleep(1_100);
      const exposition = await scrape(api);
      expect(value(exposition, 'credits_queue_jobs', { partition, state: 'waiting' })).toBe(1);
      expect(
        value(exposition, 'credits_queue_oldest_waiting_age_seconds', { partition }),
      ).toBeGreaterThanOrEqual(1);
      expect(
        value(exposition, 'credits_queue_oldest_waiting_age_seconds', { partition }),
      ).toBeLessThan(60);
      const others = exposition.samples.filter(
        (sample) =>
          sample.name === 'credits_queue_jobs' &&
          sample.labels.state === 'waiting' &&
          sample.labels.partition !== partition,
      );
      expect(others.map((sample) => sample.value)).toEqual([0, 0, 0]);
    } finally {
      await api.stop();
    }
  });
});
