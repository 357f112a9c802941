import { Writable } from 'node:stream';
import { createLogger, redactSecrets } from '../../src/logger';

/** The JSON lines a logger writes. */
function capture(): { lines: () => Record<string, unknown>[]; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({ write: (c, _e, cb) => (chunks.push(String(c)), cb()) });
  return { stream, lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l)) };
}

describe('secrets in log lines', () => {
  test('a secret field at the top or one level down is censored, and a URL keeps everything but its password', () => {
    const out = redactSecrets({ password: 'hunter22', apiKey: 'k', key: 'top', AMQP_URL: 'amqp://guest:hunter22@h:5672', config: { DATABASE_URL: 'mysql://root:hunter22@db/x', token: 't', queue: 'q' } });
    expect(out).toEqual({ password: '[redacted]', apiKey: '[redacted]', key: '[redacted]', AMQP_URL: 'amqp://guest:***@h:5672', config: { DATABASE_URL: 'mysql://root:***@db/x', token: '[redacted]', queue: 'q' } });
  });

  test('secret headers are censored in a headers field at the top, in req and one level down, whatever their case', () => {
    const out = redactSecrets({ headers: { Authorization: 'Bearer a', accept: '*/*' }, req: { headers: { 'x-api-key': 'b', cookie: 'c', host: 'h' } } });
    expect(out).toEqual({ headers: { Authorization: '[redacted]', accept: '*/*' }, req: { headers: { 'x-api-key': '[redacted]', cookie: '[redacted]', host: 'h' } } });
  });

  test('a line without a secret is returned as it is, and a line with one is copied, never changed', () => {
    const plain = { msgId: '1', tos: 2, nested: { routingKey: 'k', key: 'a nested key is no secret' } };
    expect(redactSecrets(plain)).toBe(plain);
    const secret = { msgId: '1', nested: { secret: 's' } };
    const out = redactSecrets(secret);
    expect(out).not.toBe(secret);
    expect(secret.nested.secret).toBe('s');
    expect(out.nested).toEqual({ secret: '[redacted]' });
  });

  test('the logger applies it to every line and to a child logger bindings', () => {
    const { stream, lines } = capture();
    const log = createLogger({ level: 'info', pretty: false, destination: stream });
    log.child({ token: 'hunter22' }).info({ msgId: '7', smtp: { pass: 'hunter22' } }, 'sent');
    const [line] = lines();
    expect(JSON.stringify(line)).not.toContain('hunter22');
    expect(line).toMatchObject({ msgId: '7', token: '[redacted]', smtp: { pass: '[redacted]' }, msg: 'sent' });
  });
});
