import { messageIdFor, smtpTransportOptions, type SmtpOptions } from '../../src/mail/mailer';

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

describe('smtpTransportOptions', () => {
  test('smtps:// is implicit TLS on port 465 by default', () => {
    const o = smtpTransportOptions({ ...base, url: 'smtps://smtp.example.com' });
    expect(o.secure).toBe(true);
    expect(o.port).toBe(465);
    expect(o.host).toBe('smtp.example.com');
  });

  test('smtp:// is not implicit TLS and uses the submission port 587 by default', () => {
    const o = smtpTransportOptions({ ...base, url: 'smtp://smtp.example.com' });
    expect(o.secure).toBe(false);
    expect(o.port).toBe(587);
  });

  test('an explicit port wins over the default', () => {
    expect(smtpTransportOptions({ ...base, url: 'smtps://smtp.example.com:2465' }).port).toBe(2465);
    expect(smtpTransportOptions(base).port).toBe(1025);
  });

  test('user and password are percent-decoded', () => {
    const o = smtpTransportOptions({ ...base, url: 'smtps://user%40example.com:p%40ss%3Aw%2Fo%20rd@smtp.example.com' });
    expect(o.auth).toEqual({ user: 'user@example.com', pass: 'p@ss:w/o rd' });
  });

  test('no user in the URL means no auth', () => {
    expect(smtpTransportOptions(base).auth).toBeUndefined();
  });

  test('the pool never re-queues a message: a lost connection surfaces as an error', () => {
    const o = smtpTransportOptions(base);
    expect(o.pool).toBe(true);
    expect(o.maxRequeues).toBe(0);
    expect(o.maxConnections).toBe(4);
  });

  test('the transport can neither read files nor fetch URLs', () => {
    const o = smtpTransportOptions(base);
    expect(o.disableFileAccess).toBe(true);
    expect(o.disableUrlAccess).toBe(true);
  });

  test('the timeout applies to connecting, greeting and the socket', () => {
    const o = smtpTransportOptions(base);
    expect([o.connectionTimeout, o.greetingTimeout, o.socketTimeout]).toEqual([15_000, 15_000, 15_000]);
  });

  test('ignoreTLS is off unless the URL asks for it with ?ignoreTLS=true', () => {
    expect(smtpTransportOptions(base).ignoreTLS).toBe(false);
    expect(smtpTransportOptions({ ...base, url: 'smtp://127.0.0.1:1025?ignoreTLS=true' }).ignoreTLS).toBe(true);
    expect(smtpTransportOptions({ ...base, url: 'smtp://127.0.0.1:1025?ignoreTLS=1' }).ignoreTLS).toBe(false);
  });

  test('certificates are verified unless the URL says ?rejectUnauthorized=false', () => {
    expect(smtpTransportOptions(base).tls.rejectUnauthorized).toBe(true);
    expect(smtpTransportOptions({ ...base, url: 'smtps://smtp.example.com?rejectUnauthorized=false' }).tls.rejectUnauthorized).toBe(false);
  });

  test('query parameters do not leak into host or auth', () => {
    const o = smtpTransportOptions({ ...base, url: 'smtp://u:p@mail.local:25?ignoreTLS=true&rejectUnauthorized=false' });
    expect(o.host).toBe('mail.local');
    expect(o.port).toBe(25);
    expect(o.auth).toEqual({ user: 'u', pass: 'p' });
  });
});
