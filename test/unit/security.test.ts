import { loadConfig } from '../../src/config';
import { scrubError, scrubSecrets, secretsOfUrl } from '../../src/core/secrets';
import { LIMITS, validateMailRequest } from '../../src/core/validation';
import { apiKeyConfigEntry, hashApiKey, keyIdOf, matchKey, parseApiKeys } from '../../src/http/security/api-keys';
import { canonicalJson, fingerprintOf, parseIdempotencyKey } from '../../src/http/security/idempotency';
import { MAX_JSON_DEPTH, jsonProblem } from '../../src/http/security/json-guard';
import { RateLimiter, TokenBuckets } from '../../src/http/security/rate-limit';
import { AppError } from '../../src/errors';
import { instanceOf } from '../../src/http/problem';

const KEY = 'mdk_unit_test_key_0123456789abcdef';

describe('API_KEYS parsing', () => {
  test('hashed entries are read, any hex case, and identified by the first 16 hex digits of the hash', () => {
    const entry = apiKeyConfigEntry(KEY);
    const { keys, problems } = parseApiKeys(` ${entry.toUpperCase().replace('SHA256', 'sha256')} , `);
    expect(problems).toEqual([]);
    expect(keys).toHaveLength(1);
    expect(keys[0]!.hash.equals(hashApiKey(KEY))).toBe(true);
    expect(keys[0]!.id).toBe(hashApiKey(KEY).toString('hex').slice(0, 16));
    expect(keys[0]!.plain).toBe(false);
  });

  test('a plain key is hashed at once and flagged as plain', () => {
    const { keys } = parseApiKeys(KEY);
    expect(keys[0]).toMatchObject({ plain: true, id: keyIdOf(hashApiKey(KEY)) });
  });

  test.each([
    ['sha256:abc', /entry 1 starts with sha256:/],
    ['sha256:' + 'g'.repeat(64), /entry 1 starts with sha256:/],
    ['short', /entry 1 is neither/],
    [`${KEY},with space inside key`, /entry 2 is neither/],
    [`${apiKeyConfigEntry(KEY)},${KEY}`, /listed twice/],
  ])('%p is refused without showing the entry', (raw, problem) => {
    const { problems } = parseApiKeys(raw);
    expect(problems.join('\n')).toMatch(problem);
    for (const p of problems) expect(p).not.toContain('with space');
  });

  test('loadConfig: plain keys only in development; hashes anywhere; always hashes afterwards', () => {
    expect(loadConfig({ API_KEYS: KEY }).API_KEYS).toEqual([apiKeyConfigEntry(KEY)]);
    expect(() => loadConfig({ NODE_ENV: 'test', API_KEYS: KEY })).toThrow(/API_KEYS: holds a plain key/);
    expect(() => loadConfig({ NODE_ENV: 'production', SMTP_URL: 'smtp://x.example.com', API_KEYS: KEY })).toThrow(/API_KEYS: holds a plain key/);
    expect(loadConfig({ NODE_ENV: 'test', API_KEYS: apiKeyConfigEntry(KEY) }).API_KEYS).toEqual([apiKeyConfigEntry(KEY)]);
    expect(loadConfig({ NODE_ENV: 'test' }).API_KEYS).toEqual([]);
  });

  test('the rate limits and idempotency TTL have their documented defaults, and 0 turns a limit off', () => {
    expect(loadConfig({})).toMatchObject({ RATE_LIMIT_PER_KEY: 60_000, RATE_LIMIT_PER_RECIPIENT: 0, IDEMPOTENCY_TTL_HOURS: 24 });
    // Production guards each recipient unless told otherwise; development leaves load tests to one address alone.
    const prod = { NODE_ENV: 'production', SMTP_URL: 'smtp://smtp.example.com', API_KEYS: `sha256:${'a'.repeat(64)}` };
    expect(loadConfig(prod).RATE_LIMIT_PER_RECIPIENT).toBe(1_000);
    expect(loadConfig({ ...prod, RATE_LIMIT_PER_RECIPIENT: '0' }).RATE_LIMIT_PER_RECIPIENT).toBe(0);
    expect(loadConfig({ RATE_LIMIT_PER_KEY: '0' }).RATE_LIMIT_PER_KEY).toBe(0);
    expect(() => loadConfig({ IDEMPOTENCY_TTL_HOURS: '0' })).toThrow(/IDEMPOTENCY_TTL_HOURS/);
  });
});

