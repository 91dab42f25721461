/**
 * HTTP `Idempotency-Key` (ARCHITECTURE.md "Delivery, idempotency, failure"): a key is stored with
 * a fingerprint of method, path and body. The same key and body get the first answer again with
 * `Idempotent-Replayed: true`; the same key with another body, or while the first is still in
 * flight, gets a 409 (Orb's SDK retries 409s).
 */
import { createHash } from 'node:crypto';

export const IDEMPOTENCY_KEY_LENGTH_MAX = 255;

export function fingerprint(method: string, path: string, rawBody: string | undefined): string {
  return createHash('sha256').update(`${method} ${path}\n${rawBody ?? ''}`).digest('hex');
}
