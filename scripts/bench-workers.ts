/**
 * `npm run bench:workers`: throughput with 1, 2 and 4 worker processes on one local Redis
 * Cluster (scripts/redisCluster.ts, three masters and three replicas). For each worker count: a
 * fresh database, one `ROLE=api` process and N `ROLE=worker` processes (scripts/faults/
 * serviceRoles.ts), then two closed-loop phases of the fault runs' load (scripts/faults/
 * mixedLoad.ts): usage batches through `POST /v1/ingest` (applied events/s, from the first send
 * until every accepted event is applied), then ledger increments and decrements, half of them
 * `respond-async` (committed writes/s, until every accepted one is committed).
 *
 * Beside the rates, what shows whether anything serializes across partitions: each worker
 * process's CPU seconds in the phase (the work spread over the processes) and each master's Redis
 * CPU seconds (INFO cpu) against the phase's length (a master near 1 CPU-second per second would
 * be the limit). Last, the raw Postgres ceilings of the same run (scripts/ceiling-postgres.ts,
 * ingest and writes) for the ratio. On a 2-core machine shared by everything, the rates do not
 * grow with workers; the point is that they do not fall, and that the work spreads.
 *   npm run bench:workers -- --workers 1,2,4 --seconds 10 --customers 200 --partitions 16
 * The last line is the figures as JSON (`BENCH_RESULT`, bench `workers`).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { parseResult, printResult, recreateDatabase } from './benchSupport.ts';
import { closeHttpAgent } from './faults/http.ts';
import { MixedLoad, type LoadTarget } from './faults/mixedLoad.ts';
import { FAULTS_API_KEY, ServiceRoles } from './faults/serviceRoles.ts';
import { startRedisCluster, type RedisClusterHarness } from './redisCluster.ts';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 ? (process.argv[index + 1] ?? fallback) : fallback;
}

const workerCounts = option('workers', '1,2,4').split(',').map(Number);
const seconds = Number(option('seconds', '10'));
const customers = Number(option('customers', '200'));
const partitions = Number(option('partitions', '16'));
const ingestClients = Number(option('ingest-clients', '8'));
const eventsPerBatch = Number(option('batch', '100'));
const writeClients = Number(option('write-clients', '32'));
const databaseUrl =
  process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/credits_bench_workers';

/** CPU seconds a process has used so far (Linux /proc, USER_HZ 100), 0 when unreadable. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

async function redisCpu(port: number): Promise<number> {
  const node = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null });
  node.on('error', () => undefined);
  await node.connect();
  try {
    const info = await node.info('cpu');
    const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1]);
    return field('used_cpu_user') + field('used_cpu_sys');
  } finally {
    node.disconnect();
  }
}

interface PhaseFigures {
  /** Applied events/s or committed writes/s, first send → last applied. */
  perSecond: number;
  count: number;
  seconds: number;
  /** CPU seconds of each worker process in the phase, and its share of their sum. */
  workerCpu: number[];
  workerShare: number[];
  /** Redis CPU seconds per master in the phase, per second of the phase. */
  redisCpuPerSecond: Record<string, number>;
}

async function measure(
  roles: ServiceRoles,
  harness: RedisClusterHarness,
  work: () => Promise<{ count: number; seconds: number }>,
): Promise<PhaseFigures> {
  const pids = roles.workerPids();
  const masters = (await harness.masters()).map((node) => node.port);
  const cpuBefore = pids.map(cpuSeconds);
  const redisBefore = await Promise.all(masters.map(redisCpu));
  const { count, seconds: elapsed } = await work();
  const workerCpu = pids.map((pid, index) => cpuSeconds(pid) - (cpuBefore[index] ?? 0));
  const redisAfter = await Promise.all(masters.map(redisCpu));
  const total = workerCpu.reduce((sum, value) => sum + value, 0) || 1;
  const round = (value: number, digits = 2) => Number(value.toFixed(digits));
  return {
    perSecond: Math.round(count / elapsed),
    count,
    seconds: round(elapsed, 1),
    workerCpu: workerCpu.map((value) => round(value)),
    workerShare: workerCpu.map((value) => round(value / total)),
    redisCpuPerSecond: Object.fromEntries(
      masters.map((port, index) => [
        String(port),
        round(((redisAfter[index] ?? 0) - (redisBefore[index] ?? 0)) / elapsed, 3),
      ]),
    ),
  };
}

