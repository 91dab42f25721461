/**
 * The one place where failures become HTTP answers: RFC 7807 bodies with Orb's `type` URIs
 * (reference/orb-openapi-subset.json, *Error schemas). Domain refusals arrive as values
 * (`LedgerError`), request problems as `ApiError`s, and anything else is a 500 that is logged.
 * A refusal's code decides its Orb type (through its kind, domain/ledgerError.ts REFUSAL_KINDS)
 * and is sent as the `code` extension member, which Orb's error schemas allow (they do not close
 * their properties): clients branch on it rather than on the detail sentence.
 */
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { isRefusalCode, REFUSAL_KINDS, type RefusalCode } from '../domain/ledgerError.ts';
import type { OutcomeError } from '../worker/jobs/requestOutcome.ts';
import { isRedisCommandUnavailable } from '../worker/jobs/redis.ts';
import { isTransient } from '../worker/runtime/transientRetry.ts';

const DOCS = 'https://docs.withorb.com/reference/error-responses';
/** `Retry-After` of a 503 that does not name its own: a dependency restarting takes about this long. */
const UNAVAILABLE_RETRY_AFTER_SECONDS = 1;

export const ERROR_TYPES = {
  request_validation: {
    status: 400,
    type: `${DOCS}#400-request-validation-errors`,
    title: 'Request validation error',
  },
  constraint_violation: {
    status: 400,
    type: `${DOCS}#400-constraint-violation`,
    title: 'Constraint violation',
  },
  duplicate_resource_creation: {
    status: 400,
    type: `${DOCS}#400-duplicate-resource-creation`,
    title: 'Duplicate resource',
  },
  authentication: {
    status: 401,
    type: `${DOCS}#401-authentication-error`,
    title: 'Authentication error',
  },
  resource_not_found: {
    status: 404,
    type: `${DOCS}#404-resource-not-found`,
    title: 'Resource not found',
  },
  url_not_found: { status: 404, type: `${DOCS}#404-url-not-found`, title: 'URL not found' },
  resource_conflict: {
    status: 409,
    type: `${DOCS}#409-resource-conflict`,
    title: 'Resource conflict',
  },
  request_too_large: {
    status: 413,
    type: `${DOCS}#413-request-too-large`,
    title: 'Request too large',
  },
  too_many_requests: {
    status: 429,
    type: `${DOCS}#429-too-many-requests`,
    title: 'Too many requests',
  },
  internal: {
    status: 500,
    type: `${DOCS}#500-internal-server-error`,
    title: 'Internal server error',
  },
  unavailable: {
    status: 503,
    type: `${DOCS}#500-internal-server-error`,
    title: 'Service unavailable',
  },
} as const;

export type ErrorKind = keyof typeof ERROR_TYPES;

export interface ProblemBody {
  type: string;
  status: number;
  title: string;
  detail: string | null;
  validation_errors?: string[];
  /** A domain refusal's code (domain/ledgerError.ts); absent for every other problem. */
  code?: RefusalCode;
}

export class ApiError extends Error {
  readonly kind: ErrorKind;
  readonly validationErrors: string[] | undefined;
  /** Sent as `Retry-After` (seconds) when set: when to try again after a 429 or a 503 (a 503 always has one). */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    kind: ErrorKind,
    detail: string,
    validationErrors?: string[],
    retryAfterSeconds?: number,
  ) {
    super(detail);
    this.kind = kind;
    this.validationErrors = validationErrors;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  /** 503: a dependency (the queue, the database) cannot be reached now; `Retry-After` says when to try again. */
  static unavailable(detail: string, retryAfterSeconds: number): ApiError {
    return new ApiError('unavailable', detail, undefined, retryAfterSeconds);
  }

  static tooManyRequests(detail: string, retryAfterSeconds: number): ApiError {
    return new ApiError('too_many_requests', detail, undefined, retryAfterSeconds);
  }

  static validation(detail: string, validationErrors: string[] = [detail]): ApiError {
    return new ApiError('request_validation', detail, validationErrors);
  }

  static notFound(detail: string): ApiError {
    return new ApiError('resource_not_found', detail);
  }
}

