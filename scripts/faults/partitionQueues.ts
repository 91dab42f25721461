/**
 * The fault runs' own view of the partition queues, beside the service's: waiting until every
 * partition has drained (nothing waiting, active or delayed) within a deadline, listing failed
 * jobs with their reasons, and, for the duplicates fault, delivering real jobs a second time by
 * adding a copy of their payload under another job id, as a redelivery would.
 */
import { Queue, type Job } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
import { partitionQueueName } from '../../worker/jobs/partition.ts';
import { clusterNodeAddress, type RedisClient, type RedisTarget } from '../../worker/jobs/redis.ts';
import { jobCatalog, type JobName } from '../../worker/jobs/queues.ts';

const DRAIN_POLL_MS = 250;
/** Jobs looked at per partition when choosing what to copy. */
const COPY_CANDIDATES_MAX = 20;

export interface DrainResult {
  drained: boolean;
  seconds: number;
  /** Partitions still holding jobs at the deadline, e.g. `{ledger-03}: 2 waiting, 1 active`. */
  stuck: string[];
  failed: { partition: number; id: string; name: string; reason: string }[];
}

export interface CopyCounts {
  /** Copies added, by job name. */
  added: Record<string, number>;
  /** Copies that ran as their own job, and the usage events they found already applied. */
  ranAlone: number;
  eventsDropped: number;
  /** Copies taken into another usage job's transaction (worker/jobs/usageFollowers.ts). */
  ranAsFollowers: number;
}

export class PartitionQueueView {
  private readonly redis: RedisClient;
  private readonly queues: Queue[];
  private readonly copies = new Map<string, number>();
  readonly copyCounts: CopyCounts = { added: {}, ranAlone: 0, eventsDropped: 0, ranAsFollowers: 0 };

  /** `redis`: a Redis URL, or a target naming a Redis Cluster (REDIS_CLUSTER_NODES). */
  constructor(redis: string | RedisTarget, prefix: string, partitions: number) {
    const target: RedisTarget = typeof redis === 'string' ? { kind: 'single', url: redis } : redis;
    // Waits through an outage, as BullMQ's workers do: the faults restart what it reads.
    this.redis =
      target.kind === 'single'
        ? new Redis(target.url, { maxRetriesPerRequest: null })
        : new Cluster(target.nodes.map(clusterNodeAddress), {
            scaleReads: 'master',
            redisOptions: { maxRetriesPerRequest: null },
          });
    this.redis.on('error', () => undefined);
    if (this.redis instanceof Cluster) this.redis.on('node error', () => undefined);
    this.queues = Array.from({ length: partitions }, (_, partition) => {
      const queue = new Queue(partitionQueueName(partition), { connection: this.redis, prefix });
      queue.on('error', () => undefined);
      return queue;
    });
  }

  async waitForDrain(timeoutMs: number): Promise<DrainResult> {
    const started = Date.now();
    let stuck: string[] = [];
    for (;;) {
      stuck = [];
      for (const [partition, queue] of this.queues.entries()) {
        const counts = await queue.getJobCounts(
          'wait',
          'active',
          'delayed',
          'prioritized',
          'waiting-children',
        );
        const held = Object.entries(counts).filter(([, count]) => count > 0);
        if (held.length > 0)
          stuck.push(
            `${partitionQueueName(partition)}: ${held.map(([state, count]) => `${count} ${state}`).join(', ')}`,
          );
      }
      if (stuck.length === 0 || Date.now() - started > timeoutMs) break;
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
    const failed: DrainResult['failed'] = [];
    for (const [partition, queue] of this.queues.entries()) {
      for (const job of await queue.getFailed(0, 99))
        failed.push({ partition, id: String(job.id), name: job.name, reason: job.failedReason });
    }
    return { drained: stuck.length === 0, seconds: (Date.now() - started) / 1000, stuck, failed };
  }

  /**
   * Adds a second copy of a few real jobs of a random partition (waiting ones, which may then run
   * in one transaction with their original, and completed ones), each under the id `dup-<id>`.
   */
  async copySomeJobs(): Promise<void> {
    const partition = Math.floor(Math.random() * this.queues.length);
    const queue = this.queues[partition];
    if (!queue) return;
    const candidates: Job[] = await queue.getJobs(
      ['wait', 'completed'],
      0,
      COPY_CANDIDATES_MAX - 1,
    );
    for (const job of candidates) {
      if (
        !job.id ||
        job.id.startsWith('dup-') ||
        this.copies.has(job.id) ||
        !(job.name in jobCatalog)
      )
        continue;
      if (Math.random() < 0.5) continue;
      const name = job.name as JobName;
      await queue.add(name, job.data, { ...jobCatalog[name].options, jobId: `dup-${job.id}` });
      this.copies.set(job.id, partition);
      this.copyCounts.added[name] = (this.copyCounts.added[name] ?? 0) + 1;
    }
  }

  /** After the drain: what became of the copies (completed jobs are kept, in bounded numbers). */
  async countCopies(): Promise<CopyCounts> {
    for (const [id, partition] of this.copies) {
      const copy = await this.queues[partition]?.getJob(`dup-${id}`);
      if (!copy) {
        this.copyCounts.ranAsFollowers += 1;
        continue;
      }
      this.copyCounts.ranAlone += 1;
      const duplicates = (copy.returnvalue as { duplicates?: unknown } | null)?.duplicates;
      if (typeof duplicates === 'number') this.copyCounts.eventsDropped += duplicates;
    }
    return this.copyCounts;
  }

  async close(): Promise<void> {
    await Promise.all(this.queues.map((queue) => queue.close()));
    this.redis.disconnect();
  }
}
