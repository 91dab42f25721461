/**
 * The RFC 7807 problem document every error answers (api/errors.ts builds them), as a schema for
 * /docs, and which statuses an operation documents.
 */
import { z } from 'zod';
import { REFUSAL_KINDS, type RefusalCode } from '../../domain/ledgerError.ts';

const REFUSAL_CODES = Object.keys(REFUSAL_KINDS) as [RefusalCode, ...RefusalCode[]];

export const problemSchema = z
  .object({
    type: z.string().meta({ description: "A URI naming the kind of error (Orb's error types)." }),
    status: z.number().int(),
    title: z.string(),
    detail: z.string().nullable(),
    validation_errors: z
      .array(z.string())
      .optional()
      .meta({ description: 'For 400 request validation errors: one line per problem.' }),
    code: z
      .enum(REFUSAL_CODES)
      .optional()
      .meta({
        description:
          'For a refusal by the ledger rules: its code (e.g. `insufficient_credits`, `block_not_found`); ' +
          'stable, unlike `detail`. An extension member, absent from other problems.',
      }),
  })
  .meta({ id: 'Problem', description: 'An RFC 7807 problem document (application/problem+json).' });

/** What each error status means here, as /docs says it. */
export const PROBLEM_STATUSES = {
  400: 'Request validation error, constraint violation or duplicate resource.',
  401: 'No valid API key (`Authorization: Bearer <key>`).',
  404: 'The resource (or the customer in the path) does not exist.',
  409: 'Idempotency-Key conflict: the key was used for another body, or its first request is still in flight (retry).',
  413: 'The body is larger than the service accepts.',
  429: 'The partition backlog is full; retry after `Retry-After` seconds.',
  503: 'A dependency (Postgres, the queue) is unavailable; retry after `Retry-After` seconds, with the same Idempotency-Key.',
} as const;

export type ProblemStatus = keyof typeof PROBLEM_STATUSES;
