/**
 * Resource ids in Orb's style: 16 random base62 characters (~95 bits), e.g. "UiUhFWeLHPrBY4Ad".
 */
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const ID_LENGTH = 16;

export function newId(): string {
  const bytes = randomBytes(ID_LENGTH * 2);
  let id = '';
  // Rejection sampling keeps every character equally likely (248 = 4 * 62).
  for (const byte of bytes) {
    if (byte < 248) id += ALPHABET[byte % 62];
    if (id.length === ID_LENGTH) return id;
  }
  return id + newId().slice(id.length);
}
