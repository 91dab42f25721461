/**
 * `npm run bench:report`: runs every benchmark, one after another, each as its own child process
 * on its own fresh database (each script recreates it), and writes BENCHMARKS.md at the
 * repository root: the machine (with its load before each benchmark: the machine may be shared),
 * the date and commit, the exact commands, issue 13's figures as absolutes beside their targets
 * and as ratios of the raw Postgres ceilings measured in the same run (scripts/ceiling-postgres.ts,
 * each run just before the service benchmark it bounds), a table of figures with the published
 * limits of hosted products beside ours, then each benchmark's details.
 *   npm run bench:report                 # about 20 minutes (issue 14 benches: about 10 more)
 *   npm run bench:report -- --with-soak  # plus the 10-minute soak
 *   npm run bench:report -- --quick      # short runs, to check the machinery; labelled as such
 *
 * Issue 14 adds: the alerts A/B (ingest and sync writes with 0 and with 1,000 alerts configured,
 * ALERT_PAIRS interleaved pairs, medians compared) and bench:webhooks (commit → receiver's 200 at
 * half the measured maximum ingest rate), summarised in their own section.
 *
 * Each benchmark ends with a `BENCH_RESULT {json}` line (scripts/benchSupport.ts), which is all
 * this reads of its output; the full output goes to bench-results/<name>.log (git-ignored). A
 * benchmark that exits non-zero, prints no result or outlives its time limit is reported as
 * failed, in the table and in its section, and the report still covers the others; then this
 * script exits 1 once BENCHMARKS.md is written.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import * as prettier from 'prettier';
import { benchRedisTarget, printResult, parseResult } from './benchSupport.ts';
import { openRedis } from '../worker/jobs/redis.ts';
import { ceilingFigures, ceilingRows, type BenchResults } from './ceilingComparison.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS_DIR = `${ROOT}bench-results`;
const REPORT_PATH = `${ROOT}BENCHMARKS.md`;
const DATABASE_URL =
  process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

interface BenchSpec {
  name: string;
  npmScript: string;
  script: string;
  args: { full: string[]; quick: string[] };
  /** Kills the benchmark after this long. */
  timeoutMinutes: { full: number; quick: number };
}

/** A raw Postgres ceiling (scripts/ceiling-postgres.ts), run just before the benchmark it bounds. */
function ceiling(kind: 'ingest' | 'writes' | 'reads'): BenchSpec {
  return {
    name: `ceiling-${kind}`,
    npmScript: 'bench:ceiling',
    script: 'scripts/ceiling-postgres.ts',
    args: {
      full: ['--kind', kind, '--seconds', '10', '--clients', '64'],
      quick: ['--kind', kind, '--seconds', '2', '--clients', '64', '--rows', '10000'],
    },
    timeoutMinutes: { full: 3, quick: 2 },
  };
}

// Closed loops of 64 clients, as issue 13 measures them; open loops at its target rates.
const BENCHES: readonly BenchSpec[] = [
  ceiling('ingest'),
  {
    name: 'ingest',
    npmScript: 'bench:ingest',
    script: 'scripts/bench-ingest.ts',
    args: {
      full: [
        '--seconds',
        '10',
        '--customers',
        '1000',
        '--concurrency',
        '64',
        '--batches',
        '1,100,500',
      ],
      quick: ['--seconds', '2', '--customers', '64', '--concurrency', '64', '--batches', '100'],
    },
    timeoutMinutes: { full: 15, quick: 5 },
  },
  ceiling('writes'),
  {
    name: 'ledger-writes',
    npmScript: 'bench:ledger',
    script: 'scripts/bench-ledger-writes.ts',
    args: {
      full: ['--seconds', '10', '--concurrency', '64', '--customers', '64', '--rate', '500'],
      quick: ['--seconds', '2', '--concurrency', '64', '--customers', '64', '--rate', '100'],
    },
    timeoutMinutes: { full: 10, quick: 5 },
  },
  ceiling('reads'),
  {
    name: 'balance-reads',
    npmScript: 'bench:reads',
    script: 'scripts/bench-balance-reads.ts',
    args: {
      full: ['--seconds', '10', '--customers', '1000', '--levels', '1,8,64,128', '--rate', '2000'],
      quick: [
        '--seconds',
        '2',
        '--customers',
        '200',
        '--levels',
        '1,64',
        '--forms',
        'id',
        '--rate',
        '200',
      ],
    },
    timeoutMinutes: { full: 10, quick: 5 },
  },
  {
    name: 'ledger-size',
    npmScript: 'bench:ledger-size',
    script: 'scripts/bench-ledger-size.ts',
    args: {
      full: ['--big-entries', '1000000', '--samples', '2000'],
      quick: ['--big-entries', '100000', '--samples', '200', '--warmup', '50'],
    },
    timeoutMinutes: { full: 20, quick: 5 },
  },
];

