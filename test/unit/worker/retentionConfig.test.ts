/** IDEMPOTENCY_KEY_RETENTION and REQUEST_RETENTION: ISO 8601 durations, defaults 7 and 90 days. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../worker/runtime/config.ts';

describe('retention settings', () => {
  it('default to 7 days for keys and 90 days for requests', () => {
    const config = loadConfig({ API_KEYS: 'k' });
    expect(config.idempotencyKeyRetention.as('days')).toBe(7);
    expect(config.requestRetention.as('days')).toBe(90);
  });

  it('take ISO 8601 durations and refuse zero or a non-duration', () => {
    const config = loadConfig({
      API_KEYS: 'k',
      IDEMPOTENCY_KEY_RETENTION: 'PT36H',
      REQUEST_RETENTION: 'P1Y',
    });
    expect(config.idempotencyKeyRetention.as('hours')).toBe(36);
    expect(config.requestRetention.toISO()).toBe('P1Y');
    expect(() => loadConfig({ API_KEYS: 'k', REQUEST_RETENTION: 'PT0S' })).toThrow(
      /REQUEST_RETENTION/,
    );
    expect(() => loadConfig({ API_KEYS: 'k', IDEMPOTENCY_KEY_RETENTION: '7 days' })).toThrow(
      /IDEMPOTENCY_KEY_RETENTION/,
    );
  });
});
