import type { EntityManager } from '@mikro-orm/postgresql';
import type { Duration } from 'luxon';
import type { RequestKind } from '../../jobs/requestKinds.ts';
import type { OutcomeOf } from '../../jobs/requestOutcome.ts';
import type { LockedRequest } from '../../store/ledgerRepository.ts';
import type { LedgerNews } from '../ledgerNews.ts';

/** What the shell gives a kind's step: the group's transaction and its one instant. */
export interface KindContext {
  em: EntityManager;
  now: Date;
  /** GRACE_PERIOD: how long after its end a usage day stays open (deprecations need it). */
  gracePeriod: Duration;
  /** Where a kind hands over the ledger changes it saved and the events it makes (ledgerNews.ts). */
  news: LedgerNews;
}

/**
 * A kind applied one request at a time inside the group's transaction: parse its payload, load and
 * lock what it changes, call its pure decide, save. It records nothing: the shell records every
 * outcome of the group in one statement. A refusal is a `failed` outcome; a throw is a bug or an
 * outage and rolls the group back.
 */
export type ApplyKind<K extends RequestKind> = (
  request: LockedRequest,
  context: KindContext,
) => Promise<OutcomeOf<K>>;