/** Interleaved pairs per alerts A/B (issue 14): the machine is shared, so medians, not one run. */
const ALERT_PAIRS = 3;
const ALERTS_CONFIGURED = 1000;

/** One run of an alerts A/B: `--alerts` 0 or ALERTS_CONFIGURED, named `<bench>-alerts-<n>-<pair>`. */
function alertsRun(bench: 'ingest' | 'ledger-writes', alerts: number, pair: number): BenchSpec {
  const ingest = bench === 'ingest';
  const seconds = (quick: boolean) => (quick ? '2' : '8');
  const args = (quick: boolean) =>
    ingest
      ? [
          '--seconds',
          seconds(quick),
          '--customers',
          quick ? '64' : '1000',
          '--concurrency',
          '64',
          '--batches',
          '100',
          '--alerts',
          String(alerts),
        ]
      : [
          '--seconds',
          seconds(quick),
          '--concurrency',
          '64',
          '--customers',
          '64',
          '--rate',
          quick ? '100' : '200',
          '--alerts',
          String(alerts),
        ];
  return {
    name: `${bench}-alerts-${alerts}-${pair}`,
    npmScript: ingest ? 'bench:ingest' : 'bench:ledger',
    script: ingest ? 'scripts/bench-ingest.ts' : 'scripts/bench-ledger-writes.ts',
    args: { full: args(false), quick: args(true) },
    timeoutMinutes: { full: 10, quick: 5 },
  };
}

/** Pairs alternate which arm goes first, so that a drift of the machine's load favours neither. */
function alertsAB(bench: 'ingest' | 'ledger-writes'): BenchSpec[] {
  return Array.from({ length: ALERT_PAIRS }, (_, index) =>
    (index % 2 === 0 ? [0, ALERTS_CONFIGURED] : [ALERTS_CONFIGURED, 0]).map((alerts) =>
      alertsRun(bench, alerts, index + 1),
    ),
  ).flat();
}

const ISSUE_14_BENCHES: readonly BenchSpec[] = [
  ...alertsAB('ingest'),
  ...alertsAB('ledger-writes'),
  {
    name: 'webhooks',
    npmScript: 'bench:webhooks',
    script: 'scripts/bench-webhooks.ts',
    args: {
      full: ['--seconds', '30', '--max-seconds', '8', '--customers', '1000', '--concurrency', '64'],
      quick: ['--seconds', '5', '--max-seconds', '2', '--customers', '64', '--concurrency', '64'],
    },
    timeoutMinutes: { full: 15, quick: 5 },
  },
];

const SOAK: BenchSpec = {
  name: 'soak',
  npmScript: 'soak',
  script: 'scripts/soak.ts',
  args: {
    full: ['--minutes', '10', '--rate', '3500'],
    quick: ['--minutes', '1', '--rate', '1000', '--customers', '100', '--warmup-seconds', '20'],
  },
  timeoutMinutes: { full: 20, quick: 5 },
};

/**
 * What hosted products publish, beside our figures. Figures from their documentation as of
 * this writing; a row states where it comes from so that it can be checked again.
 */
const HOSTED = {
  // The figures the project's brief gives for Orb; Orb's public pages set no hard production
  // limit (they ask to be told before volume grows tenfold) and document test mode at about
  // 2,000 events/min and 10 requests/s.
  orbIngest: 'Orb: about 1,000 events/s per account (brief; test mode ~33/s)',
  orbReads:
    'Orb: about 10 balance reads/s per account (brief; test mode ~10 req/s); Lago: 50 req/s per organization',
  lagoBalance:
    'Lago: a wallet\u2019s ongoing balance is refreshed every 5 minutes (real time is a paid add-on)',
} as const;

interface BenchOutcome {
  spec: BenchSpec;
  command: string;
  exitCode: number | null;
  timedOut: boolean;
  seconds: number;
  result: Record<string, any> | undefined;
  status: 'ok' | 'bound exceeded' | 'failed';
  tail: string;
  /** `uptime`'s load averages (1, 5, 15 min) just before it started: the machine may be shared. */
  loadBefore: string;
}

const loadAverage = () =>
  os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');