export function problem(
  kind: ErrorKind,
  detail: string | null,
  validationErrors?: string[],
): ProblemBody {
  const { status, type, title } = ERROR_TYPES[kind];
  const body: ProblemBody = { type, status, title, detail };
  if (kind === 'request_validation')
    body.validation_errors = validationErrors ?? (detail ? [detail] : []);
  return body;
}

/** A refusal code's Orb error type: the code decides the kind, the kind the type and status. */
export function refusalErrorKind(code: RefusalCode): ErrorKind {
  return REFUSAL_KINDS[code];
}

/**
 * A stored or just-decided outcome's problem. Outcomes stored before refusal codes, and the
 * worker's own `internal` failures, carry a kind alone; a code no longer known (stored by a later
 * version, then rolled back) falls back to its kind as well.
 */
export function outcomeProblem(
  error: Omit<OutcomeError, 'code'> & { code?: unknown },
): ProblemBody {
  if (!isRefusalCode(error.code)) return problem(error.kind, error.detail);
  return { ...problem(refusalErrorKind(error.code), error.detail), code: error.code };
}

export function sendProblem(reply: FastifyReply, body: ProblemBody): FastifyReply {
  return reply.code(body.status).type('application/problem+json').send(body);
}

function zodIssues(error: FastifyError): string[] {
  const validation =
    (
      error as {
        validation?: {
          instancePath?: string;
          message?: string;
          params?: { issue?: { path?: PropertyKey[] } };
        }[];
      }
    ).validation ?? [];
  return validation.map((issue) => {
    const path =
      issue.params?.issue?.path?.map(String).join('.') ||
      issue.instancePath?.replace(/^\//, '').replaceAll('/', '.');
    return path ? `${path}: ${issue.message}` : String(issue.message);
  });
}

export function registerErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof ApiError) {
      const retryAfter =
        error.retryAfterSeconds ??
        (error.kind === 'unavailable' ? UNAVAILABLE_RETRY_AFTER_SECONDS : undefined);
      if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
      return sendProblem(reply, problem(error.kind, error.message, error.validationErrors));
    }
    if (hasZodFastifySchemaValidationErrors(error)) {
      const issues = zodIssues(error);
      const where = (error as { validationContext?: string }).validationContext ?? 'request';
      return sendProblem(
        reply,
        problem('request_validation', `invalid ${where}: ${issues.join('; ')}`, issues),
      );
    }
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return sendProblem(reply, problem('request_too_large', error.message));
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      return sendProblem(
        reply,
        problem(error.statusCode === 404 ? 'url_not_found' : 'request_validation', error.message),
      );
    }
    // Redis unreachable (any route that reads or writes a queue): nothing waited for it, since its
    // command connection fails at once while disconnected (worker/jobs/redis.ts).
    if (isRedisCommandUnavailable(error)) {
      request.log.debug({ err: error }, 'queue unavailable');
      reply.header('retry-after', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
      return sendProblem(
        reply,
        problem(
          'unavailable',
          'The queue (Redis) is unavailable; retry shortly with the same Idempotency-Key.',
        ),
      );
    }
    // A lost database connection (a Postgres restart) or a conflict that outlived its retries is
    // the service being unavailable for a moment, not a bug: 503 with Retry-After, which clients
    // retry (with the same Idempotency-Key, the request is applied at most once).
    if (isTransient(error)) {
      request.log.warn({ err: error }, 'database unavailable');
      reply.header('retry-after', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
      return sendProblem(
        reply,
        problem(
          'unavailable',
          'The database is unavailable; retry shortly with the same Idempotency-Key.',
        ),
      );
    }
    request.log.error({ err: error }, 'unhandled error');
    return sendProblem(
      reply,
      problem('internal', 'An unexpected error occurred; it has been logged.'),
    );
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      problem('url_not_found', `no route ${request.method} ${request.url.split('?')[0]}`),
    ),
  );
}
