import {
  decodeFailure,
  encodeFailure,
  enhancedCodeOf,
  failurePhrase,
  FAILURE_KINDS,
  isPermanent,
  isPublishSide,
  type Failure,
  type FailureKind,
} from '../../src/core/failure';

/** msg_log.last_error (and msg_recipient.failure, msg_relay.failure) is VARCHAR(1000). */
const COLUMN = 1000;
const KINDS = Object.keys(FAILURE_KINDS) as FailureKind[];

describe('encodeFailure and decodeFailure', () => {
  test.each(KINDS)('a %s failure with every field survives the round trip unchanged', (kind) => {
    const f: Failure = { kind, code: 451, enhanced: '4.7.1', recipient: 'b@example.org', command: 'RCPT TO', detail: '451 4.7.1 try again later' };
    expect(decodeFailure(encodeFailure(f))).toEqual(f);
  });

  test('a failure with only its kind is stored as just the kind', () => {
    expect(encodeFailure({ kind: 'no-confirm' })).toBe('{"kind":"no-confirm"}');
    expect(decodeFailure('{"kind":"no-confirm"}')).toEqual({ kind: 'no-confirm' });
  });

  test('fields that are undefined or empty are left out of the JSON', () => {
    const stored = encodeFailure({ kind: 'smtp-transient', code: undefined, enhanced: '', recipient: '', command: undefined, detail: '' });
    expect(JSON.parse(stored)).toEqual({ kind: 'smtp-transient' });
  });

  test('a reply code of 0 is still stored (only undefined is left out)', () => {
    expect(JSON.parse(encodeFailure({ kind: 'other', code: 0 }))).toEqual({ kind: 'other', code: 0 });
  });

  test('the detail has its runs of whitespace (a multi-line reply) folded into single spaces and trimmed', () => {
    const f = decodeFailure(encodeFailure({ kind: 'smtp-permanent', detail: '  550-5.7.1 first line\r\n550 5.7.1   second\tline \n' }));
    expect(f?.detail).toBe('550-5.7.1 first line 550 5.7.1 second line');
  });

  test('the detail is cut to 300 characters, the recipient to 254 and the command to 20', () => {
    const f = decodeFailure(encodeFailure({ kind: 'smtp-permanent', recipient: `${'r'.repeat(300)}@x`, command: 'C'.repeat(50), detail: 'd'.repeat(5000) }))!;
    expect(f.detail).toHaveLength(300);
    expect(f.recipient).toHaveLength(254);
    expect(f.command).toHaveLength(20);
  });

  test('the JSON stays under the column size however long the fields are, even when quotes and backslashes double in the escaping', () => {
    const worst: Failure = {
      kind: 'publish-unavailable',
      code: 599,
      enhanced: '5.999.999',
      recipient: `"${'q\\'.repeat(200)}"@${'d'.repeat(200)}.example`,
      command: 'AUTH XOAUTH2 ' + 'x'.repeat(100),
      detail: '"quoted" C:\\path\\to\\thing '.repeat(500),
    };
    const stored = encodeFailure(worst);
    expect(stored.length).toBeLessThan(COLUMN);
    expect(decodeFailure(stored)?.kind).toBe('publish-unavailable');
  });

  test('an ordinary long server reply fits with room to spare and keeps its beginning', () => {
    const reply = `550 5.7.1 Message rejected: ${'policy text '.repeat(200)}`;
    const stored = encodeFailure({ kind: 'smtp-permanent', code: 550, enhanced: '5.7.1', recipient: 'someone@example.org', command: 'DATA', detail: reply });
    expect(stored.length).toBeLessThan(COLUMN);
    expect(decodeFailure(stored)?.detail).toMatch(/^550 5\.7\.1 Message rejected: policy text/);
  });

  test.each([[null], [undefined], ['']])('%p is no failure', (stored) => {
    expect(decodeFailure(stored)).toBeNull();
  });

  test.each([
    ['SMTP 451 4.3.0 mailbox temporarily unavailable'],
    ['publish nack: Message was nacked'],
    ['tries exhausted (3 of 3)'],
  ])('plain text from before failures were data, %p, becomes the detail of an "other" failure, unparsed', (old) => {
    expect(decodeFailure(old)).toEqual({ kind: 'other', detail: old });
  });

  test('a long plain-text row is cut to 300 characters of detail', () => {
    expect(decodeFailure('x'.repeat(900))).toEqual({ kind: 'other', detail: 'x'.repeat(300) });
  });

  test.each([
    ['{"kind":"meteor-strike","code":451}', 'a kind this version does not know'],
    ['{"code":451}', 'no kind'],
    ['{"kind":451}', 'a kind that is not a string'],
    ['{broken json', 'JSON that does not parse'],
  ])('text that starts like JSON but holds %s (%s) is read as plain text', (stored) => {
    expect(decodeFailure(stored)).toEqual({ kind: 'other', detail: stored });
  });
});

