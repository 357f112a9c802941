import {
  failureOutcome,
  refusedAtRcpt,
  relayFailure,
  replyFailure,
  successOutcome,
  type SendOutcome,
  type SendProgress,
  type SmtpErrorLike,
} from '../../src/core/smtp-outcome';

// Errors shaped as nodemailer's SMTPConnection builds them (_formatError): the code is the nodemailer type, a
// system error's own code moves to originalCode, the server's reply is appended to the message and its leading
// digits become responseCode, and command names the step that failed.
type NodemailerError = Error & SmtpErrorLike & { rejected?: string[]; permanent?: boolean };

function smtpError(message: string, code: string, command: string, response?: string, extra: Partial<NodemailerError> = {}): NodemailerError {
  const err = new Error(response ? `${message}: ${response}` : message) as NodemailerError;
  err.code = code;
  err.command = command;
  if (response) {
    err.response = response;
    const n = Number(/^\d+/.exec(response)?.[0]);
    if (n) {
      err.responseCode = n;
      err.permanent = n >= 500;
    }
  }
  return Object.assign(err, extra);
}

/** A refusal at RCPT TO, as nodemailer keeps it per recipient in rejectedErrors. */
const rcptRefusal = (recipient: string, response: string) => smtpError('Recipient command failed', 'EENVELOPE', 'RCPT TO', response, { recipient });

const A = 'a@example.org';
const B = 'b@example.net';
const C = 'c@example.com';

const BEFORE_ENVELOPE: SendProgress = { envelope: null, contentStarted: false };
const contentStarted = (accepted: string[], rejectedErrors: SmtpErrorLike[] = []): SendProgress => ({ envelope: { accepted, rejectedErrors }, contentStarted: true });

function expectDone(outcome: SendOutcome) {
  if (outcome.kind !== 'done') throw new Error(`expected done, got ${JSON.stringify(outcome)}`);
  return outcome;
}
const byRecipient = (outcome: SendOutcome) => Object.fromEntries(expectDone(outcome).recipients.map((r) => [r.recipient, r]));

