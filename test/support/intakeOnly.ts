/**
 * An api-only service beside a test service, on the same database, whose jobs go to a queue
 * prefix nobody works: what it accepts is recorded (answered 202) and never applied, so that a
 * test can apply a chosen run of requests itself (worker/processors/applyRequests.ts).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { expect } from 'vitest';
import { startService } from '../../scripts/service.ts';
import { deleteQueueKeys } from '../../worker/jobs/queueKeys.ts';
import { loadConfig } from '../../worker/runtime/config.ts';
import { REDIS_URL, TEST_API_KEY, type TestService } from './testService.ts';

export interface IntakeOnly {
  /** Sends a write with `Prefer: respond-async`; answers the accepted request's id. */
  recordOnly(method: string, path: string, body?: unknown): Promise<string>;
  close(): Promise<void>;
}

export async function startIntakeOnly(t: TestService, logger: Logger): Promise<IntakeOnly> {
  const prefix = `test-orphan-${randomBytes(4).toString('hex')}`;
  const service = await startService(
    loadConfig({
      DATABASE_URL: t.databaseUrl,
      REDIS_URL,
      PORT: '0',
      API_KEYS: TEST_API_KEY,
      QUEUE_STORE: t.service.config.queueStore,
      QUEUE_PREFIX: prefix,
      PARTITIONS: String(t.service.config.partitions),
      ROLE: 'api',
      LOG_LEVEL: 'silent',
    }),
    { logger },
  );
  return {
    async recordOnly(method, path, body) {
      const response = await fetch(`${service.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${TEST_API_KEY}`,
          prefer: 'respond-async',
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      expect(response.status, text).toBe(202);
      return (JSON.parse(text) as { id: string }).id;
    },
    async close() {
      await service.close();
      if (t.service.config.queueStore === 'redis') await deleteQueueKeys(REDIS_URL, prefix);
    },
  };
}