function run(spec: BenchSpec, quick: boolean): Promise<BenchOutcome> {
  const args = quick ? spec.args.quick : spec.args.full;
  const command = `npm run ${spec.npmScript} -- ${args.join(' ')}`;
  const loadBefore = loadAverage();
  console.log(`\n== ${spec.name}: ${command} (load average ${loadBefore})`);
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [`${ROOT}${spec.script}`, ...args], {
      cwd: ROOT,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const collect = (chunk: Buffer, to: NodeJS.WriteStream) => {
      output += chunk.toString('utf8');
      to.write(chunk);
    };
    child.stdout.on('data', (chunk: Buffer) => collect(chunk, process.stdout));
    child.stderr.on('data', (chunk: Buffer) => collect(chunk, process.stderr));
    let timedOut = false;
    const timer = setTimeout(
      () => {
        timedOut = true;
        child.kill('SIGTERM');
      },
      (quick ? spec.timeoutMinutes.quick : spec.timeoutMinutes.full) * 60_000,
    );
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      writeFileSync(`${RESULTS_DIR}/${spec.name}.log`, output);
      let result: Record<string, any> | undefined;
      try {
        result = parseResult(output);
      } catch {
        result = undefined;
      }
      // Exit 3: the benchmark ran and printed its result, but a figure broke its bound.
      const status =
        exitCode === 0 && result ? 'ok' : exitCode === 3 && result ? 'bound exceeded' : 'failed';
      const tail = output.trim().split('\n').slice(-12).join('\n');
      resolve({
        spec,
        command,
        exitCode,
        timedOut,
        seconds: (performance.now() - started) / 1000,
        result,
        status,
        tail,
        loadBefore,
      });
    });
  });
}

async function machine(): Promise<Record<string, string>> {
  const cpuModel =
    /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ??
    os.cpus()[0]?.model ??
    'unknown';
  let postgres = 'unreachable';
  const client = new pg.Client({ connectionString: DATABASE_URL });
  try {
    await client.connect();
    postgres =
      (await client.query<{ server_version: string }>('show server_version')).rows[0]
        ?.server_version ?? 'unknown';
  } catch {
    // reported as unreachable
  } finally {
    await client.end().catch(() => undefined);
  }
  let redis = 'unreachable';
  const target = benchRedisTarget();
  try {
    const connection = await openRedis(target, { kind: 'commands' });
    try {
      const version = /redis_version:(\S+)/.exec(await connection.info('server'))?.[1] ?? 'unknown';
      redis = target.kind === 'cluster' ? `${version} (Redis Cluster)` : version;
    } finally {
      connection.disconnect();
    }
  } catch {
    // reported as unreachable
  }
  return {
    cores: String(os.cpus().length),
    ram: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    cpu: cpuModel,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres,
    redis,
    loadAverage: loadAverage(),
  };
}

async function commit(): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('git', ['describe', '--always', '--dirty'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    child.on('close', () => resolve(text.trim() || 'unknown'));
    child.on('error', () => resolve('unknown'));
  });
}

const n = (value: unknown, digits = 0) =>
  typeof value === 'number' && Number.isFinite(value)
    ? value.toLocaleString('en-US', { maximumFractionDigits: digits })
    : '–';

