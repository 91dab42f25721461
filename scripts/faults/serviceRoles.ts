/**
 * The service as the faults need it: one `ROLE=api` process and one `ROLE=worker` process
 * (or `workers` of them: the cluster faults run three), pointed at the private Postgres and Redis
 * (or a Redis Cluster, REDIS_CLUSTER_NODES), each logging to its own file. The first worker can
 * be killed with SIGKILL and started again, and any worker killed for good; any exit the runner
 * did not cause is recorded as a death, because a service process must survive a Redis or
 * Postgres restart or a cluster failover.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from '../freePort.ts';

export const FAULTS_API_KEY = 'faults_key_0123456789';
const START_TIMEOUT_MS = 60_000;
const STARTED_LINE = 'credits ledger started';
const START_ATTEMPTS_MAX = 10;
const START_RETRY_AFTER_MS = 1_000;

export interface ServiceEnv {
  databaseUrl: string;
  /** The single Redis; ignored when `redisClusterNodes` is given. */
  redisUrl: string;
  /** `host:port,…` seed nodes of a Redis Cluster, which then holds the queues (REDIS_CLUSTER_NODES). */
  redisClusterNodes?: string;
  /** Worker processes (default 1): every one runs workers for every partition. */
  workers?: number;
  queuePrefix: string;
  partitions: number;
  /** JOB_LOCK_MS of the worker: how soon a killed worker's job runs again. */
  jobLockMs: number;
  /** More variables for both processes (the webhooks fault's WEBHOOK_*). */
  extra?: Record<string, string>;
}

export interface RoleProcess {
  role: 'api' | 'worker';
  child: ChildProcess;
  /** Set when the process exited without the runner asking it to. */
  unexpectedExit: string | undefined;
}

