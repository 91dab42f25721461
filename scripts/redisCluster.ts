/**
 * A local Redis Cluster for tests, fault runs and `npm run cluster`: six `redis-server`
 * processes on 127.0.0.1 (three masters, one replica each), made with `redis-cli --cluster
 * create`, each with AOF on and its own directory under one temporary directory. The harness
 * can kill, restart (keeping or dropping a node's AOF) and promote nodes, and reads the topology
 * from CLUSTER NODES, so that failover tests can say which master serves which partition.
 *
 * Nothing outlives its run: `stop()` kills every node and removes the directory; a process that
 * exits without calling it kills them on exit; and a run that was killed outright (SIGKILL, so no
 * exit hook) leaves `harness.json` with its pid and the nodes' pids, which the next harness
 * started on this machine finds and cleans up.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const NODE_COUNT = 6;
const DEFAULT_BASE_PORT = 7100;
/** Redis Cluster's bus listens at the node's port plus this. */
const BUS_PORT_OFFSET = 10_000;
const DIR_PREFIX = 'credits-redis-cluster-';
const STATE_FILE = 'harness.json';
const START_TIMEOUT_MS = 30_000;
const HEALTHY_TIMEOUT_MS = 30_000;
const SLOTS = 16_384;

export interface RedisClusterOptions {
  /** The first port tried; six free ports in a row (and their bus ports) from it are used. */
  basePort?: number;
  /** Where the nodes keep their files; a new temporary directory when not given. */
  dir?: string;
  /** `cluster-node-timeout`: how long a master may be silent before a replica takes over. */
  nodeTimeoutMs?: number;
  /** AOF on (the default, as in production) or off. */
  appendOnly?: boolean;
  appendFsync?: 'always' | 'everysec' | 'no';
  /** The programs; `redis-server` and `redis-cli` on PATH when not given. */
  redisServer?: string;
  redisCli?: string;
}

export interface ClusterNodeInfo {
  id: string;
  /** `127.0.0.1:port` */
  address: string;
  port: number;
  role: 'master' | 'replica';
  /** For a replica: the master it follows. */
  masterId: string | undefined;
  masterPort: number | undefined;
  /** For a master: the slot ranges it serves, inclusive. */
  slots: [number, number][];
  flags: string[];
  /** Flagged `fail` or `fail?` by the node that was asked. */
  failing: boolean;
}

/** What can be read of a running cluster by its nodes' addresses alone. */
export interface RedisClusterView {
  /** `127.0.0.1:port` of every node, in port order. */
  readonly nodes: string[];
  readonly ports: number[];
  /** The value for REDIS_CLUSTER_NODES: every node, comma-separated. */
  readonly seed: string;
  /** Every node as a running node sees it. */
  topology(): Promise<ClusterNodeInfo[]>;
  masters(): Promise<ClusterNodeInfo[]>;
  replicas(): Promise<ClusterNodeInfo[]>;
  keySlot(key: string): Promise<number>;
  masterOfSlot(slot: number): Promise<ClusterNodeInfo>;
  masterOfKey(key: string): Promise<ClusterNodeInfo>;
  /**
   * Resolves once every running node says cluster_state:ok with every slot served, every
   * running replica's link to its master is up, and no running node flags another running one
   * as failing.
   */
  waitHealthy(timeoutMs?: number): Promise<void>;
}

export interface RedisClusterHarness extends RedisClusterView {
  readonly dir: string;
  /** Whether the harness's process for the node runs (not killed, not exited). */
  running(port: number): boolean;
  /** Sends `signal` (SIGKILL unless said); waits for the process to exit unless it is SIGSTOP/SIGCONT. */
  kill(port: number, signal?: NodeJS.Signals): Promise<void>;
  /**
   * Starts the node again on its directory (same node id, from nodes.conf), stopping it first
   * (gracefully, so the AOF is synced) if it runs; `dropAof` starts it with no data.
   */
  restart(port: number, options?: { dropAof?: boolean }): Promise<void>;
  /** CLUSTER FAILOVER TAKEOVER on a replica; resolves once it is a master. */
  failoverTakeover(replicaPort: number): Promise<void>;
  /** Kills every node and removes the directory. */
  stop(): Promise<void>;
}

interface HarnessState {
  ownerPid: number;
  pids: Record<string, number>;
}

