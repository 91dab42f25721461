/**
 * Graceful shutdown under load, with the service as its own process: SIGTERM arrives while
 * concurrent ledger increments (some waiting for their entry, some `Prefer: respond-async`) and
 * an ingest stream are in flight. Every request that was answered 2xx must survive: after a
 * restart on the same database and BullMQ prefix, each 201's entry exists, each 202's request
 * reaches `committed`, and each event an ingest 200 accepted is in the events table. Requests
 * that failed with a connection error (the listener had closed) may be missing.
 */
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BENCH_API_KEY,
  startServiceProcess,
  type RunningService,
} from '../../../scripts/benchSupport.ts';
import { deleteQueueKeys } from '../../../worker/jobs/queueKeys.ts';
import { cloneTemplateDatabase, type TestDatabase } from '../../support/databases.ts';
import { QUEUE_STORE, REDIS_URL } from '../../support/testService.ts';

const CONCURRENCY = 12;
const LOAD_MS = 1_000;
const SIGTERM_AFTER_MS = 500;

let database: TestDatabase | undefined;
const queuePrefix = `test-shutdown-${randomUUID().slice(0, 8)}`;
const started: RunningService[] = [];

afterAll(async () => {
  for (const service of started) {
    if (service.process.exitCode === null && service.process.signalCode === null) {
      await new Promise<void>((resolve) => {
        service.process.once('exit', () => resolve());
        service.process.kill('SIGTERM');
      });
    }
  }
  if (QUEUE_STORE === 'redis') await deleteQueueKeys(REDIS_URL, queuePrefix);
  await database?.drop();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

function send(
  agent: Agent,
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const outgoing = request(
      `${baseUrl}${path}`,
      {
        method,
        agent,
        headers: {
          authorization: `Bearer ${BENCH_API_KEY}`,
          ...(text === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }),
          ...headers,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = raw ? JSON.parse(raw) : undefined;
          } catch {
            parsed = raw;
          }
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: parsed });
        });
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(text);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function start(): Promise<RunningService> {
  return startServiceProcess({
    DATABASE_URL: database!.url,
    REDIS_URL,
    QUEUE_STORE,
    QUEUE_PREFIX: queuePrefix,
    PARTITIONS: '4',
    LOG_LEVEL: 'error',
  }).then((service) => {
    started.push(service);
    return service;
  });
}