describe('matchKey', () => {
  const keys = parseApiKeys([KEY, 'mdk_second_key_zzzzzzzzzzzzzzzzzzzz'].map(apiKeyConfigEntry).join(',')).keys;
  test('finds the key whose hash matches, and nothing for anything else', () => {
    expect(matchKey(keys, KEY)?.id).toBe(keys[0]!.id);
    expect(matchKey(keys, 'mdk_second_key_zzzzzzzzzzzzzzzzzzzz')?.id).toBe(keys[1]!.id);
    for (const wrong of ['', KEY.slice(1), `${KEY} `, KEY.toUpperCase(), apiKeyConfigEntry(KEY)]) expect(matchKey(keys, wrong)).toBeUndefined();
  });
});

describe('TokenBuckets', () => {
  const clock = () => {
    let t = 1_000_000;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  };

  test('allows the capacity at once, then refuses with the wait until one token is back', () => {
    const c = clock();
    const b = new TokenBuckets({ capacity: 3, windowMs: 60_000, now: c.now });
    for (let i = 0; i < 3; i++) expect(b.take(['k'])).toEqual({ ok: true });
    expect(b.take(['k'])).toEqual({ ok: false, retryAfterSeconds: 20 });
    c.advance(19_000);
    expect(b.take(['k'])).toEqual({ ok: false, retryAfterSeconds: 1 });
    c.advance(1_000);
    expect(b.take(['k'])).toEqual({ ok: true });
  });

  test('takes from all keys or none', () => {
    const c = clock();
    const b = new TokenBuckets({ capacity: 1, windowMs: 1000, now: c.now });
    expect(b.take(['a'])).toEqual({ ok: true });
    expect(b.take(['b', 'a']).ok).toBe(false);
    expect(b.take(['b'])).toEqual({ ok: true });
  });

  test('a refund gives a token back, never above capacity', () => {
    const c = clock();
    const b = new TokenBuckets({ capacity: 2, windowMs: 1000, now: c.now });
    b.take(['k']);
    b.take(['k']);
    b.refund(['k']);
    b.refund(['k']);
    b.refund(['k']);
    expect(b.take(['k'])).toEqual({ ok: true });
    expect(b.take(['k'])).toEqual({ ok: true });
    expect(b.take(['k']).ok).toBe(false);
  });

  test('refill "window": each token comes back a window after it was taken, so no window holds more than the capacity', () => {
    const c = clock();
    const b = new TokenBuckets({ capacity: 2, windowMs: 60_000, refill: 'window', now: c.now });
    expect(b.take(['k'])).toEqual({ ok: true });
    c.advance(10_000);
    expect(b.take(['k'])).toEqual({ ok: true });
    expect(b.take(['k'])).toEqual({ ok: false, retryAfterSeconds: 50 });
    c.advance(50_000);
    expect(b.take(['k'])).toEqual({ ok: true });
    expect(b.take(['k'])).toEqual({ ok: false, retryAfterSeconds: 10 });
    b.refund(['k']);
    expect(b.take(['k'])).toEqual({ ok: true });
    c.advance(60_000);
    b.take(['other']);
    expect(b.size).toBe(1);
  });

  test('memory is bounded: refilled buckets are swept, and past maxEntries the least recently used go', () => {
    const c = clock();
    const b = new TokenBuckets({ capacity: 5, windowMs: 1000, maxEntries: 100, now: c.now });
    for (let i = 0; i < 10_000; i++) b.take([`addr${i}`]);
    expect(b.size).toBeLessThanOrEqual(100);
    c.advance(2_000);
    b.take(['fresh']);
    expect(b.size).toBe(1);
  });

  test('RateLimiter: 0 turns limits off; recipients are compared case-insensitively; release is once only', () => {
    const off = new RateLimiter({ perKeyPerMinute: 0, perRecipientPerHour: 0 });
    for (let i = 0; i < 1000; i++) off.request('k');
    off.reserveRecipients(['a@example.com']);
    const limiter = new RateLimiter({ perKeyPerMinute: 1, perRecipientPerHour: 1 });
    limiter.request('k');
    expect(() => limiter.request('k')).toThrow(AppError);
    const release = limiter.reserveRecipients(['A@example.com']);
    expect(() => limiter.reserveRecipients(['a@example.com'])).toThrow(/recipient/);
    release();
    release();
    limiter.reserveRecipients(['a@example.com']);
    try {
      limiter.reserveRecipients(['a@example.com']);
    } catch (err) {
      expect((err as AppError).code).toBe('RATE_LIMITED');
      expect((err as AppError).extra.retryAfterSeconds).toBe(3600);
    }
  });
});

