import type { Duration } from 'luxon';
import type { Logger } from 'pino';
import type { Clock } from '../runtime/clock.ts';
import type { JobFence } from '../partitionFence.ts';
import type { OutboxWriter } from '../jobs/webhookEvents.ts';
import type { Orm } from '../store/orm.ts';

/** What every processor gets besides its job's data. */
export interface ProcessorDeps {
  orm: Orm;
  clock: Clock;
  logger: Logger;
  /** Where a transaction writes the webhook events of its changes (worker/delivery/outbox.ts). */
  outbox: OutboxWriter;
  /** The running job's fence (worker/partitionFence.ts); absent when a processor is called directly. */
  fence?: JobFence;
}

/** Usage and deprecation also need GRACE_PERIOD: how long after its end a usage day stays open. */
export interface UsageProcessorDeps extends ProcessorDeps {
  gracePeriod: Duration;
}
