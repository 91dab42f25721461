/**
 * `GET /v1/failed_jobs` (the service's own endpoint, for operators): dead letters, the jobs that
 * failed permanently, across partitions or on one, newest first, with their reason and payload.
 * `npm run redrive` puts chosen ones back on their partition (scripts/redrive.ts); the route's
 * description says what that means for the customer's order (REDRIVE_NOTICE).
 */
import type { FastifyInstance } from 'fastify';
import { listFailedJobs, REDRIVE_NOTICE } from '../../worker/jobs/failedJobs.ts';
import type { QueueStore } from '../../worker/jobs/queueStore.ts';
import type { PartitionQueues } from '../../worker/jobs/queues.ts';
import { ApiError } from '../errors.ts';
import {
  decodeFailedJobCursor,
  encodeFailedJobCursor,
  failedJobsQuery,
  type FailedJobsQuery,
} from '../schemas/failedJobsQuery.ts';

export function registerFailedJobRoutes(
  app: FastifyInstance,
  deps: { queueStore: QueueStore; queues: PartitionQueues; partitions: number },
): void {
  const schema = {
    summary: 'List failed jobs (dead letters)',
    description: `Jobs that failed permanently, newest first, with their reason. ${REDRIVE_NOTICE.replace('Retrying from this page', 'Retrying from the dashboard')}`,
    tags: ['Operations'],
    querystring: failedJobsQuery,
  };
  app.get('/v1/failed_jobs', { schema }, async (request) => {
    const query = request.query as FailedJobsQuery;
    if (query.partition !== undefined && query.partition >= deps.partitions) {
      throw ApiError.validation(`partition must be between 0 and ${deps.partitions - 1}.`);
    }
    const partitions =
      query.partition === undefined
        ? Array.from({ length: deps.partitions }, (_, index) => index)
        : [query.partition];
    const page = await listFailedJobs(deps.queueStore, deps.queues, {
      partitions,
      limit: query.limit,
      after: decodeFailedJobCursor(query.cursor),
    });
    return {
      data: page.data.map((job) => ({
        id: job.id,
        partition: job.partition,
        name: job.name,
        failed_reason: job.failedReason,
        attempts_made: job.attemptsMade,
        data: job.data,
        failed_at: job.failedAt.toISOString(),
      })),
      pagination_metadata: {
        has_more: page.next !== null,
        next_cursor: page.next === null ? null : encodeFailedJobCursor(page.next),
      },
    };
  });
}
