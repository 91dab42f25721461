/**
 * HTTP `Idempotency-Key` (ARCHITECTURE.md "Delivery, idempotency, failure"): a key is stored with
 * a fingerprint of method, path and body. The same key and body get the first answer again with
 * `Idempotent-Replayed: true`; the same key with another body, or while the first is still in
 * flight, gets a 409 (Orb's SDK retries 409s). A create's answer is stored as the very text that
 * was sent (a JSON string in the jsonb column), so a replay is byte-identical to the first answer:
 * jsonb would reorder an object's keys, metadata included.
 */
import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { IdempotencyKey } from '../../worker/store/entities.ts';
import { recordImmediateRequest } from '../../worker/store/requests.ts';
import { ApiError } from '../errors.ts';

export const IDEMPOTENCY_KEY_LENGTH_MAX = 255;

export function fingerprint(method: string, path: string, rawBody: string | undefined): string {
  return createHash('sha256')
    .update(`${method} ${path}\n${rawBody ?? ''}`)
    .digest('hex');
}

/** A create's Idempotency-Key: its value (if sent) and the request's fingerprint. */
export interface CreateKey {
  key: string | undefined;
  print: string;
}

function keyFrom(header: string | string[] | undefined): string | undefined {
  if (
    Array.isArray(header) ||
    (header !== undefined && (header.length === 0 || header.length > IDEMPOTENCY_KEY_LENGTH_MAX))
  ) {
    throw ApiError.validation(
      `Idempotency-Key must be one value of 1 to ${IDEMPOTENCY_KEY_LENGTH_MAX} characters.`,
    );
  }
  return header;
}

/**
 * A submitted write's Idempotency-Key (api/intake/submit.ts): the header's value, if sent, with the
 * fingerprint of the request under its canonical path (the Orb id's form, so that both path forms
 * of one request are the same request).
 */
export function submittedKey(
  request: FastifyRequest,
  canonicalPath: string,
): { key: string; fingerprint: string } | undefined {
  const key = keyFrom(request.headers['idempotency-key']);
  return key === undefined
    ? undefined
    : { key, fingerprint: fingerprint(request.method, canonicalPath, request.rawBody) };
}

/**
 * For the synchronous creates (customers, usage prices, top-ups): reads the request's key and, when
 * it was used before, answers for it — the stored response again, or 409 for another body.
 * Answers `fresh` when the caller should go on and create.
 */
export async function replayCreate(
  em: EntityManager,
  request: FastifyRequest,
  reply: FastifyReply,
  path: string,
): Promise<{ replayed: FastifyReply } | { fresh: CreateKey }> {
  const key = keyFrom(request.headers['idempotency-key']);
  const print = fingerprint('POST', path, request.rawBody);
  const stored = key === undefined ? null : await em.findOne(IdempotencyKey, { key });
  if (!stored) return { fresh: { key, print } };
  if (stored.fingerprint !== print || stored.responseStatus === null) {
    throw new ApiError(
      'resource_conflict',
      `Idempotency-Key ${key} was already used for a different request.`,
    );
  }
  reply.code(stored.responseStatus ?? 201).header('idempotent-replayed', 'true');
  // Keys stored before answers were kept as text hold the answer's object: sent as it is.
  return {
    replayed:
      typeof stored.responseBody === 'string'
        ? sendCreated(reply, stored.responseBody, stored.responseStatus ?? 201)
        : reply.send(stored.responseBody),
  };
}

/** Sends a create's answer, already written as JSON text (what `recordCreate` stored). */
export function sendCreated(reply: FastifyReply, json: string, status = 201): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(json);
}

/**
 * A create applied at once (customers, usage prices: nothing to queue behind) takes the one request
 * model's path without the partition: one transaction records the request, committed with what it
 * made, then the key with the 201 response (`json`: the answer's text, sent with `sendCreated`),
 * then the created row(s). The key goes before the resource: a concurrent request with the same
 * key waits on it and gets a retryable 409 rather than losing on the resource's own unique index.
 * `onConflict` maps that index's violation.
 */
export async function recordCreate(
  em: EntityManager,
  createKey: CreateKey,
  request: Omit<Parameters<typeof recordImmediateRequest>[1], 'createdAt'>,
  json: string,
  now: Date,
  insert: (tx: EntityManager) => Promise<void>,
  onConflict: (violation: {
    constraint?: string;
    message?: string;
  }) => Error | undefined | Promise<Error | undefined>,
): Promise<void> {
  const { key, print } = createKey;
  try {
    await em.transactional(async (tx) => {
      await recordImmediateRequest(tx, { ...request, createdAt: now });
      if (key !== undefined) {
        await tx.insert(IdempotencyKey, {
          key,
          fingerprint: print,
          requestId: request.id,
          responseStatus: 201,
          responseBody: json,
          createdAt: now,
        });
      }
      await insert(tx);
    });
  } catch (error) {
    const violation = error as { code?: string; constraint?: string; message?: string };
    if (violation.code !== '23505') throw error;
    if (/idempotency_keys/.test(`${violation.constraint} ${violation.message}`)) {
      throw new ApiError(
        'resource_conflict',
        `A request with Idempotency-Key ${String(key)} is in flight; retry shortly.`,
      );
    }
    throw (await onConflict(violation)) ?? error;
  }
}