function startRole(
  role: 'api' | 'worker',
  env: ServiceEnv,
  port: number,
  log: WriteStream,
  deaths: string[],
): Promise<RoleProcess> {
  // One store: a cluster run must not inherit a REDIS_URL (the service refuses both).
  const { REDIS_URL: _inherited, ...inherited } = process.env;
  const redis = env.redisClusterNodes
    ? { REDIS_CLUSTER_NODES: env.redisClusterNodes }
    : { REDIS_URL: env.redisUrl };
  const child = spawn(process.execPath, [fileURLToPath(new URL('../start.ts', import.meta.url))], {
    env: {
      ...inherited,
      ROLE: role,
      PORT: String(port),
      // A worker's own metrics and health port: any free one, so that workers never collide.
      WORKER_PORT: '0',
      API_KEYS: FAULTS_API_KEY,
      DATABASE_URL: env.databaseUrl,
      ...redis,
      QUEUE_PREFIX: env.queuePrefix,
      PARTITIONS: String(env.partitions),
      JOB_LOCK_MS: String(env.jobLockMs),
      // Redis queues, and never an embedded Postgres in place of the private one.
      QUEUE_STORE: 'redis',
      QUICK_START: 'off',
      // info, so that the start line is seen; the lines go to the fault's log file.
      LOG_LEVEL: 'info',
      ...env.extra,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const processInfo: RoleProcess = { role, child, unexpectedExit: undefined };
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  child.on('exit', (code, signal) => {
    if ((child as ChildProcess & { expectedExit?: boolean }).expectedExit) return;
    processInfo.unexpectedExit = `${role} process ${child.pid} exited by itself (code ${code}, signal ${signal})`;
    deaths.push(processInfo.unexpectedExit);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${role} process did not start within ${START_TIMEOUT_MS / 1000} s`)),
      START_TIMEOUT_MS,
    );
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen = (seen + chunk.toString('utf8')).slice(-4_096);
      if (!seen.includes(STARTED_LINE)) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      resolve(processInfo);
    };
    child.stdout?.on('data', onData);
    let errors = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      errors = (errors + chunk.toString('utf8')).slice(-1_000);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(
        new Error(
          `${role} process exited with code ${code} while starting: ${errors.trim() || 'see its log'}`,
        ),
      );
    });
  });
}

/** A SIGTERM'd process that has not finished its jobs by then is killed. */
const STOP_TIMEOUT_MS = 20_000;

async function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  (child as ChildProcess & { expectedExit?: boolean }).expectedExit = true;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

export class ServiceRoles {
  readonly baseUrl: string;
  readonly env: ServiceEnv;
  /** Exits nobody asked for, in order. */
  readonly deaths: string[] = [];
  private readonly log: WriteStream;
  private readonly port: number;
  private api: RoleProcess | undefined;
  /** The worker processes; a worker killed for good stays here, dead, and is not counted alive. */
  private workers: RoleProcess[] = [];
  private readonly killedForGood = new Set<RoleProcess>();
  kills = 0;
  /** Worker starts that failed (Redis or Postgres down at the time) and were tried again. */
  failedStarts = 0;

  private constructor(env: ServiceEnv, port: number, logPath: string) {
    this.env = env;
    this.port = port;
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.log = createWriteStream(logPath, { flags: 'a' });
  }

  /**
   * The first worker first: it migrates the fresh database before the api and the other workers
   * open it.
   */
  static async start(env: ServiceEnv, logPath: string): Promise<ServiceRoles> {
    const roles = new ServiceRoles(env, await freePort(), logPath);
    try {
      roles.workers.push(await startRole('worker', env, 0, roles.log, roles.deaths));
      const others = Array.from({ length: Math.max(0, (env.workers ?? 1) - 1) }, () =>
        startRole('worker', env, 0, roles.log, roles.deaths),
      );
      roles.workers.push(...(await Promise.all(others)));
      roles.api = await startRole('api', env, roles.port, roles.log, roles.deaths);
    } catch (error) {
      await roles.stop();
      throw error;
    }
    return roles;
  }

  /**
   * `kill -9` the worker, then start a new one and wait until it runs. A worker that cannot reach
   * Redis or Postgres at start exits (by design: it says what to run); like a supervisor, this
   * starts it again, a bounded number of times.
   */
  async killAndRestartWorker(): Promise<void> {
    const worker = this.workers[0];
    if (worker) await stopProcess(worker.child, 'SIGKILL');
    this.kills += 1;
    for (let attempt = 1; ; attempt += 1) {
      try {
        this.workers[0] = await startRole('worker', this.env, 0, this.log, this.deaths);
        return;
      } catch (error) {
        if (attempt >= START_ATTEMPTS_MAX) throw error;
        this.failedStarts += 1;
        await new Promise((resolve) => setTimeout(resolve, START_RETRY_AFTER_MS));
      }
    }
  }

  /** `kill -9` of worker `index` (not the first, which the other faults restart), for good. */
  async killWorkerForGood(index: number): Promise<number> {
    const worker = this.workers[index];
    if (index === 0 || !worker) throw new RangeError(`no worker ${index} to kill for good`);
    await stopProcess(worker.child, 'SIGKILL');
    this.killedForGood.add(worker);
    this.kills += 1;
    return worker.child.pid ?? 0;
  }

  /**
   * Sends SIGSTOP or SIGCONT to every running worker: a stopped worker holds its jobs and takes
   * none, as a worker stuck behind a slow disk or a long pause would.
   */
  signalWorkers(signal: 'SIGSTOP' | 'SIGCONT'): void {
    for (const worker of this.runningWorkers()) worker.child.kill(signal);
  }

  /** The pids of the worker processes running now, in start order. */
  workerPids(): number[] {
    return this.runningWorkers().map((worker) => worker.child.pid ?? 0);
  }

  private runningWorkers(): RoleProcess[] {
    return this.workers.filter((worker) => !this.killedForGood.has(worker));
  }

  /** Whether the api and every worker not killed for good are still running. */
  alive(): boolean {
    return [this.api, ...this.runningWorkers()].every(
      (role) =>
        role !== undefined && role.child.exitCode === null && role.child.signalCode === null,
    );
  }

  async stop(): Promise<void> {
    // A stopped worker cannot take SIGTERM.
    this.signalWorkers('SIGCONT');
    await Promise.all(
      [this.api, ...this.workers].map((role) =>
        role ? stopProcess(role.child, 'SIGTERM') : undefined,
      ),
    );
    await new Promise<void>((resolve) => this.log.end(() => resolve()));
  }
}
