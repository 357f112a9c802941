import { MailSendError, PermanentMailError, TransientMailError, classifySmtpError } from '../../src/core/smtp-errors';

// Shapes as nodemailer throws them: an Error with code, responseCode and response.
function nodemailerError(props: { message?: string; code?: string; responseCode?: number; response?: string }): Error {
  return Object.assign(new Error(props.message ?? 'smtp failure'), props);
}

describe('classifySmtpError', () => {
  test.each<[string, unknown, 'permanent' | 'transient']>([
    ['550 mailbox unavailable', nodemailerError({ code: 'EENVELOPE', responseCode: 550, response: '550 5.1.1 user unknown' }), 'permanent'],
    ['554 transaction failed', nodemailerError({ code: 'EMESSAGE', responseCode: 554, response: '554 rejected' }), 'permanent'],
    ['552 message too big', nodemailerError({ responseCode: 552 }), 'permanent'],
    ['500 syntax error', nodemailerError({ responseCode: 500 }), 'permanent'],
    ['421 service not available', nodemailerError({ code: 'EMESSAGE', responseCode: 421, response: '421 try later' }), 'transient'],
    ['450 mailbox busy', nodemailerError({ responseCode: 450 }), 'transient'],
    ['451 local error', nodemailerError({ code: 'EENVELOPE', responseCode: 451 }), 'transient'],
    ['EAUTH with 535 (a bad password is the operator’s to fix)', nodemailerError({ code: 'EAUTH', responseCode: 535, response: '535 auth failed' }), 'transient'],
    ['EAUTH without a response code', nodemailerError({ code: 'EAUTH' }), 'transient'],
    ['EENVELOPE without a response code (rejected before talking to the server)', nodemailerError({ code: 'EENVELOPE', message: 'No recipients defined' }), 'permanent'],
    ['ETIMEDOUT', nodemailerError({ code: 'ETIMEDOUT', message: 'Timeout' }), 'transient'],
    ['ECONNECTION', nodemailerError({ code: 'ECONNECTION', message: 'connect ECONNREFUSED' }), 'transient'],
    ['ESOCKET', nodemailerError({ code: 'ESOCKET', message: 'socket hang up' }), 'transient'],
    ['a plain Error with no code', new Error('something odd'), 'transient'],
    ['a plain object with a 5xx code', { responseCode: 553 }, 'permanent'],
    ['a string', 'boom', 'transient'],
    ['a number', 42, 'transient'],
    ['null', null, 'transient'],
    ['undefined', undefined, 'transient'],
    ['a responseCode that is not a number', { responseCode: '550' }, 'transient'],
  ])('%s is %s', (_name, err, kind) => {
    const classified = classifySmtpError(err);
    expect(classified).toBeInstanceOf(MailSendError);
    expect(classified).toBeInstanceOf(Error);
    if (kind === 'permanent') {
      expect(classified).toBeInstanceOf(PermanentMailError);
      expect(classified).not.toBeInstanceOf(TransientMailError);
      expect(classified.permanent).toBe(true);
    } else {
      expect(classified).toBeInstanceOf(TransientMailError);
      expect(classified).not.toBeInstanceOf(PermanentMailError);
      expect(classified.permanent).toBe(false);
    }
  });

  test('an already classified error passes through as the same object', () => {
    const permanent = new PermanentMailError('no such user', 550);
    const transient = new TransientMailError('try later', 421);
    expect(classifySmtpError(permanent)).toBe(permanent);
    expect(classifySmtpError(transient)).toBe(transient);
  });

  test('the response code and the error code are kept on the classified error', () => {
    const classified = classifySmtpError(nodemailerError({ code: 'EENVELOPE', responseCode: 550 }));
    expect(classified.responseCode).toBe(550);
    expect(classified.code).toBe('EENVELOPE');
  });

  test('the server response is preferred over the error message', () => {
    const classified = classifySmtpError(nodemailerError({ message: 'generic', responseCode: 550, response: '550 5.1.1 <x@y.com> unknown' }));
    expect(classified.message).toContain('550 5.1.1 <x@y.com> unknown');
    expect(classified.message).not.toContain('generic');
  });

  test('a non-Error value ends up in the message', () => {
    expect(classifySmtpError('connection dropped').message).toContain('connection dropped');
  });

  test('an authentication failure says so in its message', () => {
    expect(classifySmtpError(nodemailerError({ code: 'EAUTH', responseCode: 535, response: '535 bad creds' })).message).toMatch(/authentication failed/);
  });

  test('a huge server response is cut so the message stays bounded', () => {
    const classified = classifySmtpError(nodemailerError({ responseCode: 421, response: 'x'.repeat(10_000) }));
    expect(classified.message.length).toBeLessThan(600);
  });

  test('the typed errors carry their class names', () => {
    expect(new PermanentMailError('x').name).toBe('PermanentMailError');
    expect(new TransientMailError('x').name).toBe('TransientMailError');
    expect(new MailSendError('x', true).name).toBe('MailSendError');
  });
});

describe('uncertain SMTP outcomes', () => {
  test('a connection lost without a reply is transient and uncertain: the server may have taken the mail', () => {
    for (const code of ['ECONNECTION', 'ESOCKET', 'ETIMEDOUT']) {
      const e = classifySmtpError({ code, message: 'Connection closed unexpectedly' });
      expect({ code, permanent: e.permanent, uncertain: e.uncertain }).toEqual({ code, permanent: false, uncertain: true });
    }
  });

  test('a connection that never opened is transient but certain: nothing can have been sent', () => {
    expect(classifySmtpError({ code: 'ESOCKET', originalCode: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }).uncertain).toBe(false);
  });

  test('an SMTP reply is never uncertain', () => {
    expect(classifySmtpError({ code: 'EENVELOPE', responseCode: 451, message: 'try later' }).uncertain).toBe(false);
    expect(classifySmtpError({ code: 'EMESSAGE', responseCode: 554, message: 'rejected' }).uncertain).toBe(false);
  });
});