describe('jsonProblem', () => {
  const nest = (n: number) => JSON.parse(`${'{"a":'.repeat(n)}1${'}'.repeat(n)}`) as unknown;
  test(`allows nesting up to ${MAX_JSON_DEPTH} levels and refuses deeper`, () => {
    expect(jsonProblem(nest(MAX_JSON_DEPTH))).toBeNull();
    expect(jsonProblem(nest(MAX_JSON_DEPTH + 1))?.code).toBe('JSON_TOO_DEEP');
    expect(jsonProblem(JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`))?.code).toBe('JSON_TOO_DEEP');
  });

  test.each(['{"__proto__":{"x":1}}', '{"a":[{"b":{"constructor":{}}}]}', '[{"prototype":1}]'])('refuses %s', (text) => {
    expect(jsonProblem(JSON.parse(text))?.code).toBe('JSON_FORBIDDEN_KEY');
  });

  test('allows ordinary bodies, including look-alike keys and values', () => {
    expect(jsonProblem({ subject: '__proto__', content: 'constructor', tos: ['a@example.com'], proto: 1, Constructor: 2 })).toBeNull();
    expect(jsonProblem(null)).toBeNull();
    expect(jsonProblem('x')).toBeNull();
  });
});

describe('Idempotency-Key', () => {
  test.each([
    ['abc', 'abc'],
    ['"abc"', 'abc'],
    ['"with space"', 'with space'],
    ['8e03978e-40d5-43e8-bc93-6894a57f9324', '8e03978e-40d5-43e8-bc93-6894a57f9324'],
    ['k'.repeat(255), 'k'.repeat(255)],
  ])('%p is the key %p', (header, key) => {
    expect(parseIdempotencyKey(header)).toBe(key);
  });

  test.each(['', '""', 'a, b', 'a b', '"a"b"', 'k'.repeat(256), 'é', '"unterminated', 'back\\slash'])('%p is refused', (header) => {
    expect(() => parseIdempotencyKey(header)).toThrow(expect.objectContaining({ code: 'INVALID_IDEMPOTENCY_KEY' }));
  });

  test('canonical JSON sorts keys at every level, so key order does not change the fingerprint', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 'x' }] })).toBe('{"a":[{"c":"x","d":2}],"b":1}');
    expect(fingerprintOf({ subject: 's', tos: ['a'], content: 'c' })).toBe(fingerprintOf({ content: 'c', subject: 's', tos: ['a'] }));
    expect(fingerprintOf({ tos: ['a', 'b'] })).not.toBe(fingerprintOf({ tos: ['b', 'a'] }));
    expect(fingerprintOf({ a: '1' })).not.toBe(fingerprintOf({ a: 1 }));
  });
});

describe('secrets', () => {
  test('secretsOfUrl gives the password raw, decoded and as SMTP AUTH would send it', () => {
    const s = secretsOfUrl('smtps://user%40x.com:p%40ss%3Aword@smtp.example.com');
    expect(s).toEqual(expect.arrayContaining(['p%40ss%3Aword', 'p@ss:word', Buffer.from('p@ss:word').toString('base64'), Buffer.from('\u0000user@x.com\u0000p@ss:word').toString('base64')]));
    expect(secretsOfUrl('smtp://smtp.example.com')).toEqual([]);
    expect(secretsOfUrl(undefined)).toEqual([]);
    expect(secretsOfUrl('not a url')).toEqual([]);
  });

  test('scrubError replaces secrets in message and response, keeps code and responseCode', () => {
    const err = Object.assign(new Error('Invalid login: 535 bad password hunter22'), { code: 'EAUTH', responseCode: 535, response: '535 bad password hunter22' });
    const clean = scrubError(err, secretsOfUrl('smtp://u:hunter22@h'));
    expect(clean.message).toBe('Invalid login: 535 bad password ***');
    expect(clean).toMatchObject({ code: 'EAUTH', responseCode: 535, response: '535 bad password ***' });
    expect(err.message).toContain('hunter22'); // the original is left alone
    expect(scrubSecrets('a hunter22 b hunter22', ['hunter22'])).toBe('a *** b ***');
  });

  test('a problem instance never carries the query string', () => {
    expect(instanceOf('/mail/send?api_key=secret')).toBe('/mail/send');
    expect(instanceOf('/mail/1')).toBe('/mail/1');
  });
});

describe('the stored size of a mail', () => {
  const base = { subject: 'Hello', tos: 'alice@example.com' };
  test('content that fits msg_log.msg (TEXT, 65,535 bytes) is accepted; content that does not is refused by name', () => {
    expect(validateMailRequest({ ...base, content: 'a'.repeat(65_000) }, 50).ok).toBe(true);
    const cjk = validateMailRequest({ ...base, content: '咿'.repeat(22_000) }, 50);
    expect(cjk.ok).toBe(false);
    if (!cjk.ok) expect(cjk.errors[0]).toMatchObject({ field: 'content', message: expect.stringMatching(new RegExp(`at most ${LIMITS.storedMax}`)) });
    // Control characters are escaped in the stored JSON (6 bytes each), and count as such.
    expect(validateMailRequest({ ...base, content: '\u0001'.repeat(11_000) }, 50).ok).toBe(false);
  });
});
