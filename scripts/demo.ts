/**
 * `npm run demo`: a short tour against a running service. Seeds three customers in different
 * timezones, a usage price and a few expiring credit increments, streams usage events for a while
 * with a one-line progress bar and each customer's balance, then prints each customer's last ledger
 * entries as a table. Stops by itself; traffic goes to 127.0.0.1 only.
 *   npm run demo                      (DEMO_URL, default http://127.0.0.1:8080; DEMO_API_KEY or API_KEYS)
 *   npm run demo -- --start           (starts its own service on a fresh database credits_demo: on
 *                                      DEMO_DATABASE_URL, else the Postgres at 127.0.0.1:5432, else
 *                                      an embedded one made for this run; queues in Redis at
 *                                      127.0.0.1:6379 if it answers, else in Postgres)
 *   npm run demo -- --seconds 10
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface DemoOptions {
  baseUrl: string;
  apiKey: string;
  /** How long to stream usage. */
  seconds: number;
  /** Receives output lines; a line starting with `\r` redraws the progress line. */
  write: (line: string) => void;
}

interface DemoCustomer {
  id: string;
  name: string;
  timezone: string;
}

const BAR_WIDTH = 30;

async function call(
  options: DemoOptions,
  method: string,
  path: string,
  body?: unknown,
): Promise<any> {
  const url = new URL(path, options.baseUrl);
  if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost')
    throw new Error(`the demo only talks to 127.0.0.1, not ${url.hostname}`);
  const response = await fetch(url, {
    method,
    headers: {
      authorization: `Bearer ${options.apiKey}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
  return text ? JSON.parse(text) : undefined;
}

function isoDate(daysAhead: number): string {
  return new Date(Date.now() + daysAhead * 86_400_000).toISOString().slice(0, 10);
}

/** The customer's credit balance: the sum of its live blocks' balances, as exact-ish text. */
async function balanceOf(options: DemoOptions, customerId: string): Promise<string> {
  const blocks = await call(options, 'GET', `/v1/customers/${customerId}/credits?limit=100`);
  let total = 0;
  for (const block of blocks.data as { balance: number | string }[]) total += Number(block.balance);
  return total.toFixed(2);
}

function pad(text: string, width: number): string {
  return text.length >= width ? text.slice(0, width) : text + ' '.repeat(width - text.length);
}

function padLeft(text: string, width: number): string {
  return text.length >= width ? text.slice(0, width) : ' '.repeat(width - text.length) + text;
}

function formatAmount(value: unknown): string {
  const number = Number(value);
  return Number.isFinite(number) ? number.toFixed(4) : String(value);
}

function ledgerTable(entries: any[]): string[] {
  const header = `  ${pad('created_at', 20)}  ${pad('entry_type', 22)}  ${pad('status', 9)}  ${padLeft('amount', 12)}  ${padLeft('ending_balance', 14)}`;
  const lines = [header, `  ${'-'.repeat(header.length - 2)}`];
  for (const entry of entries) {
    lines.push(
      `  ${pad(String(entry.created_at).slice(0, 19).replace('T', ' '), 20)}  ${pad(String(entry.entry_type), 22)}  ${pad(String(entry.entry_status), 9)}  ${padLeft(formatAmount(entry.amount), 12)}  ${padLeft(formatAmount(entry.ending_balance), 14)}`,
    );
  }
  return lines;
}

export async function runDemo(options: DemoOptions): Promise<void> {
  const { write } = options;
  const run = randomBytes(3).toString('hex');
  write(`credits-ledger demo against ${options.baseUrl} (run ${run})`);

  const eventName = `demo_tokens_${run}`;
  await call(options, 'POST', '/v1/usage_prices', {
    name: 'Demo tokens',
    event_name: eventName,
    item_id: 'demo_item',
    unit_amount: '0.01',
    quantity_property: 'tokens',
  });
  write(`usage price: event "${eventName}", 0.01 credits per token`);

  const seeds = [
    { name: 'Acme', timezone: 'America/Los_Angeles' },
    { name: 'Globex', timezone: 'Europe/Berlin' },
    { name: 'Initech', timezone: 'Asia/Tokyo' },
  ];
  const customers: DemoCustomer[] = [];
  for (const seed of seeds) {
    const external = `demo_${seed.name.toLowerCase()}_${run}`;
    const customer = await call(options, 'POST', '/v1/customers', {
      name: seed.name,
      email: `billing@${seed.name.toLowerCase()}.test`,
      external_customer_id: external,
      timezone: seed.timezone,
      currency: 'USD',
    });
    customers.push({ id: customer.id, name: seed.name, timezone: seed.timezone });
    await call(options, 'POST', `/v1/customers/${customer.id}/credits/ledger_entry`, {
      entry_type: 'increment',
      amount: 50,
      expiry_date: isoDate(30),
      description: 'monthly allowance',
    });
    await call(options, 'POST', `/v1/customers/${customer.id}/credits/ledger_entry`, {
      entry_type: 'increment',
      amount: 100,
      expiry_date: isoDate(365),
      description: 'prepaid top-up',
    });
    write(
      `customer ${pad(seed.name, 8)} ${pad(seed.timezone, 20)} ${customer.id}: +50 (expires ${isoDate(30)}), +100 (expires ${isoDate(365)})`,
    );
  }

  write(`streaming usage for ${options.seconds} s ...`);
  const started = Date.now();
  const deadline = started + options.seconds * 1000;
  let sent = 0;
  let sequence = 0;
  let balances = customers.map(() => '?');
  let lastBalanceAt = 0;
  const draw = () => {
    const fraction = Math.min(1, (Date.now() - started) / (options.seconds * 1000));
    const filled = Math.round(fraction * BAR_WIDTH);
    const shown = customers
      .map((customer, index) => `${customer.name} ${balances[index]}`)
      .join('  ');
    write(
      `\r[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${padLeft(String(Math.round(fraction * 100)), 3)}%  ${sent} events  ${shown}   `,
    );
  };
  while (Date.now() < deadline) {
    const events = [];
    for (let index = 0; index < 10; index += 1) {
      sequence += 1;
      events.push({
        idempotency_key: `demo_${run}_${sequence}`,
        event_name: eventName,
        timestamp: new Date().toISOString(),
        customer_id: customers[sequence % customers.length]!.id,
        properties: { tokens: 1 + (sequence % 5) },
      });
    }
    await call(options, 'POST', '/v1/ingest', { events });
    sent += events.length;
    if (Date.now() - lastBalanceAt >= 500) {
      lastBalanceAt = Date.now();
      balances = await Promise.all(customers.map((customer) => balanceOf(options, customer.id)));
    }
    draw();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // Usage is deducted within about a second: give the worker a moment before the final figures.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  balances = await Promise.all(customers.map((customer) => balanceOf(options, customer.id)));
  draw();
  write('\n');

  for (const [index, customer] of customers.entries()) {
    const ledger = await call(
      options,
      'GET',
      `/v1/customers/${customer.id}/credits/ledger?limit=10`,
    );
    write('');
    write(
      `${customer.name} (${customer.timezone}), balance ${balances[index]}, last ${ledger.data.length} ledger entries:`,
    );
    for (const line of ledgerTable(ledger.data)) write(line);
  }
  write('');
  write(`done: ${sent} usage events in ${options.seconds} s`);
}

/**
 * A fresh database for `--start`: credits_demo on DEMO_DATABASE_URL's server or the one at the
 * default address; with nothing there (the zero-install case), an embedded PostgreSQL of this run's
 * own, removed afterwards. Queues go to Redis where one answers at the default address.
 */
async function demoDatabase(
  write: (line: string) => void,
): Promise<{ databaseUrl: string; queueStore: 'redis' | 'postgres'; stop(): Promise<void> }> {
  const { recreateDatabase } = await import('./benchSupport.ts');
  const { answers } = await import('./quickStart.ts');
  const { DEFAULT_REDIS_URL } = await import('../worker/runtime/config.ts');
  const redisUrl = process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
  const queueStore =
    process.env.REDIS_URL !== undefined || (await answers(redisUrl)) ? 'redis' : 'postgres';
  const given = process.env.DEMO_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/credits_demo';
  if (process.env.DEMO_DATABASE_URL !== undefined || (await answers(given))) {
    write(
      `starting the service on a fresh database ${new URL(given).pathname.slice(1)} (queues in ${queueStore}) ...`,
    );
    await recreateDatabase(given);
    return { databaseUrl: given, queueStore, stop: async () => undefined };
  }
  const { startEmbeddedPostgres, sharedHomePath } = await import('./embeddedPostgres.ts');
  const { freePort } = await import('./freePort.ts');
  const dataDir = join(mkdtempSync(join(tmpdir(), 'credits-demo-')), 'postgres');
  const remove = () => {
    rmSync(join(dataDir, '..'), { recursive: true, force: true });
    rmSync(sharedHomePath(dataDir), { recursive: true, force: true });
  };
  const port = await freePort();
  write(
    `nothing answers at ${new URL(given).host}: starting an embedded PostgreSQL for this demo (queues in ${queueStore}) ...`,
  );
  try {
    const password = randomBytes(12).toString('hex');
    const server = await startEmbeddedPostgres({ dataDir, port, password });
    return {
      databaseUrl: `postgres://postgres:${password}@127.0.0.1:${port}/credits_demo`,
      queueStore,
      stop: async () => {
        await server.stop();
        remove();
      },
    };
  } catch (error) {
    remove();
    throw error;
  }
}

function argValue(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index > 0 ? process.argv[index + 1] : undefined;
}

async function main(): Promise<void> {
  const seconds = Number(argValue('--seconds') ?? process.env.DEMO_SECONDS ?? 20);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new Error('--seconds must be a positive number');
  const write = (line: string) => {
    if (line.startsWith('\r') || line === '\n') process.stdout.write(line);
    else process.stdout.write(`${line}\n`);
  };
  if (process.argv.includes('--start')) {
    const { BENCH_API_KEY, startServiceProcess } = await import('./benchSupport.ts');
    const target = await demoDatabase(write);
    try {
      const service = await startServiceProcess({
        DATABASE_URL: target.databaseUrl,
        QUEUE_STORE: target.queueStore,
        PARTITIONS: '4',
        HOST: '127.0.0.1',
      });
      try {
        await runDemo({ baseUrl: service.baseUrl, apiKey: BENCH_API_KEY, seconds, write });
      } finally {
        await service.stop();
      }
    } finally {
      await target.stop();
    }
    return;
  }
  const apiKey = process.env.DEMO_API_KEY ?? process.env.API_KEYS?.split(',')[0]?.trim();
  if (!apiKey)
    throw new Error(
      'set DEMO_API_KEY (or API_KEYS) to the service key, or run `npm run demo -- --start`',
    );
  await runDemo({
    baseUrl: process.env.DEMO_URL ?? 'http://127.0.0.1:8080',
    apiKey,
    seconds,
    write,
  });
}

if (import.meta.main) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