/** The summary table: one row per figure, ours beside the hosted products' published limits. */
function figureRows(outcomes: Map<string, BenchOutcome>): string[][] {
  const rows: string[][] = [];
  const failedRow = (name: string, what: string) => {
    const outcome = outcomes.get(name);
    if (outcome && outcome.status === 'failed')
      rows.push([
        what,
        `**${name} failed** (exit ${outcome.exitCode ?? 'none'}${outcome.timedOut ? ', timed out' : ''})`,
        '',
      ]);
    return !outcome?.result;
  };
  if (!failedRow('ingest', 'usage ingest')) {
    const r = outcomes.get('ingest')!.result!;
    for (const batch of r.batches as any[]) {
      rows.push([
        `usage, batches of ${batch.batch_size}, applied end to end`,
        `${n(batch.applied_events_per_second)} events/s (accepted ${n(batch.accepted_events_per_second)}/s), lag p50 ${n(batch.lag_p50_ms)} ms, p99 ${n(batch.lag_p99_ms)} ms`,
        batch.batch_size === 100 ? HOSTED.orbIngest : '',
      ]);
    }
    if (r.steady)
      rows.push([
        `usage, steady at ${n(r.steady.events_per_second)} events/s`,
        `lag p50 ${n(r.steady.lag_p50_ms)} ms, p99 ${n(r.steady.lag_p99_ms)} ms`,
        HOSTED.lagoBalance,
      ]);
    rows.push([
      'service RSS during the usage runs',
      `${n(r.rss_min_mib)}–${n(r.rss_max_mib)} MiB`,
      '',
    ]);
  }
  if (!failedRow('ledger-writes', 'sync ledger writes')) {
    const r = outcomes.get('ledger-writes')!.result!;
    rows.push([
      `sync ledger writes, max (closed loop, ${r.concurrency} clients)`,
      `${n(r.closed_loop.writes_per_second)} writes/s, p99 ${n(r.closed_loop.p99_ms, 1)} ms`,
      '',
    ]);
    rows.push([
      `sync ledger writes at ${r.open_loop.rate}/s`,
      `p50 ${n(r.open_loop.p50_ms, 1)} ms, p99 ${n(r.open_loop.p99_ms, 1)} ms`,
      '',
    ]);
  }
  if (!failedRow('balance-reads', 'balance reads')) {
    const r = outcomes.get('balance-reads')!.result!;
    const runs = r.runs as any[];
    const best = runs
      .filter((run) => run.form === 'id')
      .sort((a, b) => b.reads_per_second - a.reads_per_second)[0];
    const single = runs.find((run) => run.form === 'id' && run.concurrency === 1);
    rows.push([
      `balance reads (GET .../credits), max`,
      `${n(r.max_reads_per_second)} reads/s at ${best?.concurrency} clients (p50 ${n(best?.p50_ms, 1)} ms, p99 ${n(best?.p99_ms, 1)} ms)` +
        (r.max_reads_per_second_external_id
          ? `; by external id ${n(r.max_reads_per_second_external_id)} reads/s`
          : ''),
      HOSTED.orbReads,
    ]);
    if (r.open_loop)
      rows.push([
        `balance reads at ${n(r.open_loop.rate)}/s (open loop)`,
        `p50 ${n(r.open_loop.p50_ms, 1)} ms, p99 ${n(r.open_loop.p99_ms, 1)} ms`,
        '',
      ]);
    if (single)
      rows.push([
        'balance read, one client',
        `p50 ${n(single.p50_ms, 1)} ms, p99 ${n(single.p99_ms, 1)} ms`,
        '',
      ]);
  }
  if (!failedRow('ledger-size', 'ledger size')) {
    const r = outcomes.get('ledger-size')!.result!;
    for (const [operation, label] of [
      ['decrement', 'sync decrement'],
      ['balance_read', 'balance read'],
    ] as const) {
      const o = r.operations[operation];
      rows.push([
        `${label}: ${n(r.small_entries)} vs ${n(r.big_entries)} entries`,
        `p50 ${n(o.small.p50_ms, 1)} → ${n(o.big.p50_ms, 1)} ms (×${n(o.p50_ratio, 2)}), p99 ${n(o.small.p99_ms, 1)} → ${n(o.big.p99_ms, 1)} ms (×${n(o.p99_ratio, 2)})`,
        '',
      ]);
    }
  }
  const soak = outcomes.get('soak');
  if (soak && !failedRow('soak', 'soak')) {
    const r = soak.result!;
    const slopes = Object.entries(r.rss_slope_mib_per_minute as Record<string, number>)
      .map(([name, value]) => `${name} ${value} MiB/min`)
      .join(', ');
    rows.push([
      `soak: ${n(r.minutes, 1)} min at ${n(r.events_per_second)} events/s`,
      `${r.ok ? 'passed' : `**failed**: ${(r.failures as string[]).join('; ')}`}; RSS slope ${slopes}; max depth ${n(r.queue_depth_max)} jobs; lag p99 ${n(r.lag_p99_ms)} ms`,
      '',
    ]);
  }
  return rows;
}

function resultsOf(outcomes: readonly BenchOutcome[]): BenchResults {
  return Object.fromEntries(outcomes.map((outcome) => [outcome.spec.name, outcome.result]));
}

function table(header: string[], rows: string[][]): string {
  const escape = (cell: string) => cell.replaceAll('|', '\\|');
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ].join('\n');
}

