/**
 * Fencing for partition takeovers. BullMQ's job lock says who may run a partition's job, but a
 * worker paused past its lock (a GC pause, SIGSTOP, a frozen VM) does not know it lost the lock
 * and would go on applying after its successor started: twice, or out of order. Redis and
 * Postgres commits are not atomic, so the fence lives in Postgres, where the writes are:
 *
 * - every applying transaction passes through `applyingTransaction`, whose first statement locks
 *   the partition's fence row until commit and reads its epoch (worker/store/partitionFences.ts);
 * - a process that holds the current epoch (it was the last to take the partition over) applies;
 * - any other process first confirms with BullMQ that it still holds its job's lock, and then
 *   takes the partition over by setting a fresh epoch, in the same transaction. From then on every
 *   transaction of the previous holder finds an epoch not its own, cannot confirm a lock it has
 *   lost, and rolls back with `PartitionFencedError`: it applies nothing and, since its job is no
 *   longer its own, leaves the job to BullMQ (worker/main.ts neither completes nor fails it).
 *
 * Only the holder of the current epoch ever commits, so commits follow the takeovers in order.
 * A paused worker's open transaction holds the fence row; the server ends it once it has been
 * idle `idleTimeoutMs` (idle_in_transaction_session_timeout, set for that transaction only), so
 * a successor waits at most that long. No lock_timeout: a successor that gave up waiting would
 * fail its job, where waiting the bounded idle timeout costs only those seconds.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { advancePartitionFence, lockPartitionFence } from './store/partitionFences.ts';
import type { Orm } from './store/orm.ts';

export class PartitionFencedError extends Error {
  readonly partition: number;

  constructor(partition: number, held: string | undefined, current: string) {
    super(
      `partition ${partition} was taken over by another worker (epoch ${current}, this worker held ${held ?? 'none'}); nothing was applied`,
    );
    this.name = 'PartitionFencedError';
    this.partition = partition;
  }
}

/** The fence of one running job: checked first in each of the job's applying transactions. */
export interface JobFence {
  enter(em: EntityManager): Promise<void>;
  /** Set once a transaction of this job found itself fenced out. */
  readonly fenced: boolean;
}

/** The epochs one worker process holds, by partition. */
export class PartitionFence {
  private readonly held = new Map<number, string>();
  private readonly idleTimeoutMs: number;
  private readonly workerId: string;

  /** `workerId` is recorded as the holder of the partitions this process takes over. */
  constructor(idleTimeoutMs: number, workerId: string) {
    this.idleTimeoutMs = idleTimeoutMs;
    this.workerId = workerId;
  }

  /** `ownsJob` asks BullMQ whether this process still holds the job's lock (and renews it). */
  forJob(partition: number, ownsJob: () => Promise<boolean>): JobFence {
    const fence = this;
    let fenced = false;
    return {
      get fenced() {
        return fenced;
      },
      async enter(em) {
        const current = await lockPartitionFence(em, partition, fence.idleTimeoutMs);
        const held = fence.held.get(partition);
        if (current === held) return;
        if (!(await ownsJob())) {
          fenced = true;
          throw new PartitionFencedError(partition, held, current);
        }
        // Epochs come from a sequence: one drawn here and rolled back is never current later.
        fence.held.set(partition, await advancePartitionFence(em, partition, fence.workerId));
      },
    };
  }
}

/**
 * The one way processors open a transaction that applies anything: MikroORM's transaction with
 * the job's fence checked first. Without a fence (a processor called directly, as tests do) it is
 * the plain transaction.
 */
export function applyingTransaction<T>(
  deps: { orm: Orm; fence?: JobFence },
  work: (em: EntityManager) => Promise<T>,
): Promise<T> {
  return deps.orm.em.fork().transactional(async (em) => {
    await deps.fence?.enter(em);
    return work(em);
  });
}
