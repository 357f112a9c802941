import { messageIdFor, smtpConnectionOptions, type SmtpOptions } from '../../src/mail/mailer';

const base: SmtpOptions = { url: 'smtp://127.0.0.1:1025', from: 'noreply@example.com', poolSize: 4, timeoutMs: 15_000 };

describe('messageIdFor', () => {
  test.each([
    ['Mail Dispatch <noreply@example.com>', '<123@example.com>'],
    ['noreply@example.com', '<123@example.com>'],
    ['"Ops, Team" <ops@mail.example.org>', '<123@mail.example.org>'],
    ['Mail Dispatch <noreply@example.com>  ', '<123@example.com>'],
    ['noreply@sub.example.co.uk', '<123@sub.example.co.uk>'],
  ])('uses the domain of MAIL_FROM %p', (from, expected) => {
    expect(messageIdFor('123', from)).toBe(expected);
  });

  test('falls back to a local domain when MAIL_FROM has no address', () => {
    expect(messageIdFor('42', 'Mail Dispatch')).toBe('<42@mail-dispatch.local>');
  });

  test('every copy of one message gets the same Message-ID, and different messages different ones', () => {
    const from = 'Mail Dispatch <noreply@example.com>';
    expect(messageIdFor('1', from)).toBe(messageIdFor('1', from));
    expect(messageIdFor('1', from)).not.toBe(messageIdFor('2', from));
  });
});

describe('smtpConnectionOptions', () => {
  const conn = (url: string) => smtpConnectionOptions({ ...base, url }).connection;

  test('smtps:// is implicit TLS on port 465 by default', () => {
    const o = conn('smtps://smtp.example.com');
    expect(o.secure).toBe(true);
    expect(o.port).toBe(465);
    expect(o.host).toBe('smtp.example.com');
  });

  test('smtp:// is not implicit TLS and uses the submission port 587 by default', () => {
    const o = conn('smtp://smtp.example.com');
    expect(o.secure).toBe(false);
    expect(o.port).toBe(587);
  });

  test('an explicit port wins over the default', () => {
    expect(conn('smtps://smtp.example.com:2465').port).toBe(2465);
    expect(smtpConnectionOptions(base).connection.port).toBe(1025);
  });

  test('user and password are percent-decoded, and kept out of the connection options', () => {
    const o = smtpConnectionOptions({ ...base, url: 'smtps://user%40example.com:p%40ss%3Aw%2Fo%20rd@smtp.example.com' });
    expect(o.auth).toEqual({ user: 'user@example.com', pass: 'p@ss:w/o rd' });
    expect(o.connection).not.toHaveProperty('auth');
    expect(JSON.stringify(o.connection)).not.toContain('p@ss');
  });

  test('no user in the URL means no auth', () => {
    expect(smtpConnectionOptions(base).auth).toBeUndefined();
  });

  test('the settings are only a connection and its login: no pool, no transport fields', () => {
    const o = smtpConnectionOptions(base);
    expect(Object.keys(o).sort()).toEqual(['auth', 'connection']);
    for (const pooled of ['pool', 'maxConnections', 'maxMessages', 'maxRequeues']) expect(o.connection).not.toHaveProperty(pooled);
  });

  test('the timeout applies to connecting, greeting and the socket', () => {
    const o = smtpConnectionOptions(base).connection;
    expect([o.connectionTimeout, o.greetingTimeout, o.socketTimeout]).toEqual([15_000, 15_000, 15_000]);
    const p = smtpConnectionOptions({ ...base, timeoutMs: 2_500 }).connection;
    expect([p.connectionTimeout, p.greetingTimeout, p.socketTimeout]).toEqual([2_500, 2_500, 2_500]);
  });

  test('ignoreTLS is off unless the URL asks for it with ?ignoreTLS=true', () => {
    expect(smtpConnectionOptions(base).connection.ignoreTLS).toBe(false);
    expect(conn('smtp://127.0.0.1:1025?ignoreTLS=true').ignoreTLS).toBe(true);
    expect(conn('smtp://127.0.0.1:1025?ignoreTLS=1').ignoreTLS).toBe(false);
  });

  test('certificates are verified unless the URL says ?rejectUnauthorized=false', () => {
    expect(smtpConnectionOptions(base).connection.tls?.rejectUnauthorized).toBe(true);
    expect(conn('smtps://smtp.example.com?rejectUnauthorized=false').tls?.rejectUnauthorized).toBe(false);
  });

  test('a host with only internal network interfaces (a loopback sink, a private relay) can still resolve the relay', () => {
    expect(smtpConnectionOptions(base).connection.allowInternalNetworkInterfaces).toBe(true);
  });

  test('query parameters do not leak into host or auth', () => {
    const o = smtpConnectionOptions({ ...base, url: 'smtp://u:p@mail.local:25?ignoreTLS=true&rejectUnauthorized=false' });
    expect(o.connection.host).toBe('mail.local');
    expect(o.connection.port).toBe(25);
    expect(o.auth).toEqual({ user: 'u', pass: 'p' });
  });
});