export async function startRedisCluster(
  options: RedisClusterOptions = {},
): Promise<RedisClusterHarness> {
  cleanUpOrphans(options.dir);
  let basePort = options.basePort ?? DEFAULT_BASE_PORT;
  // Another run may take a port between the check and redis-server's bind: try further on.
  for (let attempt = 0; ; attempt += 1) {
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), DIR_PREFIX));
    mkdirSync(dir, { recursive: true });
    basePort = await freePortRun(basePort);
    const harness = new LocalRedisCluster(dir, basePort, options);
    try {
      await harness.create();
      return harness;
    } catch (error) {
      await harness.stop({ keepDir: options.dir !== undefined });
      if (attempt >= 2 || !(error instanceof PortTakenError)) throw error;
      basePort += NODE_COUNT;
    }
  }
}

class PortTakenError extends Error {}

/** Reads a cluster through its nodes; the harness adds the processes. */
class ClusterView implements RedisClusterView {
  readonly ports: number[];
  readonly nodes: string[];
  readonly seed: string;

  constructor(ports: number[]) {
    this.ports = ports;
    this.nodes = ports.map((port) => `127.0.0.1:${port}`);
    this.seed = this.nodes.join(',');
  }

  /** The nodes to ask; a harness leaves out those it stopped. */
  protected runningPorts(): number[] {
    return this.ports;
  }

  async topology(): Promise<ClusterNodeInfo[]> {
    let lastError: unknown;
    for (const port of this.runningPorts()) {
      try {
        return parseClusterNodes(String(await nodeCommand(port, 'cluster', 'nodes')));
      } catch (error) {
        lastError = error;
      }
    }
    throw new Error(`no running node answered CLUSTER NODES (${String(lastError)})`);
  }

  async masters(): Promise<ClusterNodeInfo[]> {
    return (await this.topology()).filter((node) => node.role === 'master');
  }

  async replicas(): Promise<ClusterNodeInfo[]> {
    return (await this.topology()).filter((node) => node.role === 'replica');
  }

  async keySlot(key: string): Promise<number> {
    for (const port of this.runningPorts()) {
      const slot = await nodeCommand(port, 'cluster', 'keyslot', key).catch(() => undefined);
      if (slot !== undefined) return Number(slot);
    }
    throw new Error('no running node answered CLUSTER KEYSLOT');
  }

  async masterOfSlot(slot: number): Promise<ClusterNodeInfo> {
    const master = (await this.masters()).find(
      (node) => !node.failing && node.slots.some(([from, to]) => slot >= from && slot <= to),
    );
    if (!master) throw new Error(`no master serves slot ${slot}`);
    return master;
  }

  async masterOfKey(key: string): Promise<ClusterNodeInfo> {
    return this.masterOfSlot(await this.keySlot(key));
  }

  async waitHealthy(timeoutMs = HEALTHY_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let problem = '';
    for (;;) {
      problem = await this.healthProblem().catch((error: unknown) => String(error));
      if (problem === '') return;
      if (Date.now() > deadline)
        throw new Error(`Redis Cluster not healthy within ${timeoutMs} ms: ${problem}`);
      await sleep(100);
    }
  }

  /** What keeps the cluster from being healthy now; empty when nothing does. */
  private async healthProblem(): Promise<string> {
    const running = this.runningPorts();
    if (running.length === 0) return 'no node runs';
    for (const port of running) {
      const info = String(await nodeCommand(port, 'cluster', 'info'));
      const state = /^cluster_state:(\S+)/m.exec(info)?.[1];
      const served = Number(/^cluster_slots_ok:(\d+)/m.exec(info)?.[1] ?? 0);
      if (state !== 'ok' || served !== SLOTS)
        return `node ${port}: cluster_state:${state}, ${served} slots served`;
      const view = parseClusterNodes(String(await nodeCommand(port, 'cluster', 'nodes')));
      const failing = view.filter((node) => node.failing && running.includes(node.port));
      if (failing.length > 0)
        return `node ${port} flags running node(s) ${failing.map((node) => node.port).join(',')} as failing`;
      const myself = view.find((node) => node.flags.includes('myself'));
      if (myself?.role === 'replica') {
        const replication = String(await nodeCommand(port, 'info', 'replication'));
        if (!/^master_link_status:up/m.test(replication))
          return `replica ${port}: link to its master is not up`;
      }
      // Every slot's master is a running node, in this node's view.
      const deadMaster = view.find(
        (node) => node.role === 'master' && node.slots.length > 0 && !running.includes(node.port),
      );
      if (deadMaster) return `node ${port} still routes slots to stopped node ${deadMaster.port}`;
    }
    return '';
  }
}