describe('graceful shutdown', () => {
  it('SIGTERM during load loses no accepted request', { timeout: 120_000 }, async () => {
    database = await cloneTemplateDatabase();
    const first = await start();
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    const post = (path: string, body: unknown, headers?: Record<string, string>) =>
      send(agent, first.baseUrl, 'POST', path, body, headers);

    const price = await post('/v1/usage_prices', {
      name: 'Shutdown',
      event_name: 'shutdown_tokens',
      item_id: 'item',
      unit_amount: '0.001',
      quantity_property: 'tokens',
    });
    expect(price.status).toBe(201);
    const customers: string[] = [];
    for (let index = 0; index < 6; index += 1) {
      const customer = await post('/v1/customers', {
        name: `c${index}`,
        email: `c${index}@example.test`,
        external_customer_id: `shutdown_${index}`,
      });
      expect(customer.status).toBe(201);
      customers.push(customer.body.id);
    }

    const committed: string[] = []; // entry ids answered 201
    const queued: string[] = []; // request ids answered 202
    const acceptedEvents: string[] = [];
    const refused = new Map<string, number>(); // other outcomes, by kind
    const count = (kind: string) => refused.set(kind, (refused.get(kind) ?? 0) + 1);
    let signalledAt = Number.POSITIVE_INFINITY;
    let acceptedAfterSignal = 0;
    const accepted = () => {
      if (Date.now() >= signalledAt) acceptedAfterSignal += 1;
    };
    let exited = false;
    first.process.once('exit', () => {
      exited = true;
    });

    const loadStartedAt = Date.now();
    const deadline = loadStartedAt + LOAD_MS;
    const ledgerClient = async (worker: number) => {
      for (let sequence = 0; Date.now() < deadline && !exited; sequence += 1) {
        const customer = customers[(worker + sequence) % customers.length]!;
        const async = (worker + sequence) % 2 === 0;
        try {
          const answer = await post(
            `/v1/customers/${customer}/credits/ledger_entry`,
            { entry_type: 'increment', amount: 1, description: `w${worker}-${sequence}` },
            { 'idempotency-key': randomUUID(), ...(async ? { prefer: 'respond-async' } : {}) },
          );
          if (answer.status === 201) committed.push(answer.body.id);
          else if (answer.status === 202) queued.push(answer.body.id);
          if (answer.status === 201 || answer.status === 202) accepted();
          else count(`http ${answer.status}`);
        } catch (error) {
          count(`connection ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
          await sleep(20);
        }
      }
    };
    const ingestClient = async () => {
      for (let sequence = 0; Date.now() < deadline && !exited; sequence += 1) {
        const events = customers.map((customer, index) => ({
          idempotency_key: randomUUID(),
          event_name: 'shutdown_tokens',
          timestamp: new Date().toISOString(),
          customer_id: customer,
          properties: { tokens: 1 + index },
        }));
        try {
          const answer = await post('/v1/ingest', { events });
          if (answer.status === 200) {
            const failed = new Set(
              (answer.body.validation_failed as { idempotency_key: string }[]).map(
                (failure) => failure.idempotency_key,
              ),
            );
            for (const event of events)
              if (!failed.has(event.idempotency_key)) acceptedEvents.push(event.idempotency_key);
            accepted();
          } else count(`ingest http ${answer.status}`);
        } catch (error) {
          count(`ingest connection ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
          await sleep(20);
        }
      }
    };
    const exit = new Promise<void>((resolve) => first.process.once('exit', () => resolve()));
    const sigterm = sleep(SIGTERM_AFTER_MS).then(() => {
      signalledAt = Date.now();
      first.process.kill('SIGTERM');
    });
    await Promise.all([
      ...Array.from({ length: CONCURRENCY }, (_, worker) => ledgerClient(worker)),
      ingestClient(),
      ingestClient(),
      sigterm,
    ]);
    await exit;
    agent.destroy();
    expect(first.process.exitCode).toBe(0);
    // The load did reach the service on both sides of the signal.
    expect(committed.length).toBeGreaterThan(0);
    expect(queued.length).toBeGreaterThan(0);
    expect(acceptedEvents.length).toBeGreaterThan(0);

    const second = await start();
    const db = new pg.Client({ connectionString: database.url });
    await db.connect();
    try {
      const restartedAgent = new Agent({ keepAlive: true });
      const missingRequests = new Set(queued);
      let missingEntries: string[] = [];
      let missingEvents: string[] = [];
      const drainDeadline = Date.now() + 30_000;
      for (;;) {
        for (const id of [...missingRequests]) {
          const answer = await send(
            restartedAgent,
            second.baseUrl,
            'GET',
            `/v1/ledger_requests/${id}`,
          );
          if (answer.status === 200 && answer.body.status === 'committed')
            missingRequests.delete(id);
        }
        const entries = await db.query<{ id: string }>(
          'select id from ledger_entries where id = any($1::text[])',
          [committed],
        );
        const found = new Set(entries.rows.map((row) => row.id));
        missingEntries = committed.filter((id) => !found.has(id));
        const events = await db.query<{ idempotency_key: string }>(
          'select idempotency_key from events where idempotency_key = any($1::text[])',
          [acceptedEvents],
        );
        const foundEvents = new Set(events.rows.map((row) => row.idempotency_key));
        missingEvents = acceptedEvents.filter((key) => !foundEvents.has(key));
        if (
          (missingRequests.size === 0 &&
            missingEntries.length === 0 &&
            missingEvents.length === 0) ||
          Date.now() > drainDeadline
        )
          break;
        await sleep(250);
      }
      restartedAgent.destroy();
      const summary = {
        committed: committed.length,
        queued: queued.length,
        acceptedEvents: acceptedEvents.length,
        acceptedAfterSignal,
        refused: Object.fromEntries(refused),
      };
      if (process.env.SHUTDOWN_TEST_VERBOSE) console.info('shutdown load', summary);
      expect({
        missingRequests: [...missingRequests],
        missingEntries,
        missingEvents,
        summary,
      }).toEqual({
        missingRequests: [],
        missingEntries: [],
        missingEvents: [],
        summary,
      });
    } finally {
      await db.end();
    }
  });
});
