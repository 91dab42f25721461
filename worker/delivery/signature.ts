/**
 * Orb's webhook signature: `X-Orb-Timestamp` (ISO 8601, UTC) and `X-Orb-Signature:
 * v1=<hex HMAC-SHA256(secret, "v1:{timestamp}:{body}")>`, one `v1=` per signing secret separated by
 * spaces while a rotated secret still signs, which the official SDKs' `unwrap` accepts. Made at
 * each attempt: the SDK refuses a timestamp more than five minutes old.
 */
import { createHmac } from 'node:crypto';
import type { SigningSecret } from '../store/webhookEndpoints.ts';

export function signatureHeaders(
  body: string,
  secrets: readonly SigningSecret[],
  now: Date,
): { 'X-Orb-Timestamp': string; 'X-Orb-Signature': string } {
  const timestamp = now.toISOString();
  const signatures = secrets.map(
    (secret) =>
      `v1=${createHmac('sha256', Buffer.from(secret.reveal(), 'utf8'))
        .update(`v1:${timestamp}:${body}`, 'utf8')
        .digest('hex')}`,
  );
  return { 'X-Orb-Timestamp': timestamp, 'X-Orb-Signature': signatures.join(' ') };
}
