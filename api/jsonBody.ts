/**
 * JSON bodies are parsed with every number kept as its source text (LEDGER_RULES.md §1): the
 * reviver's `context.source` gives "0.1" exactly as sent, so an amount never passes through a
 * binary float. Schemas accept a `JsonNumber` where Orb's contract says "number".
 */
import type { FastifyInstance } from 'fastify';
import { ApiError } from './errors.ts';

export class JsonNumber {
  readonly source: string;

  constructor(source: string) {
    this.source = source;
  }
}

type SourceReviver = (this: unknown, key: string, value: unknown, context: { source?: string }) => unknown;

function reviveNumbers(_key: string, value: unknown, context: { source?: string }): unknown {
  return typeof value === 'number' && context?.source !== undefined ? new JsonNumber(context.source) : value;
}

export function parseJsonKeepingNumbers(text: string): unknown {
  return JSON.parse(text, reviveNumbers as SourceReviver as (key: string, value: unknown) => unknown);
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The body as sent, for idempotency fingerprints. */
    rawBody?: string;
  }
}

export function registerJsonBodyParser(app: FastifyInstance): void {
  app.removeContentTypeParser(['application/json']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    request.rawBody = text;
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, parseJsonKeepingNumbers(text));
    } catch (error) {
      done(ApiError.validation(`the body is not valid JSON: ${(error as Error).message}`), undefined);
    }
  });
}
