/**
 * Records accepted requests in Postgres, several callers' in one statement (group commit at the
 * intake). A statement per request was the larger part of a sync write's cost, in this process
 * (its send and the ORM around it) and in Postgres. No caller waits for others to come: while
 * fewer than RECORDS_IN_FLIGHT_MAX statements are running a request goes at once, alone; only the
 * requests that arrive while they run wait, for the first to finish, and then go together. So an
 * idle service adds nothing to a request's time, and a busy one sends fewer, larger statements.
 *
 * A statement that fails with several requests in it is tried again for each alone, so that a
 * request that cannot be recorded fails only itself.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Orm } from '../../worker/store/orm.ts';
import {
  recordRequests,
  type IdempotencyInput,
  type RecordableRequest,
} from '../../worker/store/requests.ts';

/** Statements running at once; more requests than that wait for the next shared one. */
const RECORDS_IN_FLIGHT_MAX = 2;
/** Requests one statement records at most. */
const REQUESTS_PER_RECORD_MAX = 256;

interface Pending {
  request: RecordableRequest;
  idempotency: IdempotencyInput | undefined;
  resolve: (recorded: boolean) => void;
  reject: (error: unknown) => void;
}

export class RequestRecorder {
  private readonly orm: Orm;
  private waiting: Pending[] = [];
  private inFlight = 0;
  /** Statements sent so far (the retries of a failed one's requests included), for tests. */
  statements = 0;

  constructor(orm: Orm) {
    this.orm = orm;
  }

  /** Answers false when the request's Idempotency-Key was taken already (nothing recorded). */
  record(request: RecordableRequest, idempotency: IdempotencyInput | undefined): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ request, idempotency, resolve, reject });
      this.send();
    });
  }

  private send(): void {
    while (this.inFlight < RECORDS_IN_FLIGHT_MAX && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, REQUESTS_PER_RECORD_MAX);
      this.inFlight += 1;
      void this.write(batch).finally(() => {
        this.inFlight -= 1;
        this.send();
      });
    }
  }

  private async write(batch: Pending[]): Promise<void> {
    const em = this.orm.em.fork();
    this.statements += 1;
    try {
      settle(batch, await recordRequests(em, batch));
    } catch (error) {
      if (batch.length === 1) return batch[0]?.reject(error);
      for (const pending of batch) {
        this.statements += 1;
        await writeAlone(em, pending);
      }
    }
  }
}

function settle(batch: readonly Pending[], recorded: Set<string>): void {
  for (const pending of batch) pending.resolve(recorded.has(pending.request.id));
}

async function writeAlone(em: EntityManager, pending: Pending): Promise<void> {
  try {
    settle([pending], await recordRequests(em, [pending]));
  } catch (error) {
    pending.reject(error);
  }
}
