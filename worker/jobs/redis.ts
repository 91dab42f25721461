/**
 * The Redis connections the service uses, and what they do while Redis is away.
 *
 * Two kinds (ioredis options, BullMQ's requirements):
 * - `commands`: queues, intake, pub/sub publishing, reads. `enableOfflineQueue: false` and
 *   `maxRetriesPerRequest: 0`: while disconnected a command fails at once instead of waiting in
 *   memory for a server that may never return, so an HTTP request answers (503, or a durable
 *   202) instead of hanging; `commandTimeout` bounds a server that is connected but silent.
 * - `workers`: BullMQ Workers. BullMQ requires `maxRetriesPerRequest: null` there (its blocking
 *   connection is a duplicate of this one): a worker just waits for Redis to come back.
 *
 * Every connection, BullMQ's duplicates included, reports to one `RedisConnections`: it logs one
 * line when Redis is lost and one when it is back, never a line per failed reconnect, and it can
 * disconnect all of them at once (a shutdown that must finish while Redis is unreachable).
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

const CONNECT_TIMEOUT_MS = 5_000;
/** For a server that accepts connections but does not answer; far above any healthy command. */
const COMMAND_TIMEOUT_MS = 5_000;

export type RedisConnectionKind = 'commands' | 'workers';

const OPTIONS: Record<RedisConnectionKind, RedisOptions> = {
  commands: {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: COMMAND_TIMEOUT_MS,
  },
  workers: { maxRetriesPerRequest: null },
};

export class RedisUnreachableError extends Error {}

/** Network-level failures and ioredis's own words for "not connected". */
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'EAI_AGAIN',
]);
const CONNECTION_ERROR_MESSAGE =
  /Connection is closed|Stream isn't writeable|enableOfflineQueue|Command timed out|Reached the max retries per request|connect ETIMEDOUT|ECONNREFUSED|ECONNRESET|Socket closed unexpectedly|LOADING/;

/** ioredis's rejections of a command it could not send or got no answer to (never Postgres's words). */
const COMMAND_UNAVAILABLE_MESSAGE =
  /Stream isn't writeable|enableOfflineQueue|Reached the max retries per request|Command timed out|Connection is closed/;

/**
 * True when a command was refused because Redis cannot be reached now: what an HTTP request that
 * needs the queue turns into a 503. Only ioredis's own messages, so that a Postgres outage
 * (ECONNREFUSED too) is never reported as Redis's.
 */
export function isRedisCommandUnavailable(error: unknown): boolean {
  return error instanceof Error && COMMAND_UNAVAILABLE_MESSAGE.test(error.message);
}

/**
 * True for an error that means "Redis cannot be reached now", as opposed to a bug or a refusal:
 * the errors connections and BullMQ emit (network codes) and refused commands.
 */
export function isRedisConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code } = error as { code?: unknown };
  if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) return true;
  if (CONNECTION_ERROR_MESSAGE.test(error.message) || isRedisCommandUnavailable(error)) return true;
  const errors = (error as { errors?: unknown }).errors;
  return Array.isArray(errors) && errors.some(isRedisConnectionError);
}

/**
 * The shared connection-state logger and registry. `up` until a connection reports an error, then
 * `down` until a connection is ready again: one log line at each change.
 */
export class RedisConnections {
  private readonly clients = new Set<Redis>();
  private readonly where: string;
  private logger: Logger | undefined;
  private state: 'up' | 'down' = 'up';
  private lostAtMs = 0;
  /** Failures absorbed while down, reported in the "back" line. */
  private absorbed = 0;
  private closed = false;

  constructor(url: string, logger?: Logger) {
    this.where = new URL(url).host;
    this.logger = logger;
  }

  get isUp(): boolean {
    return this.state === 'up';
  }

  /** Follows a connection, and every duplicate made of it (BullMQ's blocking connections). */
  watch(client: Redis): Redis {
    this.clients.add(client);
    client.on('error', (error: Error) => this.down(error));
    client.on('ready', () => this.up());
    client.on('end', () => this.clients.delete(client));
    const duplicate = client.duplicate.bind(client);
    client.duplicate = (override?: Partial<RedisOptions>) => this.watch(duplicate(override));
    return client;
  }

  /**
   * Takes a connection error from a BullMQ Queue or Worker (they re-emit their connections'
   * errors, one per partition per retry). Answers true when it was one, and it is then the
   * caller's to drop: the state change has been logged here.
   */
  absorb(error: unknown): boolean {
    if (isRedisConnectionError(error)) {
      this.down(error as Error);
      return true;
    }
    // While Redis is away, whatever else a worker reports follows from it (a lock it could not
    // renew, say); it is counted, and the "back" line says how many.
    if (this.state === 'down') {
      this.absorbed += 1;
      return true;
    }
    return false;
  }

  private down(error: Error): void {
    if (this.closed) return;
    if (this.state === 'down') {
      this.absorbed += 1;
      return;
    }
    this.state = 'down';
    this.lostAtMs = performance.now();
    this.absorbed = 0;
    this.logger?.warn(
      { redis: this.where, reason: error.message },
      'Redis connection lost: retrying; writes that need Redis answer 503 until it is back',
    );
  }

  private up(): void {
    if (this.state === 'up' || this.closed) return;
    this.state = 'up';
    const downSeconds = Math.round((performance.now() - this.lostAtMs) / 100) / 10;
    this.logger?.info(
      { redis: this.where, downSeconds, failuresAbsorbed: this.absorbed },
      'Redis connection back',
    );
  }

  /** Ends every connection now: pending commands fail, nothing reconnects. For shutdown. */
  disconnectAll(): void {
    this.closed = true;
    for (const client of this.clients) client.disconnect();
    this.clients.clear();
  }
}

/**
 * Opens one connection of `kind` (`workers` when not given) and waits until it is ready; an
 * unreachable server is reported with what to do about it.
 */
export async function openRedis(
  url: string,
  options: { kind?: RedisConnectionKind; connections?: RedisConnections } = {},
): Promise<Redis> {
  const redis = new Redis(url, {
    ...OPTIONS[options.kind ?? 'workers'],
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
  });
  redis.on('error', () => {
    // ioredis reconnects by itself; the connection-state logger (when watching) says so once.
  });
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    const where = new URL(url).host;
    throw new RedisUnreachableError(
      `Redis is not reachable at ${where} (${(error as Error).message}).\n` +
        `  Start it with \`docker compose up -d postgres redis\` from the repository root,\n` +
        `  or point REDIS_URL at a running server (redis://host:6379).`,
    );
  }
  return options.connections ? options.connections.watch(redis) : redis;
}