/** Polls until nothing the phase accepted is still waiting; answers the last application time. */
async function waitApplied(db: pg.Client, query: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await db.query<{ left: number }>(query);
    if ((rows[0]?.left ?? 0) === 0) return;
    if (Date.now() > deadline)
      throw new Error(`still ${rows[0]?.left} waiting after ${timeoutMs} ms`);
    await sleep(100);
  }
}

async function runWith(harness: RedisClusterHarness, workers: number, logDir: string) {
  await recreateDatabase(databaseUrl);
  const roles = await ServiceRoles.start(
    {
      databaseUrl,
      redisUrl: '',
      redisClusterNodes: harness.seed,
      workers,
      queuePrefix: `bw${workers}-${randomBytes(3).toString('hex')}`,
      partitions,
      jobLockMs: 4_000,
    },
    join(logDir, `workers-${workers}.log`),
  );
  const db = new pg.Client({ connectionString: databaseUrl, application_name: 'bench-workers' });
  await db.connect();
  try {
    const target = (prefix: string): LoadTarget => ({
      baseUrl: roles.baseUrl,
      apiKey: FAULTS_API_KEY,
      keyPrefix: `${prefix}${workers}`,
    });
    const shape = { customers, eventsPerBatch, pauseMs: 0, replayHttp: false };
    const ingest = new MixedLoad(target('ingest'), {
      ...shape,
      ingestClients,
      ledgerClients: 0,
    });
    await ingest.setUp();
    const ingestFigures = await measure(roles, harness, async () => {
      const started = Date.now();
      ingest.start();
      await sleep(seconds * 1000);
      const result = await ingest.stop();
      await waitApplied(db, `select count(*)::int as left from events where status = 'accepted'`);
      return { count: result.ingest.events, seconds: (Date.now() - started) / 1000 };
    });
    const writes = new MixedLoad(target('writes'), {
      ...shape,
      ingestClients: 0,
      ledgerClients: writeClients,
    });
    writes.result.customers.push(...ingest.result.customers);
    const writeFigures = await measure(roles, harness, async () => {
      const started = Date.now();
      writes.start();
      await sleep(seconds * 1000);
      const result = await writes.stop();
      await waitApplied(db, `select count(*)::int as left from requests where status = 'queued'`);
      return { count: result.ledger.answered, seconds: (Date.now() - started) / 1000 };
    });
    const problems = [...ingest.result.problems, ...writes.result.problems, ...roles.deaths];
    return { workers, ingest: ingestFigures, writes: writeFigures, problems };
  } finally {
    await db.end();
    await roles.stop();
  }
}

async function ceiling(kind: 'ingest' | 'writes'): Promise<Record<string, unknown> | undefined> {
  const { stdout } = await run(
    process.execPath,
    [
      join(import.meta.dirname, 'ceiling-postgres.ts'),
      '--kind',
      kind,
      '--seconds',
      String(seconds),
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  return parseResult(stdout);
}

async function main(): Promise<void> {
  const logDir = mkdtempSync(join(tmpdir(), 'credits-bench-workers-'));
  const harness = await startRedisCluster();
  const runs = [];
  try {
    for (const workers of workerCounts) {
      const figures = await runWith(harness, workers, logDir);
      runs.push(figures);
      console.log(
        `${workers} worker(s): ingest ${figures.ingest.perSecond} applied events/s (${figures.ingest.count} in ${figures.ingest.seconds} s), ` +
          `worker CPU shares ${figures.ingest.workerShare.join('/')}, Redis CPU s/s per master ${Object.values(figures.ingest.redisCpuPerSecond).join('/')}; ` +
          `writes ${figures.writes.perSecond} committed/s (${figures.writes.count} in ${figures.writes.seconds} s), ` +
          `worker CPU shares ${figures.writes.workerShare.join('/')}, Redis CPU s/s per master ${Object.values(figures.writes.redisCpuPerSecond).join('/')}` +
          (figures.problems.length > 0
            ? `; PROBLEMS: ${figures.problems.slice(0, 5).join(' | ')}`
            : ''),
      );
    }
  } finally {
    await harness.stop();
    closeHttpAgent();
  }
  const ingestCeiling = await ceiling('ingest');
  const writesCeiling = await ceiling('writes');
  console.log(
    `raw Postgres ceiling (same run): ingest ${JSON.stringify(ingestCeiling)}; writes ${JSON.stringify(writesCeiling)}`,
  );
  console.log(`service logs: ${logDir}`);
  printResult('workers', {
    seconds,
    customers,
    partitions,
    ingestClients,
    eventsPerBatch,
    writeClients,
    runs,
    ceiling: { ingest: ingestCeiling, writes: writesCeiling },
  });
}

await main();
process.exit(0);
