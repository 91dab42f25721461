/**
 * JSON bodies are parsed with every number kept as its source text (LEDGER_RULES.md §1): the
 * reviver's `context.source` gives "0.1" exactly as sent, so an amount never passes through a
 * binary float (worker/runtime/exactJson.ts). Schemas accept a `JsonNumber` where Orb's contract says
 * "number".
 */
import type { FastifyInstance } from 'fastify';
import { parseExactJson } from '../worker/runtime/exactJson.ts';
import { ApiError } from './errors.ts';

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
      done(null, parseExactJson(text));
    } catch (error) {
      done(
        ApiError.validation(`the body is not valid JSON: ${(error as Error).message}`),
        undefined,
      );
    }
  });
}
