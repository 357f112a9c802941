// Signed requests the product sends (check-backs today): the Standard Webhooks scheme (standardwebhooks.com), so a
// receiver can use any of its libraries or the few lines in the README. Headers webhook-id, webhook-timestamp (Unix
// seconds) and webhook-signature ("v1,<base64 HMAC-SHA256 of `${id}.${timestamp}.${body}`>"); secrets are written
// whsec_<base64>. Each API key has its own secret, derived from the key's hash (the only form the server keeps), so
// the key's holder can work it out too: `npm run apikey` prints it, GET /check-back/secret answers it.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

const PREFIX = 'whsec_';
const DERIVATION = 'mail-dispatch check-back v1';
/** A signature older or newer than this is refused (Standard Webhooks' recommended tolerance). */
export const TOLERANCE_S = 300;

/** The check-back secret of the API key whose SHA-256 hash is `keyHash`. */
export function secretOfKeyHash(keyHash: Buffer): Buffer {
  return createHmac('sha256', keyHash).update(DERIVATION).digest();
}

/** The secret of a plain API key, as its holder computes it; without keys (development) the key is "anonymous". */
export function secretOfKey(apiKey: string): Buffer {
  return secretOfKeyHash(createHash('sha256').update(apiKey, 'utf8').digest());
}

export const formatSecret = (secret: Buffer): string => `${PREFIX}${secret.toString('base64')}`;

export function parseSecret(text: string): Buffer {
  if (!text.startsWith(PREFIX)) throw new Error('a secret is written whsec_<base64>');
  return Buffer.from(text.slice(PREFIX.length), 'base64');
}

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

export function sign(secret: Buffer, id: string, timestampS: number, body: string): SignedHeaders {
  const mac = createHmac('sha256', secret).update(`${id}.${timestampS}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(timestampS), 'webhook-signature': `v1,${mac}` };
}

/** True when one of the signatures in the header is the body's, and the timestamp is within the tolerance. */
export function verify(secret: Buffer, headers: Record<string, string | undefined>, body: string, nowS = Math.floor(Date.now() / 1000)): boolean {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const given = headers['webhook-signature'];
  if (!id || !ts || !given || !/^\d{1,12}$/.test(ts) || Math.abs(nowS - Number(ts)) > TOLERANCE_S) return false;
  const expected = Buffer.from(sign(secret, id, Number(ts), body)['webhook-signature'].slice(3), 'base64');
  return given.split(' ').some((s) => {
    if (!s.startsWith('v1,')) return false;
    const candidate = Buffer.from(s.slice(3), 'base64');
    return candidate.length === expected.length && timingSafeEqual(candidate, expected);
  });
}

/** The secret of each configured key by its id (the id a prepared mail records); without keys, the "anonymous" one. */
export function secretsByKeyId(keys: readonly { id: string; hash: Buffer }[]): (keyId: string | null) => Buffer | null {
  const byId = new Map(keys.map((k) => [k.id, secretOfKeyHash(k.hash)]));
  if (keys.length === 0) byId.set('anonymous', secretOfKey('anonymous'));
  return (keyId) => (keyId === null ? null : (byId.get(keyId) ?? null));
}