describe('failureOutcome: the relay is down or refuses the session', () => {
  test('a refused connection (ECONNECTION, originally ECONNREFUSED, at CONN) is the relay down, with the system code in the detail', () => {
    const err = smtpError('connect ECONNREFUSED 127.0.0.1:2525', 'ECONNECTION', 'CONN', undefined, { originalCode: 'ECONNREFUSED' });
    const outcome = failureOutcome(err, [A, B], BEFORE_ENVELOPE);
    expect(outcome).toEqual({
      kind: 'relay-down',
      failure: { kind: 'relay-down', code: undefined, enhanced: undefined, command: 'CONN', detail: 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:2525' },
    });
  });

  test('a 421 greeting (EPROTOCOL at CONN) is the relay down, keeping the code and the enhanced code', () => {
    const greeting = '421 4.3.2 Service not available, closing transmission channel';
    const err = smtpError(`Invalid greeting. response=${greeting}`, 'EPROTOCOL', 'CONN', greeting);
    const outcome = failureOutcome(err, [A], BEFORE_ENVELOPE);
    expect(outcome).toMatchObject({ kind: 'relay-down', failure: { kind: 'relay-down', code: 421, enhanced: '4.3.2', command: 'CONN' } });
  });

  test('a 451 4.7.1 to MAIL FROM (throttling: every mail would get it) is the relay down, not the mail\'s failure', () => {
    const err = smtpError('Mail command failed', 'EENVELOPE', 'MAIL FROM', '451 4.7.1 Rate limit exceeded, try again later');
    expect(failureOutcome(err, [A, B], BEFORE_ENVELOPE)).toMatchObject({ kind: 'relay-down', failure: { code: 451, enhanced: '4.7.1', command: 'MAIL FROM' } });
  });

  test('a sender the relay refuses outright (550 5.7.1 to MAIL FROM) is the operator\'s problem: the relay counts as down', () => {
    const err = smtpError('Mail command failed', 'EENVELOPE', 'MAIL FROM', '550 5.7.1 Sender address rejected: not owned by user');
    expect(failureOutcome(err, [A], BEFORE_ENVELOPE)).toMatchObject({ kind: 'relay-down', failure: { kind: 'relay-down', code: 550, enhanced: '5.7.1' } });
  });

  test('a refused login (EAUTH 535 at AUTH PLAIN) is the relay down: no mail could go through', () => {
    const err = smtpError('Invalid login', 'EAUTH', 'AUTH PLAIN', '535 5.7.8 Error: authentication failed: bad credentials');
    expect(failureOutcome(err, [A], BEFORE_ENVELOPE)).toMatchObject({ kind: 'relay-down', failure: { kind: 'relay-down', code: 535, enhanced: '5.7.8', command: 'AUTH PLAIN' } });
  });

  test('a connection lost before the content went out (ECONNECTION at CONN) is the relay down, even after the envelope was answered', () => {
    const err = smtpError('Connection closed unexpectedly', 'ECONNECTION', 'CONN');
    expect(failureOutcome(err, [A, B], BEFORE_ENVELOPE)).toMatchObject({ kind: 'relay-down', failure: { command: 'CONN', detail: 'ECONNECTION: Connection closed unexpectedly' } });
    const envelopeAnswered: SendProgress = { envelope: { accepted: [A, B], rejectedErrors: [] }, contentStarted: false };
    expect(failureOutcome(err, [A, B], envelopeAnswered).kind).toBe('relay-down');
  });

  test('a connect timeout (ETIMEDOUT at CONN, no reply) is the relay down', () => {
    const err = smtpError('Connection timeout', 'ETIMEDOUT', 'CONN');
    expect(failureOutcome(err, [A], BEFORE_ENVELOPE)).toMatchObject({ kind: 'relay-down', failure: { detail: 'ETIMEDOUT: Connection timeout' } });
  });

  test('a session that could not be reset on a kept connection (EPROTOCOL at RSET) is the relay\'s', () => {
    const err = smtpError('Could not reset session state. response=421 4.4.2 idle timeout', 'EPROTOCOL', 'RSET', '421 4.4.2 idle timeout');
    expect(failureOutcome(err, [A], BEFORE_ENVELOPE).kind).toBe('relay-down');
  });
});

describe('failureOutcome: the mail or its recipients are refused', () => {
  test('a 552 5.3.4 to MAIL FROM (the mail is too big) bounces every recipient of the send with that reply', () => {
    const err = smtpError('Mail command failed', 'EENVELOPE', 'MAIL FROM', '552 5.3.4 Message size exceeds fixed maximum message size');
    const outcome = expectDone(failureOutcome(err, [A, B], BEFORE_ENVELOPE));
    expect(outcome.recipients).toEqual([
      { recipient: A, state: 'bounced', failure: expect.objectContaining({ kind: 'smtp-permanent', code: 552, enhanced: '5.3.4', command: 'MAIL FROM' }) },
      { recipient: B, state: 'bounced', failure: expect.objectContaining({ kind: 'smtp-permanent', code: 552, enhanced: '5.3.4', command: 'MAIL FROM' }) },
    ]);
    expect(outcome.response).toBe('552 5.3.4 Message size exceeds fixed maximum message size');
  });

  test('every recipient refused at RCPT TO: each keeps its own reply, 450 deferred and 550 bounced', () => {
    const greylisted = rcptRefusal(A, '450 4.2.0 <a@example.org>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.org.html');
    const unknown = rcptRefusal(B, '550 5.1.1 <b@example.net>: Recipient address rejected: User unknown in virtual mailbox table');
    // nodemailer reports the first deferral as the whole send's reply
    const err = smtpError("Can't send mail - all recipients were rejected", 'EENVELOPE', 'RCPT TO', greylisted.response, { rejected: [A, B], rejectedErrors: [greylisted, unknown] });
    const r = byRecipient(failureOutcome(err, [A, B], BEFORE_ENVELOPE));
    expect(Object.keys(r)).toEqual([A, B]);
    expect(r[A]).toMatchObject({ state: 'deferred', failure: { kind: 'smtp-transient', code: 450, enhanced: '4.2.0', recipient: A, command: 'RCPT TO' } });
    expect(r[B]).toMatchObject({ state: 'bounced', failure: { kind: 'smtp-permanent', code: 550, enhanced: '5.1.1', recipient: B, command: 'RCPT TO' } });
  });

  test('DATA refused (554 5.5.1 no valid recipients) gives every recipient of the send that reply', () => {
    const err = smtpError('Data command failed', 'EENVELOPE', 'DATA', '554 5.5.1 Error: no valid recipients');
    const outcome = expectDone(failureOutcome(err, [A], BEFORE_ENVELOPE));
    expect(outcome.recipients).toEqual([{ recipient: A, state: 'bounced', failure: expect.objectContaining({ code: 554, enhanced: '5.5.1', command: 'DATA' }) }]);
  });

  test('an envelope nodemailer refuses itself (EENVELOPE at API) bounces every recipient: it can never be sent as it is', () => {
    const err = smtpError('Invalid recipient "not an address"', 'EENVELOPE', 'API');
    const r = byRecipient(failureOutcome(err, [A, B], BEFORE_ENVELOPE));
    expect(r[A]).toMatchObject({ state: 'bounced', failure: { kind: 'smtp-permanent', command: 'API', detail: 'Invalid recipient "not an address"' } });
    expect(r[B]!.state).toBe('bounced');
  });

  test('a mail over the size the relay announced (EMESSAGE at MAIL FROM, no reply) bounces every recipient', () => {
    const err = smtpError('Message size larger than allowed 10240000', 'EMESSAGE', 'MAIL FROM');
    const outcome = expectDone(failureOutcome(err, [A], BEFORE_ENVELOPE));
    expect(outcome.recipients).toEqual([{ recipient: A, state: 'bounced', failure: expect.objectContaining({ kind: 'smtp-permanent', command: 'MAIL FROM' }) }]);
  });
});

describe('failureOutcome: after the content started to go out', () => {
  test('a 451 to the content (EMESSAGE) defers every recipient the envelope accepted, while those refused at RCPT TO keep their own reply', () => {
    const err = smtpError('Message failed', 'EMESSAGE', 'DATA', '451 4.3.0 Error: queue file write error');
    const progress = contentStarted([A, C], [rcptRefusal(B, '550 5.1.1 User unknown')]);
    const outcome = expectDone(failureOutcome(err, [A, B, C], progress));
    const r = byRecipient(outcome);
    expect(Object.keys(r).sort()).toEqual([A, B, C].sort());
    expect(r[A]).toMatchObject({ state: 'deferred', failure: { kind: 'smtp-transient', code: 451, enhanced: '4.3.0', command: 'DATA' } });
    expect(r[C]).toMatchObject({ state: 'deferred', failure: { code: 451 } });
    expect(r[B]).toMatchObject({ state: 'bounced', failure: { kind: 'smtp-permanent', code: 550, enhanced: '5.1.1', recipient: B, command: 'RCPT TO' } });
    expect(outcome.response).toBe('451 4.3.0 Error: queue file write error');
  });

  test('a 554 to the content bounces every recipient the envelope accepted', () => {
    const err = smtpError('Message failed', 'EMESSAGE', 'DATA', '554 5.7.1 Message rejected as spam');
    const r = byRecipient(failureOutcome(err, [A, B], contentStarted([A, B])));
    expect(r[A]).toMatchObject({ state: 'bounced', failure: { code: 554, enhanced: '5.7.1' } });
    expect(r[B]).toMatchObject({ state: 'bounced', failure: { code: 554, enhanced: '5.7.1' } });
  });

  test('a connection the server closed with a 421 reply to the content is an answer: every accepted recipient is deferred', () => {
    const err = smtpError('Connection closed unexpectedly', 'ECONNECTION', 'CONN', '421 4.4.2 mx.example.org Error: timeout exceeded');
    const r = byRecipient(failureOutcome(err, [A], contentStarted([A])));
    expect(r[A]).toMatchObject({ state: 'deferred', failure: { kind: 'smtp-transient', code: 421, enhanced: '4.4.2' } });
  });

  test.each([
    ['a socket timeout (ETIMEDOUT)', smtpError('Timeout', 'ETIMEDOUT', 'CONN'), 'ETIMEDOUT: Timeout'],
    ['a lost connection (ECONNECTION)', smtpError('Connection closed unexpectedly', 'ECONNECTION', 'CONN'), 'ECONNECTION: Connection closed unexpectedly'],
    ['a reset connection (ECONNECTION, originally ECONNRESET)', smtpError('read ECONNRESET', 'ECONNECTION', 'CONN', undefined, { originalCode: 'ECONNRESET' }), 'ECONNECTION: read ECONNRESET'],
  ])('%s with no reply leaves the outcome unknown', (_name, err, detail) => {
    expect(failureOutcome(err, [A, B], contentStarted([A, B]))).toEqual({ kind: 'unknown', failure: { kind: 'smtp-unknown', command: 'DATA', detail } });
  });

  test('the same lost connection before the content went out is the relay down, not unknown', () => {
    const err = smtpError('Connection closed unexpectedly', 'ECONNECTION', 'CONN');
    expect(failureOutcome(err, [A], { envelope: { accepted: [A], rejectedErrors: [] }, contentStarted: false }).kind).toBe('relay-down');
    expect(failureOutcome(err, [A], { envelope: { accepted: [A], rejectedErrors: [] }, contentStarted: true }).kind).toBe('unknown');
  });
});

describe('successOutcome', () => {
  test('the accepted recipients are accepted and one refused at RCPT TO is bounced with its code', () => {
    const info = { accepted: [A], rejected: [B], rejectedErrors: [rcptRefusal(B, '550 5.1.1 <b@example.net>: Recipient address rejected: User unknown')], response: '250 2.0.0 Ok: queued as 4ZxYz1Kp' };
    const outcome = expectDone(successOutcome(info));
    expect(outcome.recipients).toEqual([
      { recipient: A, state: 'accepted' },
      { recipient: B, state: 'bounced', failure: expect.objectContaining({ kind: 'smtp-permanent', code: 550, enhanced: '5.1.1', recipient: B, command: 'RCPT TO' }) },
    ]);
    expect(outcome.response).toBe('250 2.0.0 Ok: queued as 4ZxYz1Kp');
  });

  test('a recipient deferred at RCPT TO while another was accepted is deferred, not lost', () => {
    const r = byRecipient(successOutcome({ accepted: [A], rejectedErrors: [rcptRefusal(B, '452 4.5.3 Error: too many recipients')], response: '250 Ok' }));
    expect(r[A]!.state).toBe('accepted');
    expect(r[B]).toMatchObject({ state: 'deferred', failure: { kind: 'smtp-transient', code: 452, enhanced: '4.5.3' } });
  });

  test('a send with everyone accepted and nothing refused lists only the accepted', () => {
    expect(successOutcome({ accepted: [A, B], response: '250 Ok' })).toEqual({
      kind: 'done',
      recipients: [
        { recipient: A, state: 'accepted' },
        { recipient: B, state: 'accepted' },
      ],
      response: '250 Ok',
    });
  });

  test('missing fields give no recipients and an empty response rather than a throw', () => {
    expect(successOutcome({})).toEqual({ kind: 'done', recipients: [], response: '' });
  });
});

describe('replyFailure, refusedAtRcpt and relayFailure', () => {
  test('4xx is transient and 5xx permanent, with the enhanced code read after the reply code', () => {
    expect(replyFailure(rcptRefusal(A, '450 4.2.0 Greylisted'), A)).toEqual({ kind: 'smtp-transient', code: 450, enhanced: '4.2.0', recipient: A, command: 'RCPT TO', detail: '450 4.2.0 Greylisted' });
    expect(replyFailure(rcptRefusal(A, '550 5.1.1 User unknown'))).toMatchObject({ kind: 'smtp-permanent', code: 550, enhanced: '5.1.1', recipient: undefined });
  });

  test('a reply without an enhanced code has none, and one with no reply at all uses the message as the detail', () => {
    expect(replyFailure(smtpError('Message failed', 'EMESSAGE', 'DATA', '451 Try again later'))).toMatchObject({ code: 451, enhanced: undefined, detail: '451 Try again later' });
    expect(replyFailure({ message: 'something', command: 'DATA' })).toMatchObject({ kind: 'smtp-transient', code: undefined, detail: 'something' });
  });

  test('a continuation line\'s code ("550-5.7.1") is read the same way as a final one', () => {
    expect(replyFailure(smtpError('Message failed', 'EMESSAGE', 'DATA', '550-5.7.1 first line of a multi-line refusal')).enhanced).toBe('5.7.1');
  });

  test('refusals without a recipient are left out, and no refusals give none', () => {
    expect(refusedAtRcpt([rcptRefusal(A, '450 later'), smtpError('x', 'EENVELOPE', 'RCPT TO', '550 no')]).map((r) => r.recipient)).toEqual([A]);
    expect(refusedAtRcpt(undefined)).toEqual([]);
  });

  test('a relay failure\'s detail is cut to 200 characters', () => {
    const f = relayFailure(smtpError('Invalid greeting', 'EPROTOCOL', 'CONN', `421 ${'x'.repeat(500)}`));
    expect(f.detail!.length).toBe(200);
    expect(f.detail).toMatch(/^EPROTOCOL: 421 x/);
  });
});