/** A view of a cluster on 127.0.0.1 started elsewhere (another process's harness), by its seed. */
export function attachRedisCluster(seed: string): RedisClusterView {
  const ports = seed.split(',').map((node) => Number(node.slice(node.lastIndexOf(':') + 1)));
  return new ClusterView(ports.sort((a, b) => a - b));
}

class LocalRedisCluster extends ClusterView implements RedisClusterHarness {
  readonly dir: string;
  private readonly options: RedisClusterOptions;
  private readonly children = new Map<number, ChildProcess>();
  private readonly onExit = () => this.killAllNow();

  constructor(dir: string, basePort: number, options: RedisClusterOptions) {
    super(Array.from({ length: NODE_COUNT }, (_, index) => basePort + index));
    this.dir = dir;
    this.options = options;
    process.once('exit', this.onExit);
  }

  async create(): Promise<void> {
    await Promise.all(this.ports.map((port) => this.launch(port)));
    await run(
      this.options.redisCli ?? 'redis-cli',
      ['--cluster', 'create', ...this.nodes, '--cluster-replicas', '1', '--cluster-yes'],
      { timeout: START_TIMEOUT_MS },
    );
    await this.waitHealthy();
  }

  private nodeDir(port: number): string {
    return join(this.dir, String(port));
  }

