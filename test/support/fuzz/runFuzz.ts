/**
 * Runs the fuzzer against a running service (started with CLOCK=manual): makes the fixture, checks
 * that every operation of the service's OpenAPI document has a seed, snapshots the state, sends
 * `requests` malformed requests (`concurrency` in flight, stopping early at `deadlineMs`), checks
 * every answer (checkResponse.ts), waits for the queues to settle and snapshots again. Generation
 * is deterministic for a `seed`: the same seed and fixture give the same requests.
 */
import fc from 'fast-check';
import { checkResponse } from './checkResponse.ts';
import { createFuzzFixture } from './fuzzFixture.ts';
import {
  malformedRequests,
  type MalformedRequest,
  type OpenApiDocument,
} from './malformedRequests.ts';
import { rawRequest } from './rawRequest.ts';
import { seedRequests } from './seedRequests.ts';
import { diffStateSnapshots, takeStateSnapshot, type StateSnapshot } from './stateSnapshot.ts';

export interface FuzzOptions {
  baseUrl: string;
  apiKey: string;
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  requests: number;
  seed: number;
  concurrency: number;
  /** Stop sending at this instant (Date.now()), whatever `requests` says. */
  deadlineMs?: number;
}

export interface FuzzFailure {
  problem: string;
  request: MalformedRequest;
  status: number;
  response: string;
}

export interface FuzzReport {
  seed: number;
  sent: number;
  sendMs: number;
  routes: number;
  /** route → status → count */
  byRoute: Map<string, Map<number, number>>;
  /** mutation family (before the first ':') → count */
  byMutation: Map<string, number>;
  /** mutation family → total answer time, ms */
  mutationMs: Map<string, number>;
  failures: FuzzFailure[];
  uncoveredRoutes: string[];
  stateDifferences: string[];
  /** Requests the worker refused and recorded as failed (allowed; informational). */
  failedRequestsRecorded: number;
}

const SAMPLE_CHUNK = 250;
const SETTLE_MS_MAX = 15_000;
const FAILURES_KEPT_MAX = 50;

function operations(document: OpenApiDocument): string[] {
  return Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
  );
}

/** Snapshots until two in a row, 300 ms apart, agree (usage is coalesced for up to a second). */
async function settledSnapshot(
  options: FuzzOptions,
  target?: StateSnapshot,
): Promise<StateSnapshot> {
  const deadline = Date.now() + SETTLE_MS_MAX;
  let previous = await takeStateSnapshot(
    options.databaseUrl,
    options.redisUrl,
    options.queuePrefix,
  );
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const current = await takeStateSnapshot(
      options.databaseUrl,
      options.redisUrl,
      options.queuePrefix,
    );
    const stable = diffStateSnapshots(previous, current).length === 0;
    const atTarget = !target || diffStateSnapshots(target, current).length === 0;
    if ((stable && atTarget) || Date.now() > deadline) return current;
    previous = current;
  }
}

