/**
 * The query of `GET /v1/failed_jobs` (the service's own endpoint): an optional partition, Orb-style
 * `limit` and opaque `cursor`. The cursor is the (failed_at, partition, id) of the last job of the
 * previous page (worker/jobs/failedJobs.ts).
 */
import { z } from 'zod';
import type { FailedJobKey } from '../../worker/jobs/failedJobs.ts';
import { ApiError } from '../errors.ts';
import { decodeCursor, encodeCursor, limitQuery } from './listQueries.ts';

/** The SDK sends `key=` for unset values: an empty value means "not given". */
const empty = (value: unknown) => (value === '' ? undefined : value);

export const failedJobsQuery = z.object({
  partition: z.preprocess(empty, z.coerce.number().int().min(0).optional()),
  limit: limitQuery(100),
  cursor: z.preprocess(empty, z.string().optional()),
});
export type FailedJobsQuery = z.infer<typeof failedJobsQuery>;

export function encodeFailedJobCursor(key: FailedJobKey): string {
  return encodeCursor(`${key.failedAtMs}|${key.partition}|${key.id}`);
}

export function decodeFailedJobCursor(cursor: string | undefined): FailedJobKey | undefined {
  if (cursor === undefined) return undefined;
  const match = /^(\d{1,16})\|(\d{1,4})\|(.+)$/s.exec(decodeCursor(cursor));
  if (!match)
    throw ApiError.validation(
      'cursor is not one this service gave out; pass pagination_metadata.next_cursor unchanged.',
    );
  return { failedAtMs: Number(match[1]), partition: Number(match[2]), id: match[3] ?? '' };
}
