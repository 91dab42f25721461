/**
 * Bearer API keys (Orb's `Authorization: Bearer <key>`). Keys are compared in constant time.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { problem, sendProblem } from './errors.ts';

const BEARER = /^Bearer\s+(.+)$/i;

function matches(given: string, keys: readonly Buffer[]): boolean {
  const candidate = Buffer.from(given);
  let found = false;
  for (const key of keys) {
    if (key.length === candidate.length && timingSafeEqual(key, candidate)) found = true;
  }
  return found;
}

export function registerBearerAuth(
  app: FastifyInstance,
  apiKeys: readonly string[],
  publicPrefixes: readonly string[] = [],
): void {
  const keys = apiKeys.map((key) => Buffer.from(key));
  // A callback hook, not an async one: it runs on every request, and an async hook costs a
  // promise and a microtask turn each time. Answering without calling `done` ends the request.
  app.addHook('onRequest', (request, reply, done) => {
    if (publicPrefixes.some((prefix) => request.url.startsWith(prefix))) return done();
    const header = request.headers.authorization ?? '';
    const token = BEARER.exec(header)?.[1]?.trim();
    if (token && matches(token, keys)) return done();
    sendProblem(
      reply,
      problem(
        'authentication',
        token ? 'The API key is not valid.' : 'Send an API key as `Authorization: Bearer <key>`.',
      ),
    );
  });
}
