import { DEV_FAULTS, PoisonMessageError, allRecipients, decodeMailMessage, encodeMailMessage, type MailMessage } from '../../src/core/mail-message';

const message: MailMessage = { msgId: '382443738141691904', subject: 'Hello', content: 'Line 1\r\nLine 2 – ünïcödé', tos: ['a@example.com', 'b@example.org'] };

function poisonReason(body: string | Buffer): string {
  try {
    decodeMailMessage(body);
  } catch (err) {
    expect(err).toBeInstanceOf(PoisonMessageError);
    return (err as Error).message;
  }
  throw new Error('expected a PoisonMessageError, but the body decoded');
}

describe('encodeMailMessage / decodeMailMessage', () => {
  test('a message survives the round trip from a string', () => {
    expect(decodeMailMessage(encodeMailMessage(message))).toEqual(message);
  });

  test('a message survives the round trip from a Buffer, as amqplib delivers it', () => {
    expect(decodeMailMessage(Buffer.from(encodeMailMessage(message), 'utf8'))).toEqual(message);
  });

  test.each(DEV_FAULTS)('the dev fault %s survives the round trip', (devFault) => {
    const withFault: MailMessage = { ...message, devFault };
    expect(decodeMailMessage(encodeMailMessage(withFault))).toEqual(withFault);
  });

  test('the encoding is plain JSON', () => {
    expect(JSON.parse(encodeMailMessage(message))).toEqual(message);
  });

  test('unknown extra keys are dropped when decoding', () => {
    const decoded = decodeMailMessage(JSON.stringify({ ...message, headers: { Bcc: 'spy@x.com' } }));
    expect(decoded).toEqual(message);
    expect(decoded).not.toHaveProperty('headers');
  });

  test('the optional parts of a richer mail survive the round trip, and allRecipients lists each address once', () => {
    const rich = { ...message, html: '<p>x</p>', cc: ['C@x.com'], bcc: ['c@x.com', 'd@x.com'], replyTo: ['r@x.com'], tags: ['t'], metadata: { k: 'v' } };
    expect(decodeMailMessage(encodeMailMessage(rich))).toEqual(rich);
    expect(allRecipients({ tos: ['a@x.com'], cc: ['C@x.com'], bcc: ['c@x.com', 'A@X.com'] })).toEqual(['a@x.com', 'C@x.com']);
  });

  test('a msgId of 20 digits, the largest a 64-bit id needs, is accepted', () => {
    expect(decodeMailMessage(JSON.stringify({ ...message, msgId: '18446744073709551615' })).msgId).toBe('18446744073709551615');
  });
});

describe('decodeMailMessage rejects poison', () => {
  test.each([
    ['not JSON at all', 'hello'],
    ['an empty body', ''],
    ['truncated JSON', '{"msgId":"1"'],
  ])('%s, saying the body is not JSON', (_name, body) => {
    expect(poisonReason(body)).toBe('body is not JSON');
  });

  const { msgId: _omitId, ...withoutId } = message;
  const { tos: _omitTos, ...withoutTos } = message;

  test.each<[string, unknown, string]>([
    ['a missing msgId', withoutId, 'msgId'],
    ['a numeric msgId', { ...message, msgId: 382443738141691904 }, 'msgId'],
    ['a non-decimal msgId', { ...message, msgId: 'abc' }, 'msgId'],
    ['an empty msgId', { ...message, msgId: '' }, 'msgId'],
    ['a negative msgId', { ...message, msgId: '-1' }, 'msgId'],
    ['a msgId of 21 digits', { ...message, msgId: '1'.repeat(21) }, 'msgId'],
    ['a numeric subject', { ...message, subject: 1 }, 'subject'],
    ['a missing content', { ...message, content: undefined }, 'content'],
    ['missing tos', withoutTos, 'tos'],
    ['an empty tos array', { ...message, tos: [] }, 'tos'],
    ['tos as a string', { ...message, tos: 'a@example.com' }, 'tos'],
    ['a number inside tos', { ...message, tos: ['a@example.com', 1] }, 'tos'],
    ['an unknown devFault', { ...message, devFault: 'explode' }, 'devFault'],
    ['a null devFault', { ...message, devFault: null }, 'devFault'],
  ])('%s, naming %s', (_name, body, field) => {
    const reason = poisonReason(JSON.stringify(body));
    expect(reason).toMatch(/^not a mail message: /);
    expect(reason).toContain(field);
  });

  test.each([['null'], ['[]'], ['"a string"'], ['42']])('the JSON value %s is not a mail message', (body) => {
    expect(poisonReason(body)).toMatch(/^not a mail message/);
  });

  test('PoisonMessageError is an Error with its own name', () => {
    const err = new PoisonMessageError('x');
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('PoisonMessageError');
  });
});
