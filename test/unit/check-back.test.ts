// Two-phase sending's pure rules: which check-back URLs are allowed, what an answer decides, and how the question is
// signed (Standard Webhooks: a receiver verifies with the secret of the API key that prepared the mail).
import { checkBackBody, checkBackUrlProblem, decisionOf, parseAllowedHosts, undecidedFailure } from '../../src/core/check-back';
import { formatSecret, parseSecret, secretOfKey, secretsByKeyId, sign, verify, TOLERANCE_S } from '../../src/core/signature';
import { hashApiKey, keyIdOf } from '../../src/http/security/api-keys';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { planRedelivery } from '../../src/core/retry';
import { Status } from '../../src/core/status';

describe('check-back URLs', () => {
  const allowed = parseAllowedHosts(' Hooks.Example.com , 127.0.0.1:4000 ');

  test('the allowed hosts are read lower case, and a host is allowed by name (any port) or by name and port', () => {
    expect(allowed).toEqual(['hooks.example.com', '127.0.0.1:4000']);
    expect(checkBackUrlProblem('https://HOOKS.example.com/tx/42', allowed)).toBeNull();
    expect(checkBackUrlProblem('https://hooks.example.com:8443/tx/42', allowed)).toBeNull();
    expect(checkBackUrlProblem('http://127.0.0.1:4000/check', allowed)).toBeNull();
  });

  test('every other host, scheme, credential or a missing list is refused with a reason', () => {
    expect(checkBackUrlProblem('http://127.0.0.1:4001/check', allowed)).toMatch(/127\.0\.0\.1:4001 is not in/);
    expect(checkBackUrlProblem('http://127.0.0.1/check', allowed)).toMatch(/not in/);
    expect(checkBackUrlProblem('http://169.254.169.254/latest/meta-data', allowed)).toMatch(/not in/);
    expect(checkBackUrlProblem('http://hooks.example.com.evil.test/', allowed)).toMatch(/not in/);
    expect(checkBackUrlProblem('ftp://hooks.example.com/', allowed)).toMatch(/http/);
    expect(checkBackUrlProblem('https://u:p@hooks.example.com/', allowed)).toMatch(/credentials/);
    expect(checkBackUrlProblem('/relative', allowed)).toMatch(/absolute/);
    expect(checkBackUrlProblem(`https://hooks.example.com/${'a'.repeat(2100)}`, allowed)).toMatch(/2048/);
    expect(checkBackUrlProblem('https://hooks.example.com/', [])).toMatch(/CHECKBACK_ALLOWED_HOSTS is empty/);
  });
});

describe('check-back answers', () => {
  test('only 200 with {"decision":"commit"} or {"decision":"cancel"} decides', () => {
    expect(decisionOf(200, '{"decision":"commit"}')).toBe('commit');
    expect(decisionOf(200, '{"decision":"cancel","why":"rolled back"}')).toBe('cancel');
    expect(decisionOf(201, '{"decision":"commit"}')).toBeNull();
    expect(decisionOf(302, '')).toBeNull();
    expect(decisionOf(200, '{"decision":"COMMIT"}')).toBeNull();
    expect(decisionOf(200, '<html>commit</html>')).toBeNull();
    expect(decisionOf(200, 'null')).toBeNull();
    expect(decisionOf(500, '{"decision":"cancel"}')).toBeNull();
  });

  test('an undecided answer is recorded as data: the status it got, or why there was none', () => {
    expect(undecidedFailure({ status: 503 })).toEqual({ kind: 'check-back-undecided', code: 503 });
    expect(undecidedFailure({ error: 'ECONNREFUSED' })).toEqual({ kind: 'check-back-unreachable', detail: 'ECONNREFUSED' });
  });

  test('the question holds at least msgId, subject and preparedAt', () => {
    const body = JSON.parse(checkBackBody({ msgId: '42', subject: 'Order 42', tos: ['a@example.com'], preparedAt: new Date('2026-12-01T10:00:00Z'), attempt: 2 }));
    expect(body).toMatchObject({ msgId: '42', subject: 'Order 42', preparedAt: '2026-12-01T10:00:00.000Z', attempt: 2 });
  });
});

describe('signed check-backs', () => {
  const key = 'mdk_unit_test_key_0123456789abcdef';
  const secret = secretOfKey(key);
  const body = '{"msgId":"1"}';
  const now = 1_800_000_000;

  test('a signature verifies with the secret of the key, and with nothing else', () => {
    const headers = sign(secret, 'msg-1', now, body);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(verify(secret, { ...headers }, body, now)).toBe(true);
    expect(verify(secretOfKey('mdk_another_key_0123456789abcdef'), { ...headers }, body, now)).toBe(false);
    expect(verify(secret, { ...headers }, '{"msgId":"2"}', now)).toBe(false);
    expect(verify(secret, { ...headers, 'webhook-id': 'msg-2' }, body, now)).toBe(false);
  });

  test('a timestamp outside the tolerance is refused, so a captured request cannot be replayed later', () => {
    const headers = sign(secret, 'msg-1', now, body);
    expect(verify(secret, { ...headers }, body, now + TOLERANCE_S)).toBe(true);
    expect(verify(secret, { ...headers }, body, now + TOLERANCE_S + 1)).toBe(false);
  });

  test('the server, which keeps only the key\'s hash, derives the same secret as the key\'s holder, shown as whsec_', () => {
    const hash = hashApiKey(key);
    const secretOf = secretsByKeyId([{ id: keyIdOf(hash), hash }]);
    expect(secretOf(keyIdOf(hash))!.equals(secret)).toBe(true);
    expect(secretOf('0000000000000000')).toBeNull();
    expect(secretOf('anonymous')).toBeNull();
    expect(secretsByKeyId([])('anonymous')!.equals(secretOfKey('anonymous'))).toBe(true);
    expect(parseSecret(formatSecret(secret)).equals(secret)).toBe(true);
    expect(formatSecret(secret)).toMatch(/^whsec_/);
  });
});

describe('npm run apikey', () => {
  test('prints, with a new key, the secret the server derives for it from the hash it keeps', () => {
    const out = execFileSync(process.execPath, [path.resolve(__dirname, '../../scripts/apikey.mjs')], { encoding: 'utf8' });
    const key = /^\s+(mdk_\S+)$/m.exec(out)![1]!;
    const printed = /^\s+(whsec_\S+)$/m.exec(out)![1]!;
    expect(parseSecret(printed).equals(secretOfKey(key))).toBe(true);
  });
});

describe('outbox rows in the re-delivery job', () => {
  test('a row the outbox wrote and nobody published is published without counting a try; a lost confirm still counts one', () => {
    const row = { status: Status.sending, tryCount: 0, leaseExpired: false };
    expect(planRedelivery({ ...row, unpublished: true }, 8)).toEqual({ action: 'republish', tryCount: 0, reason: null, uncertain: false });
    expect(planRedelivery(row, 8)).toMatchObject({ action: 'republish', tryCount: 1 });
  });
});
