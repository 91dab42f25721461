/**
 * Fastify's `frameworkErrors`: failures found while routing, before any hook, handler or error
 * handler runs, answered as RFC 7807 bodies like every other error (api/errors.ts). Without this, a
 * bad percent-encoding (`/v1/customers/%E0%A4%A`) or a path segment longer than the router's limit
 * answered Fastify's own JSON (`{"error":"Bad Request","code":"FST_ERR_BAD_URL",…}`, and a 414 for
 * the long segment): found by the fuzzer (scripts/fuzz.ts).
 */
import type { FastifyError, FastifyReply } from 'fastify';
import { problem, sendProblem } from './errors.ts';

export function sendFrameworkProblem(
  error: FastifyError,
  _request: unknown,
  reply: FastifyReply,
): FastifyReply {
  if (error.code === 'FST_ERR_BAD_URL')
    return sendProblem(
      reply,
      problem('request_validation', 'the path is not valid percent-encoded UTF-8.'),
    );
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return sendProblem(
      reply,
      problem('request_validation', 'a path segment is longer than any id this service gives out.'),
    );
  }
  return sendProblem(
    reply,
    problem('internal', 'An unexpected error occurred while routing the request.'),
  );
}
