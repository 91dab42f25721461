/**
 * The answers of the operational routes (health, metrics, ping, docs, dead letters, test clock),
 * as response schemas for /docs. They are declared here rather than on those routes so that the
 * routes stay as they are; api/openApi.ts adds them to the operations that declare none.
 */
import { z } from 'zod';

const text = (mediaType: string, description: string) => ({
  description,
  content: { [mediaType]: { schema: z.string() } },
});

const readiness = z.object({
  status: z.enum(['ready', 'not_ready']),
  checks: z
    .record(z.string(), z.string())
    .meta({ description: 'Each check: "ok" or "failed: <reason>".' }),
  failing: z.array(z.string()).optional(),
});

const failedJob = z.object({
  id: z.string(),
  partition: z.number().int(),
  name: z.string(),
  failed_reason: z.string(),
  attempts_made: z.number().int(),
  data: z.unknown(),
  failed_at: z.string().meta({ format: 'date-time' }),
});

/** `METHOD url` (Fastify's form) → its responses. */
export const OPERATION_RESPONSES: Record<string, Record<string, unknown>> = {
  'GET /health/live': { 200: z.object({ status: z.literal('ok') }) },
  'GET /health/ready': {
    200: readiness,
    503: readiness.meta({ description: 'Not ready: `failing` names the checks that failed.' }),
  },
  'GET /metrics': { 200: text('text/plain', 'Prometheus metrics in the text exposition format.') },
  'GET /openapi.json': {
    200: {
      description: 'This OpenAPI 3.1 document.',
      content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } },
    },
  },
  'GET /docs': { 200: text('text/html', 'This documentation as one self-contained page.') },
  'GET /v1/ping': { 200: z.object({ response: z.literal('pong') }).meta({ id: 'PingResponse' }) },
  'GET /v1/failed_jobs': {
    200: z.object({
      data: z.array(failedJob),
      pagination_metadata: z.object({ has_more: z.boolean(), next_cursor: z.string().nullable() }),
    }),
  },
  'GET /v1/test_clock': { 200: z.object({ now: z.string().meta({ format: 'date-time' }) }) },
  'POST /v1/test_clock/advance': {
    200: z.object({
      now: z.string().meta({ format: 'date-time' }),
      jobs_run: z.number().int().meta({ description: 'Jobs run to catch up.' }),
    }),
  },
};
