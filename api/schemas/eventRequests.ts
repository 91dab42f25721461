/**
 * The body of `POST /v1/events/search` (Orb's EventSearchCriteria): 1 to 500 event ids (an event's
 * id is the idempotency key it was ingested with, compared case-sensitively) and an optional
 * timeframe, start inclusive and end exclusive; null means "not given". Unknown keys are refused,
 * as Orb's schema does (`additionalProperties: false`).
 */
import { z } from 'zod';
import { dateTime } from './primitives.ts';

export const EVENT_IDS_PER_SEARCH_MAX = 500;

export const eventSearchRequest = z.strictObject({
  event_ids: z.array(z.string()).min(1).max(EVENT_IDS_PER_SEARCH_MAX),
  timeframe_start: dateTime.nullable().optional(),
  timeframe_end: dateTime.nullable().optional(),
});
export type EventSearchRequest = z.infer<typeof eventSearchRequest>;