function count<K>(map: Map<K, number>, key: K): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const documentResponse = await rawRequest(options.baseUrl, {
    method: 'GET',
    path: '/openapi.json',
    headers: {},
  });
  const document = JSON.parse(documentResponse.text) as OpenApiDocument;
  const fixture = await createFuzzFixture(options.baseUrl, options.apiKey);
  const seeds = seedRequests(fixture);
  const seeded = new Set(seeds.map((seed) => seed.route));
  const served = operations(document);
  const uncoveredRoutes = [
    ...served.filter((route) => !seeded.has(route)).map((route) => `${route} (no seed)`),
    ...[...seeded]
      .filter((route) => !served.includes(route))
      .map((route) => `${route} (seeded, not in /openapi.json)`),
  ];
  const arbitrary = malformedRequests(seeds, document, options.apiKey);
  const before = await settledSnapshot(options);

  const report: FuzzReport = {
    seed: options.seed,
    sent: 0,
    sendMs: 0,
    routes: served.length,
    byRoute: new Map(),
    byMutation: new Map(),
    mutationMs: new Map(),
    failures: [],
    uncoveredRoutes,
    stateDifferences: [],
    failedRequestsRecorded: 0,
  };
  const started = Date.now();
  const deadline = options.deadlineMs ?? Number.POSITIVE_INFINITY;
  for (let chunk = 0; report.sent < options.requests && Date.now() < deadline; chunk += 1) {
    const size = Math.min(SAMPLE_CHUNK, options.requests - report.sent);
    const batch = fc.sample(arbitrary, { seed: options.seed + chunk, numRuns: size });
    let next = 0;
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (next < batch.length && Date.now() < deadline) {
          const request = batch[next++]!;
          const sentAt = performance.now();
          const response = await rawRequest(options.baseUrl, request);
          const family = request.mutation.split(':')[0]!;
          report.mutationMs.set(
            family,
            (report.mutationMs.get(family) ?? 0) + performance.now() - sentAt,
          );
          report.sent += 1;
          const byStatus = report.byRoute.get(request.route) ?? new Map<number, number>();
          report.byRoute.set(request.route, byStatus);
          count(byStatus, response.status);
          count(report.byMutation, family);
          const problem = checkResponse(request, response);
          if (problem && report.failures.length < FAILURES_KEPT_MAX)
            report.failures.push({
              problem,
              request,
              status: response.status,
              response: response.text.slice(0, 400),
            });
          else if (problem)
            report.failures.push({
              problem,
              request: { ...request, body: undefined },
              status: response.status,
              response: '',
            });
        }
      }),
    );
  }
  report.sendMs = Date.now() - started;
  const after = await settledSnapshot(options, before);
  report.stateDifferences = diffStateSnapshots(before, after);
  report.failedRequestsRecorded = after.failedRequests - before.failedRequests;
  return report;
}

function excerpt(text: string | undefined, length = 300): string {
  if (text === undefined) return '(none)';
  const shown = JSON.stringify(text.length > length ? `${text.slice(0, length)}…` : text);
  return `${shown}${text.length > length ? ` (${text.length} chars)` : ''}`;
}

/** A failure as a reader needs it: what was wrong, and the request that caused it. */
export function describeFailure(failure: FuzzFailure): string {
  const { request } = failure;
  return [
    `${failure.problem} — ${request.method} ${request.path.length > 200 ? `${request.path.slice(0, 200)}…` : request.path} [${request.mutation}]`,
    `    headers: ${JSON.stringify(Object.fromEntries(Object.entries(request.headers).map(([key, value]) => [key, value.length > 60 ? `${value.slice(0, 60)}…` : value])))}`,
    `    body: ${excerpt(request.body)}`,
    `    answer ${failure.status}: ${excerpt(failure.response)}`,
  ].join('\n');
}

export function formatFuzzReport(report: FuzzReport): string {
  const lines = [
    `fuzz seed ${report.seed}: ${report.sent} malformed requests over ${report.routes} operations in ${(report.sendMs / 1000).toFixed(1)} s (${Math.round(report.sent / (report.sendMs / 1000))}/s)`,
  ];
  lines.push('by route (status × count):');
  for (const [route, statuses] of [...report.byRoute].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(
      `  ${route.padEnd(92)} ${[...statuses]
        .sort(([a], [b]) => a - b)
        .map(([status, n]) => `${status}×${n}`)
        .join(' ')}`,
    );
  }
  const meanMs = (kind: string, n: number) => ((report.mutationMs.get(kind) ?? 0) / n).toFixed(1);
  lines.push(
    `by mutation (count, mean ms): ${[...report.byMutation]
      .sort(([, a], [, b]) => b - a)
      .map(([kind, n]) => `${kind} ${n} ${meanMs(kind, n)}`)
      .join(', ')}`,
  );
  lines.push(`refusals the worker recorded as failed requests: ${report.failedRequestsRecorded}`);
  if (report.uncoveredRoutes.length > 0)
    lines.push(`routes without fuzzing: ${report.uncoveredRoutes.join(', ')}`);
  lines.push(`failures: ${report.failures.length}`);
  for (const failure of report.failures.slice(0, 20)) lines.push(describeFailure(failure));
  lines.push(
    report.stateDifferences.length === 0
      ? 'state: unchanged'
      : `state changed:\n  ${report.stateDifferences.join('\n  ')}`,
  );
  return lines.join('\n');
}

export function fuzzPassed(report: FuzzReport): boolean {
  return (
    report.failures.length === 0 &&
    report.stateDifferences.length === 0 &&
    report.uncoveredRoutes.length === 0
  );
}
