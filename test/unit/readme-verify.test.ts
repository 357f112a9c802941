// The few lines the README gives a check-back receiver verify what the product signs, and nothing else.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { formatSecret, secretOfKey, sign } from '../../src/core/signature';

type Verify = (secret: string, headers: Record<string, string>, body: string) => boolean;

function readmeVerifier(): Verify {
  const readme = readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
  const block = /```js\nimport \{ createHmac, timingSafeEqual \} from 'node:crypto';\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('the README no longer shows the receiver\'s verification');
  return new Function('createHmac', 'timingSafeEqual', 'Buffer', `${block}\nreturn verified;`)(createHmac, timingSafeEqual, Buffer) as Verify;
}

describe('the README\'s check-back verification', () => {
  const verified = readmeVerifier();
  const secret = secretOfKey('mdk_readme_test_key_0123456789abcdef');
  const body = '{"type":"mail.check_back","msgId":"42"}';
  const now = Math.floor(Date.now() / 1000);

  test('accepts a question the product signed with the key\'s secret', () => {
    expect(verified(formatSecret(secret), { ...sign(secret, '42-1', now, body) }, body)).toBe(true);
  });

  test('refuses another body, another secret, an old timestamp and a missing signature', () => {
    const headers = { ...sign(secret, '42-1', now, body) };
    expect(verified(formatSecret(secret), headers, body.replace('42', '43'))).toBe(false);
    expect(verified(formatSecret(secretOfKey('mdk_another_key_0123456789abcdef')), headers, body)).toBe(false);
    expect(verified(formatSecret(secret), { ...sign(secret, '42-1', now - 600, body) }, body)).toBe(false);
    expect(verified(formatSecret(secret), { 'webhook-id': '42-1', 'webhook-timestamp': String(now) }, body)).toBe(false);
  });
});