  private async launch(port: number): Promise<void> {
    mkdirSync(this.nodeDir(port), { recursive: true });
    const child = spawn(
      this.options.redisServer ?? 'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(this.dir, `nodes-${port}.conf`),
        '--cluster-node-timeout',
        String(this.options.nodeTimeoutMs ?? 2_000),
        '--appendonly',
        this.options.appendOnly === false ? 'no' : 'yes',
        '--appendfsync',
        this.options.appendFsync ?? 'everysec',
        '--dir',
        this.nodeDir(port),
        '--save',
        '',
        '--maxmemory-policy',
        'noeviction',
        '--logfile',
        join(this.nodeDir(port), 'redis.log'),
      ],
      { stdio: 'ignore' },
    );
    this.children.set(port, child);
    this.saveState();
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        const log = readLog(join(this.nodeDir(port), 'redis.log'));
        if (/Address already in use/i.test(log)) throw new PortTakenError(`port ${port} is taken`);
        throw new Error(`redis-server on port ${port} exited (${child.exitCode}): ${log}`);
      }
      // LOADING (an AOF being replayed) is not an answer yet.
      if ((await nodeCommand(port, 'ping').catch(() => undefined)) === 'PONG') return;
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
      await sleep(50);
    }
  }

  running(port: number): boolean {
    const child = this.children.get(port);
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  protected override runningPorts(): number[] {
    return this.ports.filter((port) => this.running(port));
  }

  async kill(port: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.children.get(port);
    if (!child || !this.running(port)) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') return;
    await exited;
  }

  async restart(port: number, options: { dropAof?: boolean } = {}): Promise<void> {
    if (!this.ports.includes(port)) throw new Error(`no node on port ${port}`);
    if (this.running(port)) {
      // SIGTERM: Redis syncs its AOF and exits.
      await this.kill(port, 'SIGCONT');
      await this.kill(port, 'SIGTERM');
    }
    if (options.dropAof) {
      const nodeDir = this.nodeDir(port);
      for (const name of readdirSync(nodeDir))
        if (name !== 'redis.log') rmSync(join(nodeDir, name), { recursive: true, force: true });
    }
    await this.launch(port);
  }

  async failoverTakeover(replicaPort: number): Promise<void> {
    await nodeCommand(replicaPort, 'cluster', 'failover', 'takeover');
    const deadline = Date.now() + HEALTHY_TIMEOUT_MS;
    for (;;) {
      const view = parseClusterNodes(String(await nodeCommand(replicaPort, 'cluster', 'nodes')));
      if (view.find((node) => node.port === replicaPort)?.role === 'master') return;
      if (Date.now() > deadline) throw new Error(`node ${replicaPort} did not become a master`);
      await sleep(50);
    }
  }

  async stop(options: { keepDir?: boolean } = {}): Promise<void> {
    process.off('exit', this.onExit);
    await Promise.all(
      this.ports.map(async (port) => {
        await this.kill(port, 'SIGCONT');
        await this.kill(port, 'SIGKILL');
      }),
    );
    if (options.keepDir) {
      rmSync(join(this.dir, STATE_FILE), { force: true });
      return;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** On process exit, where nothing asynchronous runs: signals only. */
  private killAllNow(): void {
    for (const port of this.ports) {
      const child = this.children.get(port);
      if (child && this.running(port)) child.kill('SIGKILL');
    }
  }

  private saveState(): void {
    const pids: Record<string, number> = {};
    for (const [port, child] of this.children) if (child.pid) pids[port] = child.pid;
    const state: HarnessState = { ownerPid: process.pid, pids };
    writeFileSync(join(this.dir, STATE_FILE), JSON.stringify(state));
  }
}

/** One command on one node, on a connection of its own that does not retry. */
async function nodeCommand(port: number, command: string, ...args: string[]): Promise<unknown> {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    connectTimeout: 1_000,
    commandTimeout: 2_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await client.call(command, ...args);
  } finally {
    client.disconnect();
  }
}

/** CLUSTER NODES: `id addr@bus[,host] flags master ping pong epoch link slot…` per line. */
export function parseClusterNodes(text: string): ClusterNodeInfo[] {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const nodes = lines.map((line) => {
    const [id = '', addressField = '', flagField = '', master = '-', , , , , ...slotFields] = line
      .trim()
      .split(/\s+/);
    const address = addressField.split('@')[0] ?? '';
    const flags = flagField.split(',');
    const slots: [number, number][] = slotFields
      .filter((field) => !field.startsWith('['))
      .map((field) => {
        const [from, to] = field.split('-').map(Number);
        return [from ?? 0, to ?? from ?? 0];
      });
    return {
      id,
      address,
      port: Number(address.slice(address.lastIndexOf(':') + 1)),
      role: flags.includes('master') ? ('master' as const) : ('replica' as const),
      masterId: master === '-' ? undefined : master,
      masterPort: undefined as number | undefined,
      slots,
      flags,
      failing: flags.includes('fail') || flags.includes('fail?'),
    };
  });
  for (const node of nodes)
    node.masterPort = nodes.find((candidate) => candidate.id === node.masterId)?.port;
  return nodes;
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The first port from `from` where six ports in a row, and their bus ports, are free. */
async function freePortRun(from: number): Promise<number> {
  for (let base = from; base + NODE_COUNT + BUS_PORT_OFFSET < 65_536; base += NODE_COUNT) {
    let free = true;
    for (let index = 0; index < NODE_COUNT && free; index += 1)
      free = (await bindable(base + index)) && (await bindable(base + index + BUS_PORT_OFFSET));
    if (free) return base;
  }
  throw new Error(`no ${NODE_COUNT} free ports in a row from ${from}`);
}

function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-3).join(' | ');
  } catch {
    return '(no log)';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A pid that still is the redis-server started for `port` (not a recycled pid). */
function isOurNode(pid: number, port: string): boolean {
  try {
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return command.includes('redis-server') && command.includes(`:${port}`);
  } catch {
    return false;
  }
}

/** Harness directories left by runs that were killed outright: their nodes are killed, the directories removed. */
function cleanUpOrphans(givenDir: string | undefined): void {
  const candidates = givenDir ? [givenDir] : [];
  for (const name of readdirSync(tmpdir()))
    if (name.startsWith(DIR_PREFIX)) candidates.push(join(tmpdir(), name));
  for (const dir of candidates) {
    const stateFile = join(dir, STATE_FILE);
    if (!existsSync(stateFile)) continue;
    let state: HarnessState;
    try {
      state = JSON.parse(readFileSync(stateFile, 'utf8')) as HarnessState;
    } catch {
      continue;
    }
    if (isAlive(state.ownerPid)) continue;
    for (const [port, pid] of Object.entries(state.pids))
      if (isOurNode(pid, port)) process.kill(pid, 'SIGKILL');
    if (dir === givenDir) rmSync(stateFile, { force: true });
    else rmSync(dir, { recursive: true, force: true });
  }
}