describe('enhancedCodeOf', () => {
  test.each([
    ['4.2.0 Greylisted, see http://postgrey.schweikert.ch/help/example.org.html', '4.2.0'],
    ['5.1.1 <b@example.org>: Recipient address rejected: User unknown in virtual mailbox table', '5.1.1'],
    ['2.0.0 Ok: queued as 4ZxYz1', '2.0.0'],
    ['5.3.4 Message size exceeds fixed limit', '5.3.4'],
    ['4.7.1', '4.7.1'],
    ['5.7.26 Unauthenticated email is not accepted', '5.7.26'],
  ])('finds the enhanced code at the start of %p', (reply, code) => {
    expect(enhancedCodeOf(reply)).toBe(code);
  });

  test.each([
    [undefined],
    [''],
    ['Greylisted, please try again later'],
    ['3.1.1 not a class that exists'],
    ['connection to 10.4.2.1 refused'],
    ['4.2.0.1 four parts are not an enhanced code'],
    ['4.2 two parts are not either'],
  ])('finds none in %p', (reply) => {
    expect(enhancedCodeOf(reply)).toBeUndefined();
  });
});

describe('failurePhrase', () => {
  test('an SMTP reply names its code, its enhanced code and the recipient it was about', () => {
    expect(failurePhrase({ kind: 'smtp-transient', code: 450, enhanced: '4.2.0', recipient: 'b@example.org', detail: '450 4.2.0 Greylisted' })).toBe('SMTP answered 450 4.2.0 for b@example.org');
    expect(failurePhrase({ kind: 'smtp-permanent', code: 554, enhanced: '5.7.1', detail: '554 5.7.1 spam' })).toBe('SMTP answered 554 5.7.1');
    expect(failurePhrase({ kind: 'smtp-permanent', code: 552 })).toBe('SMTP answered 552');
  });

  test('an SMTP refusal with no reply code (refused by nodemailer itself) falls back to the kind', () => {
    expect(failurePhrase({ kind: 'smtp-permanent', command: 'API', detail: 'No recipients defined' })).toBe('the SMTP server refused it permanently');
    expect(failurePhrase({ kind: 'smtp-transient' })).toBe('the SMTP server deferred it');
  });

  test('a relay that was down carries its detail; without one, the bare kind', () => {
    expect(failurePhrase({ kind: 'relay-down', detail: 'ECONNECTION: connect ECONNREFUSED 127.0.0.1:2525' })).toBe('the SMTP relay was not reachable (ECONNECTION: connect ECONNREFUSED 127.0.0.1:2525)');
    expect(failurePhrase({ kind: 'relay-down' })).toBe('the SMTP relay was not reachable');
  });

  test('an unnamed failure quotes at most 120 characters of its detail', () => {
    expect(failurePhrase({ kind: 'other', detail: 'something odd' })).toBe('it failed (something odd)');
    expect(failurePhrase({ kind: 'other', detail: 'z'.repeat(500) })).toBe(`it failed (${'z'.repeat(120)})`);
    expect(failurePhrase({ kind: 'other' })).toBe('it failed');
  });

  test('a failed publish quotes at most 80 characters of its detail', () => {
    expect(failurePhrase({ kind: 'publish-error', detail: 'Channel closed' })).toBe('the publish failed (Channel closed)');
    expect(failurePhrase({ kind: 'publish-error', detail: 'y'.repeat(200) })).toBe(`the publish failed (${'y'.repeat(80)})`);
  });

  test('the kinds with nothing to add read as their own description, whatever their detail', () => {
    for (const kind of ['publish-nack', 'publish-returned', 'confirm-timeout', 'no-confirm', 'not-consumed', 'lease-lost', 'tries-exhausted', 'smtp-unknown', 'publish-unavailable'] as const) {
      expect(failurePhrase({ kind, detail: 'ignored detail', code: 450 })).toBe(FAILURE_KINDS[kind]);
    }
  });

  test('every kind has a phrase that is a sentence fragment, not empty', () => {
    for (const kind of KINDS) expect(failurePhrase({ kind }).length).toBeGreaterThan(5);
  });
});

describe('isPublishSide and isPermanent', () => {
  test('the broker-side kinds are the publish side, and no SMTP or job kind is', () => {
    const publish = KINDS.filter((kind) => isPublishSide({ kind }));
    expect(publish.sort()).toEqual(['confirm-timeout', 'no-confirm', 'publish-error', 'publish-nack', 'publish-returned', 'publish-unavailable']);
  });

  test('only an SMTP permanent refusal is permanent: tries run out and relays down are not', () => {
    expect(KINDS.filter((kind) => isPermanent({ kind }))).toEqual(['smtp-permanent']);
  });
});