function details(outcome: BenchOutcome): string {
  const lines = [
    `### ${outcome.spec.name}`,
    '',
    `\`${outcome.command}\` — ${outcome.status}, ${outcome.seconds.toFixed(0)} s; load average before it ${outcome.loadBefore}`,
    '',
  ];
  const r = outcome.result;
  if (outcome.status === 'failed') {
    lines.push(
      `Exit code ${outcome.exitCode ?? 'none'}${outcome.timedOut ? ' (killed at its time limit)' : ''}${r ? '' : ', no result line'}. Last lines of its output:`,
      '',
      '```',
      outcome.tail,
      '```',
      '',
    );
  }
  if (!r) return lines.join('\n');
  // An alerts A/B run is rendered as the bench it runs.
  switch (outcome.spec.name.replace(/-alerts-\d+-\d+$/, '')) {
    case 'ceiling-ingest':
      lines.push(
        `Raw Postgres, no service: ${r.clients} client inserting \`events\`-shaped rows (text primary key, (customer, timestamp) index, jsonb properties) in \`unnest\` batches of ${n(r.batch_size)} for ${r.seconds} s: ` +
          `${n(r.events)} events, **${n(r.events_per_second)} events/s**; a batch p50 ${n(r.batch_p50_ms, 1)} ms, p99 ${n(r.batch_p99_ms, 1)} ms.`,
      );
      break;
    case 'ceiling-writes':
      lines.push(
        `Raw Postgres, no service: ${r.clients} clients, each inserting one ledger-entry-shaped row per transaction for a customer of its own, for ${r.seconds} s: ` +
          `${n(r.count)} transactions, **${n(r.tx_per_second)} tx/s**, p50 ${n(r.p50_ms, 1)} ms, p99 ${n(r.p99_ms, 1)} ms, max ${n(r.max_ms, 1)} ms.`,
      );
      break;
    case 'ceiling-reads':
      lines.push(
        `Raw Postgres, no service: ${r.clients} clients selecting one row by primary key out of ${n(r.rows)}, at random, for ${r.seconds} s: ` +
          `${n(r.count)} selects, **${n(r.selects_per_second)} selects/s**, p50 ${n(r.p50_ms, 1)} ms, p99 ${n(r.p99_ms, 1)} ms, max ${n(r.max_ms, 1)} ms.`,
      );
      break;
    case 'balance-reads':
      lines.push(
        `${n(r.customers)} customers, each ${n(r.entries_per_customer)} entries in ${n(r.blocks_per_customer)} blocks (${r.live_blocks_per_customer} live); ${r.seconds} s per level.`,
        '',
        table(
          ['form', 'clients', 'reads/s', 'p50 ms', 'p99 ms', 'max ms', 'failed'],
          (r.runs as any[]).map((run) => [
            run.form,
            String(run.concurrency),
            n(run.reads_per_second),
            n(run.p50_ms, 1),
            n(run.p99_ms, 1),
            n(run.max_ms, 1),
            String(run.failed),
          ]),
        ),
        ...(r.open_loop
          ? [
              '',
              `Open loop at ${n(r.open_loop.rate)} reads/s by id for ${r.seconds} s: ${n(r.open_loop.count)} reads (${n(r.open_loop.reads_per_second)}/s answered), ` +
                `p50 ${n(r.open_loop.p50_ms, 1)} ms, p99 ${n(r.open_loop.p99_ms, 1)} ms, max ${n(r.open_loop.max_ms, 1)} ms, failed ${r.open_loop.failed}.`,
            ]
          : []),
      );
      break;
    case 'ledger-size':
      lines.push(
        `Seeded with SQL in ${n(r.seed_seconds, 1)} s; verify passed before (${n(r.verified_before.entries)} entries) and after (${n(r.verified_after.entries)}) the run. ` +
          `${n(r.samples)} requests per size and operation, alternating between the two customers. Flat (p50 ratio ≤ ${r.flat_ratio_max}): ${r.flat ? 'yes' : '**no**'}.`,
        '',
        table(
          [
            'operation',
            `p50 ms, ${n(r.small_entries)}`,
            `p99 ms, ${n(r.small_entries)}`,
            `p50 ms, ${n(r.big_entries)}`,
            `p99 ms, ${n(r.big_entries)}`,
            'ratio p50',
            'ratio p99',
          ],
          Object.entries(r.operations as Record<string, any>).map(([operation, o]) => [
            operation,
            n(o.small.p50_ms, 1),
            n(o.small.p99_ms, 1),
            n(o.big.p50_ms, 1),
            n(o.big.p99_ms, 1),
            n(o.p50_ratio, 2),
            n(o.p99_ratio, 2),
          ]),
        ),
      );
      break;
    case 'soak':
      lines.push(
        `${n(r.events_applied)}/${n(r.events_sent)} events applied, ${n(r.ingest_refused)} refused; sync writes ${n(r.sync_writes.committed)}/${n(r.sync_writes.sent)} committed ` +
          `(p99 ${n(r.sync_writes.p99_ms, 1)} ms), async ${n(r.async_writes.accepted)}/${n(r.async_writes.sent)} accepted. Lag p50 ${n(r.lag_p50_ms)} ms, p99 ${n(r.lag_p99_ms)} ms, max ${n(r.lag_max_ms)} ms.`,
        '',
        table(
          [
            't (s)',
            ...Object.keys(r.rss_max_mib).map((name) => `${name} RSS MiB`),
            'queue depth',
            'applied',
            'lag p50 ms',
            'lag p99 ms',
          ],
          (r.samples as any[]).map((sample) => [
            n(sample.t_seconds),
            ...Object.values(sample.rss_mib as Record<string, number>).map((value) => n(value)),
            n(sample.queue_depth),
            n(sample.events_applied),
            n(sample.lag_p50_ms),
            n(sample.lag_p99_ms),
          ]),
        ),
      );
      break;
    case 'ingest':
      lines.push(
        `${n(r.customers)} customers, ${r.concurrency} connections, ${r.seconds} s per batch size; lag is from sending to the event's \`applied_at\`.`,
        '',
        table(
          [
            'batch',
            'accepted events/s',
            'applied events/s',
            'applied/sent',
            'lag p50 ms',
            'lag p99 ms',
            'batches resent after 503/429',
          ],
          (r.batches as any[]).map((batch) => [
            String(batch.batch_size),
            n(batch.accepted_events_per_second),
            n(batch.applied_events_per_second),
            `${n(batch.applied)}/${n(batch.sent)}`,
            n(batch.lag_p50_ms),
            n(batch.lag_p99_ms),
            n(batch.retried_batches),
          ]),
        ),
        '',
        r.steady
          ? `Steady at ${n(r.steady.events_per_second)} events/s (half the batch-100 rate): ${n(r.steady.applied)}/${n(r.steady.sent)} applied, lag p50 ${n(r.steady.lag_p50_ms)} ms, p99 ${n(r.steady.lag_p99_ms)} ms.`
          : 'No steady phase (it needs a batch size of 100).',
      );
      break;
    case 'ledger-writes':
      lines.push(
        `${n(r.customers)} customers, ${r.seconds} s per phase; in the closed loop each client writes for customers of its own.`,
        '',
        table(
          ['phase', 'writes', 'writes/s', 'p50 ms', 'p99 ms', 'max ms', 'failed'],
          [
            [`closed loop, ${r.concurrency} clients`, r.closed_loop],
            [`open loop at ${r.open_loop.rate}/s`, r.open_loop],
          ].map(([phase, f]: any[]) => [
            phase,
            n(f.writes),
            n(f.writes_per_second),
            n(f.p50_ms, 1),
            n(f.p99_ms, 1),
            n(f.max_ms, 1),
            String(f.failed),
          ]),
        ),
      );
      break;
    case 'webhooks':
      lines.push(
        `${n(r.customers)} customers with 3 alerts each; max ${n(r.max_events_per_second)} events/s over ${r['max-seconds']} s, then ${r.steady_seconds} s at ${n(r.steady_events_per_second)} events/s with ${r.increments} increments/s: ` +
          `${n(r.webhook_events)} webhook events (${Object.entries(
            r.webhook_events_by_type as Record<string, number>,
          )
            .map(([type, count]) => `${type} ${n(count)}`)
            .join(', ')}), crossings ${n(100 * r.crossings_per_usage_event, 2)}% of usage events.`,
        '',
        `Delivered ${n(r.delivered)} (${n(r.delivered_per_second)}/s), missing ${n(r.missing)}, duplicates ${n(r.duplicates)}, per-customer order violations ${n(r.order_violations)}, signatures verified by the SDK ${n(r.signatures_verified)} (refused ${n(r.signatures_refused)}).`,
        '',
        table(
          ['interval', 'count', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'],
          [
            ['created_at → receiver’s 200 (upper bound of commit → 200)', r.created_to_200],
            ['written_at (insert, database clock) → 200', r.written_to_200],
            ['created_at → written_at (inside the transaction)', r.created_to_written],
          ].map(([label, f]: any[]) => [
            label,
            n(f.count),
            n(f.p50_ms, 1),
            n(f.p95_ms, 1),
            n(f.p99_ms, 1),
            n(f.max_ms, 1),
          ]),
        ),
      );
      break;
    default:
      lines.push('```json', JSON.stringify(r, null, 2), '```');
  }
  lines.push('');
  return lines.join('\n');
}

function render(
  quick: boolean,
  withSoak: boolean,
  host: Record<string, string>,
  revision: string,
  outcomes: BenchOutcome[],
  loadAtEnd: string,
): string {
  const byName = new Map(outcomes.map((outcome) => [outcome.spec.name, outcome]));
  const failed = outcomes.filter((outcome) => outcome.status !== 'ok');
  return [
    '# Benchmarks',
    '',
    ...(quick
      ? [
          '> **Quick run** (`--quick`): short durations and small data, to check that the benchmarks run. Not figures to quote.',
          '',
        ]
      : []),
    `Generated by \`npm run bench:report${quick || withSoak ? ' --' : ''}${quick ? ' --quick' : ''}${withSoak ? ' --with-soak' : ''}\` on ${new Date().toISOString()}, commit ${revision}.`,
    'Each benchmark starts the service as its own process(es) on a fresh database and drives it over 127.0.0.1 from a second',
    'process on the same machine, so the load generator\u2019s CPU is taken from the service.',
    '',
    '## Machine',
    '',
    table(
      ['', ''],
      [
        ['CPU', `${host.cpu} (${host.cores} cores)`],
        ['RAM', host.ram!],
        ['OS', host.os!],
        ['Node', host.node!],
        ['PostgreSQL', host.postgres!],
        ['Redis', host.redis!],
        ['load average (1, 5, 15 min) at the start', host.loadAverage!],
        ['load average at the end', loadAtEnd],
      ],
    ),
    '',
    'The load averages are `uptime`\u2019s: on a shared machine anything above zero before a benchmark is other',
    'work competing for the same cores (each benchmark\u2019s own is in its section below). Ceilings and service',
    'figures run back to back, so a ratio compares the two under much the same load.',
    '',
    '## Against the raw Postgres ceiling (issue 13)',
    '',
    table(
      ['figure', 'this service', 'Postgres ceiling, same run', 'ratio', 'target', 'met'],
      ceilingRows(ceilingFigures(resultsOf(outcomes))),
    ),
    '',
    'Ceilings are the same work done straight through `pg` with no service (`npm run bench:ceiling`), on a',
    'scratch database made and dropped by the run; every client is a closed loop (the next request leaves when the',
    'answer arrives). Ingest counts until every event is applied (its row is written in the transaction that',
    'moves the balances, so a visible row is a reflected balance); its p99 is from sending to that write.',
    'Open-loop rows issue requests at the stated rate whatever the latency.',
    '',
    ...issue14Section(byName),
    '## Figures',
    '',
    failed.length
      ? `**${failed.map((outcome) => `${outcome.spec.name} ${outcome.status}`).join(', ')}**: see the sections below.\n`
      : '',
    table(['what', 'this service', 'hosted products, as published'], figureRows(byName)),
    '',
    'Hosted figures are the limits those products publish for their hosted APIs (rate limits, refresh periods), not',
    'measurements; they bound what a customer of theirs can do, as our figures bound what one machine of ours can.',
    '',
    '## Commands',
    '',
    '```sh',
    `npm run bench:report${quick || withSoak ? ' --' : ''}${quick ? ' --quick' : ''}${withSoak ? ' --with-soak' : ''}   # all of these, in this order:`,
    ...outcomes.map((outcome) => outcome.command),
    '```',
    '',
    'Raw output of each run: `bench-results/<name>.log`.',
    '',
    '## Details',
    '',
    ...outcomes.map(details),
    ...(withSoak ? [] : ['The soak did not run (`--with-soak` runs it: 10 minutes).', '']),
  ].join('\n');
}

const median = (values: number[]): number | null => {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/** The median of one figure over an alerts A/B arm's runs that printed a result. */
function armMedian(
  outcomes: Map<string, BenchOutcome>,
  bench: 'ingest' | 'ledger-writes',
  alerts: number,
  figure: (result: Record<string, any>) => number | undefined,
): { median: number | null; runs: number[] } {
  const runs: number[] = [];
  for (const [name, outcome] of outcomes) {
    if (!new RegExp(`^${bench}-alerts-${alerts}-\\d+$`).test(name) || !outcome.result) continue;
    const value = figure(outcome.result);
    if (typeof value === 'number' && Number.isFinite(value)) runs.push(value);
  }
  return { median: median(runs), runs };
}

/** Issue 14's targets: the alerts A/B medians and their ratio, and the webhooks p99. */
function issue14Section(outcomes: Map<string, BenchOutcome>): string[] {
  const rows: string[][] = [];
  const ab = (
    what: string,
    bench: 'ingest' | 'ledger-writes',
    unit: string,
    figure: (result: Record<string, any>) => number | undefined,
  ) => {
    const without = armMedian(outcomes, bench, 0, figure);
    const withAlerts = armMedian(outcomes, bench, ALERTS_CONFIGURED, figure);
    const ratio =
      without.median && withAlerts.median !== null ? withAlerts.median / without.median : null;
    rows.push([
      what,
      `${n(without.median)} ${unit} (runs ${without.runs.map((v) => n(v)).join(', ')})`,
      `${n(withAlerts.median)} ${unit} (runs ${withAlerts.runs.map((v) => n(v)).join(', ')})`,
      ratio === null ? '–' : `${n(ratio, 2)}×`,
      '≥ 0.90×',
      ratio === null ? '–' : ratio >= 0.9 ? 'yes' : 'no',
    ]);
  };
  ab(
    'usage ingest, batches of 100, applied end to end (64 clients)',
    'ingest',
    'events/s',
    (r) =>
      (r.batches as any[] | undefined)?.find((b) => b.batch_size === 100)
        ?.applied_events_per_second,
  );
  ab(
    'sync ledger writes, closed loop (64 clients)',
    'ledger-writes',
    'writes/s',
    (r) => r.closed_loop?.writes_per_second,
  );
  const webhooks = outcomes.get('webhooks')?.result;
  if (webhooks)
    rows.push([
      `webhooks: created_at → receiver’s 200, p99 at half the maximum ingest rate (${n(webhooks.steady_events_per_second)} events/s)`,
      '',
      `${n(webhooks.created_to_200?.p99_ms)} ms (p50 ${n(webhooks.created_to_200?.p50_ms)} ms; ${n(webhooks.delivered)} events, missing ${n(webhooks.missing)}, duplicates ${n(webhooks.duplicates)}, order violations ${n(webhooks.order_violations)}, signatures refused ${n(webhooks.signatures_refused)})`,
      '',
      '≤ 1,000 ms',
      webhooks.met ? 'yes' : 'no',
    ]);
  else if (outcomes.has('webhooks'))
    rows.push([
      'webhooks',
      '',
      `**failed** (${outcomes.get('webhooks')!.status})`,
      '',
      '≤ 1,000 ms',
      'no',
    ]);
  if (rows.length === 0) return [];
  return [
    '## Balance alerts and webhooks (issue 14)',
    '',
    table(
      ['figure', 'without alerts', `with ${n(ALERTS_CONFIGURED)} alerts`, 'ratio', 'target', 'met'],
      rows,
    ),
    '',
    `Alerts A/B: ${ALERT_PAIRS} interleaved pairs per bench (the arm that goes first alternates), medians compared; each alert is a`,
    'credit_balance_dropped alert with three thresholds far below the balance, so the figure is the cost of',
    'evaluating alerts in every transaction, not of firing them. Webhooks: see the webhooks section below.',
    '',
  ];
}

/**
 * The soak runs at half the maximum ingest rate this report measured (batches of 100, the rate
 * the ingest bench's own steady run uses); at 3,500 events/s when the ingest bench failed.
 */
function soakAtHalfTheMaximum(outcomes: readonly BenchOutcome[]): BenchSpec {
  const measured = outcomes.find((outcome) => outcome.spec.name === 'ingest')?.result?.steady
    ?.events_per_second;
  if (typeof measured !== 'number' || measured <= 0) return SOAK;
  const rate = String(Math.round(measured / 100) * 100);
  return {
    ...SOAK,
    args: {
      ...SOAK.args,
      full: SOAK.args.full.map((arg, index, all) => (all[index - 1] === '--rate' ? rate : arg)),
    },
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      'with-soak': { type: 'boolean', default: false },
    },
  });
  const quick = values.quick ?? false;
  const withSoak = values['with-soak'] ?? false;
  mkdirSync(RESULTS_DIR, { recursive: true });
  const host = await machine();
  const revision = await commit();
  const outcomes: BenchOutcome[] = [];
  for (const spec of BENCHES) outcomes.push(await run(spec, quick));
  for (const spec of ISSUE_14_BENCHES) outcomes.push(await run(spec, quick));
  if (withSoak) outcomes.push(await run(quick ? SOAK : soakAtHalfTheMaximum(outcomes), quick));
  // Formatted as the tree is, so that `npm run format:check` passes on the file as written.
  const markdown = render(quick, withSoak, host, revision, outcomes, loadAverage());
  const formatOptions = (await prettier.resolveConfig(REPORT_PATH)) ?? {};
  writeFileSync(
    REPORT_PATH,
    await prettier.format(markdown, { ...formatOptions, filepath: REPORT_PATH }),
  );
  printResult('ceiling-ratios', { quick, ...ceilingFigures(resultsOf(outcomes)) });
  console.log(`\nwrote ${REPORT_PATH}`);
  for (const outcome of outcomes)
    console.log(
      `${outcome.spec.name.padEnd(15)} ${outcome.status} (${outcome.seconds.toFixed(0)} s)`,
    );
  return outcomes.every((outcome) => outcome.status === 'ok') ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
