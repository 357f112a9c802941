import { describeFailure, describeTimeline, explainMail, safeTimeZone, type MailState, type MsgEventRecord } from '../../src/core/explain';
import { encodeFailure, type Failure } from '../../src/core/failure';
import { Status } from '../../src/core/status';

// 10:02:13 in Shanghai (UTC+8, no daylight saving) is 02:02:13 UTC.
const at = (hms: string) => new Date(`2026-11-21T${hms}.000Z`);
const SH = 'Asia/Shanghai';
const base: MailState = { status: Status.sending, tryCount: 0, maxTries: 3, lastError: null, updateTime: at('02:02:13'), nextTryTime: null, leaseUntil: null };
const explain = (m: Partial<MailState>, now = at('02:02:20'), timeZone: string | null = SH) => explainMail({ ...base, ...m }, { now, timeZone: timeZone ?? undefined });
// last_error as the product writes it now: JSON from encodeFailure.
const E = (f: Failure) => encodeFailure(f);
const T451: Failure = { kind: 'smtp-transient', code: 451, enhanced: '4.3.0', command: 'DATA', detail: '451 4.3.0 mailbox temporarily unavailable' };
const P550: Failure = { kind: 'smtp-permanent', code: 550, enhanced: '5.1.1', recipient: 'b@example.org', command: 'RCPT TO', detail: '550 5.1.1 no such user' };
const NO_CONFIRM = E({ kind: 'no-confirm' });
const LEASE_LOST = E({ kind: 'lease-lost' });
const NOT_CONSUMED = E({ kind: 'not-consumed' });

describe('explainMail: why a mail is not consumed yet, in one sentence', () => {
  test('a transient SMTP failure reads as in the issue: the answer with its enhanced code, when, the next try and which try of how many', () => {
    expect(explain({ status: Status.consume_failed, tryCount: 1, lastError: E(T451), nextTryTime: at('02:02:53') })).toBe(
      'SMTP answered 451 4.3.0 at 10:02:13; next try at 10:02:53, try 2 of 3.',
    );
  });

  test('a deferral of one recipient names the recipient, and a reply without an enhanced code gives only the code', () => {
    const greylisted: Failure = { kind: 'smtp-transient', code: 450, recipient: 'a@example.org', command: 'RCPT TO', detail: '450 greylisted' };
    expect(explain({ status: Status.consume_failed, tryCount: 2, lastError: E(greylisted), nextTryTime: at('02:03:30') })).toBe(
      'SMTP answered 450 for a@example.org at 10:02:13; next try at 10:03:30, try 3 of 3.',
    );
  });

  test('a plain-text last_error from before failures were data is shown as it is, not read for a code', () => {
    expect(explain({ status: Status.consume_failed, tryCount: 1, lastError: 'SMTP 451 4.3.0 mailbox temporarily unavailable', nextTryTime: at('02:02:53') })).toBe(
      'It failed (SMTP 451 4.3.0 mailbox temporarily unavailable) at 10:02:13; next try at 10:02:53, try 2 of 3.',
    );
  });

  test('a relay that refused the session says so, with its code and the command it refused', () => {
    const down: Failure = { kind: 'relay-down', code: 421, command: 'CONN', detail: 'EPROTOCOL: 421 too busy' };
    expect(explain({ status: Status.consume_failed, tryCount: 1, lastError: E(down), nextTryTime: at('02:02:53') })).toBe(
      'The SMTP relay refused the session (421 at CONN) at 10:02:13; next try at 10:02:53, try 2 of 3.',
    );
  });

  test('a publish returned by the broker names the broker, not SMTP', () => {
    expect(explain({ status: Status.delivery_failed, tryCount: 1, lastError: E({ kind: 'publish-returned', detail: 'unroutable: 312 NO_ROUTE' }), nextTryTime: at('02:02:30') })).toBe(
      'The broker returned the publish as unroutable at 10:02:13; next try at 10:02:30, try 2 of 3.',
    );
  });

  test('a fresh mail waits for its confirm and says when the job would publish it again', () => {
    expect(explain({ nextTryTime: at('02:02:43') })).toBe("Waiting for the broker's confirm since 10:02:13 (try 1 of 3); if none comes, it is published again after 10:02:43.");
  });

  test('a re-published mail says what went wrong before', () => {
    expect(explain({ tryCount: 1, lastError: NO_CONFIRM, nextTryTime: at('02:02:43') })).toMatch(/^Published again after no publisher confirm came within the publish grace; waiting for the broker's confirm since 10:02:13 \(try 2 of 3\)/);
  });

  test('a mail published again after nobody consumed it, or after a lease ran out, says which', () => {
    expect(explain({ tryCount: 1, lastError: NOT_CONSUMED, nextTryTime: at('02:02:43') })).toMatch(/^Published again after no listener consumed it before the consumption deadline; waiting/);
    expect(explain({ tryCount: 1, lastError: LEASE_LOST, nextTryTime: at('02:02:43') })).toMatch(/^Published again after a listener took it but recorded no outcome before its lease ran out \(uncertain\); waiting/);
  });

  test('a delivered mail waits for a listener', () => {
    expect(explain({ status: Status.delivered, nextTryTime: at('02:17:13') })).toBe('In the queue since 10:02:13, waiting for a listener (try 1 of 3); if nobody takes it, it is published again after 10:17:13.');
  });

  test('a mail in a listener\'s hands says so, with the lease deadline', () => {
    expect(explain({ status: Status.delivered, leaseUntil: at('02:04:13'), nextTryTime: at('02:04:13') })).toBe(
      'A listener is sending it to the SMTP server since 10:02:13 (try 1 of 3; its lease runs until 10:04:13).',
    );
  });

  test('an expired lease with no outcome is called uncertain work for the job', () => {
    expect(explain({ status: Status.delivered, leaseUntil: at('02:02:15'), nextTryTime: at('02:02:15') }, at('02:02:16'))).toMatch(/recorded no outcome before its lease ran out at 10:02:15; the re-delivery job will count the try/);
  });

  test('a row long overdue points at the job and the broker', () => {
    const s = explain({ status: Status.consume_failed, tryCount: 1, lastError: E(T451), nextTryTime: at('02:02:20') }, at('02:03:00'));
    expect(s).toMatch(/next try at 10:02:20, try 2 of 3\. It has been due since 10:02:20 and the re-delivery job has not taken it: is a job running, and is the broker up\?$/);
  });

  test('a row just due is not called overdue', () => {
    expect(explain({ status: Status.consume_failed, tryCount: 1, lastError: E(T451), nextTryTime: at('02:02:18') }, at('02:02:20'))).not.toMatch(/overdue|has been due/);
  });

  test('a permanent refusal is dead at once and says retrying needs the cause fixed', () => {
    expect(explain({ status: Status.dead, tryCount: 1, lastError: E(P550) })).toBe(
      'Dead: SMTP answered 550 5.1.1 for b@example.org at 10:02:13, a permanent failure, so it was not tried again. A person can retry it once the cause is fixed.',
    );
  });

  test('a permanent refusal is called permanent even when it came at the last try', () => {
    expect(explain({ status: Status.dead, tryCount: 3, lastError: E(P550) })).toMatch(/^Dead: SMTP answered 550 5\.1\.1 for b@example\.org at 10:02:13, a permanent failure/);
  });

  test('exhausted tries say how many and the last failure', () => {
    expect(explain({ status: Status.dead, tryCount: 3, lastError: E(T451) })).toBe('Dead after 3 of 3 tries: SMTP answered 451 4.3.0 at 10:02:13. A person can retry it.');
  });

  test('a mail still deferred at its last try names the deferral and the recipient', () => {
    const last: Failure = { kind: 'smtp-transient', code: 450, enhanced: '4.2.0', recipient: 'a@example.org', command: 'RCPT TO', detail: '450 4.2.0 Greylisted' };
    expect(explain({ status: Status.dead, tryCount: 3, lastError: E(last) })).toBe('Dead after 3 of 3 tries: SMTP answered 450 4.2.0 for a@example.org at 10:02:13. A person can retry it.');
  });

  test('a "tries exhausted" failure reads as such: an SMTP code it carries stays in the data, not in the sentence', () => {
    const exhausted: Failure = { kind: 'tries-exhausted', code: 450, enhanced: '4.2.0', recipient: 'a@example.org', detail: '450 4.2.0 greylisted' };
    expect(explain({ status: Status.dead, tryCount: 3, lastError: E(exhausted) })).toBe('Dead after 3 of 3 tries: its tries ran out at 10:02:13. A person can retry it.');
    expect(describeFailure(E(exhausted))).toMatchObject({ smtpCode: 450, permanent: false, failure: exhausted });
  });

  test('consumed mails say when, and name a recipient that did not get it', () => {
    expect(explain({ status: Status.consumed })).toBe('Consumed: the SMTP server accepted it at 10:02:13.');
    expect(explain({ status: Status.consumed, lastError: E(P550) })).toBe(
      'Consumed: the SMTP server accepted it at 10:02:13. Not every recipient: SMTP answered 550 5.1.1 for b@example.org.',
    );
  });

  test('a consumed row from before failures were data still carries its old note as plain text', () => {
    expect(explain({ status: Status.consumed, lastError: 'accepted for 1, rejected: b@x.com' })).toBe(
      'Consumed: the SMTP server accepted it at 10:02:13. Not every recipient: it failed (accepted for 1, rejected: b@x.com).',
    );
  });

  test('without a time zone the times are UTC and say so', () => {
    expect(explain({ status: Status.consumed }, at('02:02:20'), null)).toBe('Consumed: the SMTP server accepted it at 02:02:13 UTC.');
    expect(explain({ status: Status.consumed }, at('02:02:20'), 'Not/AZone')).toBe('Consumed: the SMTP server accepted it at 02:02:13 UTC.');
  });

  test('a time on another day than now carries its date', () => {
    expect(explain({ status: Status.consumed }, new Date('2026-11-23T00:00:00Z'))).toBe('Consumed: the SMTP server accepted it at 2026-11-21 10:02:13.');
  });

  test('an unknown status code is named rather than thrown', () => {
    expect(explain({ status: 9 })).toBe('Status 9 is not one this version knows.');
  });
});

describe('describeFailure', () => {
  test.each<[string, string, string, boolean, Failure]>([
    ['a transient SMTP reply', 'smtp', 'SMTP answered 451 4.3.0', false, T451],
    ['a permanent SMTP reply for one recipient', 'smtp', 'SMTP answered 550 5.1.1 for b@example.org', true, P550],
    ['a permanent SMTP reply without an enhanced code', 'smtp', 'SMTP answered 554', true, { kind: 'smtp-permanent', code: 554, detail: '554 rejected' }],
    ['a send whose reply never came', 'smtp', 'the connection failed after the message went out, with no reply (uncertain)', false, { kind: 'smtp-unknown', command: 'DATA', detail: 'ETIMEDOUT: Timeout' }],
    ['a relay that was down', 'smtp', 'the SMTP relay was not reachable (ECONNECTION: connect ECONNREFUSED 127.0.0.1:25)', false, { kind: 'relay-down', detail: 'ECONNECTION: connect ECONNREFUSED 127.0.0.1:25' }],
    ['an envelope nodemailer refused before sending', 'smtp', 'the SMTP server refused it permanently', true, { kind: 'smtp-permanent', command: 'API', detail: 'No recipients defined' }],
    ['a nacked publish', 'broker', 'the broker refused the publish (nack)', false, { kind: 'publish-nack' }],
    ['a publish with no confirm in time', 'broker', 'no publisher confirm came in time', false, { kind: 'confirm-timeout', detail: 'no confirm within 2000 ms' }],
    ['a broker that was not reachable', 'broker', 'the broker was not reachable', false, { kind: 'publish-unavailable', detail: 'broker not connected' }],
    ['a publish that failed', 'broker', 'the publish failed (channel closed)', false, { kind: 'publish-error', detail: 'channel closed' }],
    ['a missing confirm found by the job', 'job', 'no publisher confirm came within the publish grace', false, { kind: 'no-confirm' }],
    ['a lease that ran out', 'job', 'a listener took it but recorded no outcome before its lease ran out (uncertain)', false, { kind: 'lease-lost' }],
    ['a mail nobody consumed', 'job', 'no listener consumed it before the consumption deadline', false, { kind: 'not-consumed' }],
    ['tries that ran out', 'job', 'its tries ran out', false, { kind: 'tries-exhausted', code: 450, enhanced: '4.2.0' }],
    ['an unnamed failure', 'other', 'it failed (something odd)', false, { kind: 'other', detail: 'something odd' }],
  ])('%s is on the %s side and reads "%s"', (_name, side, phrase, permanent, failure) => {
    expect(describeFailure(E(failure))).toMatchObject({ side, phrase, permanent });
  });

  test('the SMTP code and the whole failure come back as data', () => {
    expect(describeFailure(E(P550))).toEqual({ side: 'smtp', phrase: 'SMTP answered 550 5.1.1 for b@example.org', smtpCode: 550, permanent: true, failure: P550 });
    expect(describeFailure(NO_CONFIRM)?.smtpCode).toBeUndefined();
  });

  test.each([
    ['SMTP 550 5.1.1 no such user'],
    ['451 4.3.0 injected transient failure (DEV_FAULTS)'],
    ['publish nack: Message was nacked'],
    ['lease expired'],
  ])('an old plain-text row %p is an unnamed failure, its text kept as the detail and never parsed', (old) => {
    expect(describeFailure(old)).toEqual({ side: 'other', phrase: `it failed (${old})`, smtpCode: undefined, permanent: false, failure: { kind: 'other', detail: old } });
  });

  test('JSON that is not a failure of a known kind is read as plain text too', () => {
    expect(describeFailure('{"kind":"meteor-strike"}')).toMatchObject({ side: 'other', failure: { kind: 'other', detail: '{"kind":"meteor-strike"}' } });
    expect(describeFailure('{not json')).toMatchObject({ side: 'other', failure: { kind: 'other', detail: '{not json' } });
  });

  test('no error is no failure', () => {
    expect(describeFailure(null)).toBeNull();
    expect(describeFailure('')).toBeNull();
  });

  test('a 3-digit number inside a message is not taken for an SMTP code', () => {
    expect(describeFailure('connection to 10.0.0.451 refused')).toMatchObject({ side: 'other', smtpCode: undefined });
  });
});

describe('describeTimeline', () => {
  let id = 0;
  const ev = (secs: number, fromStatus: number | null, toStatus: number, extra: Partial<MsgEventRecord> = {}): MsgEventRecord => ({
    id: ++id,
    at: new Date(Date.UTC(2026, 10, 21, 2, 2, 0) + secs * 1000),
    fromStatus,
    toStatus,
    tryCount: 0,
    lease: 0,
    error: null,
    nextTryTime: null,
    msInPreviousState: null,
    ...extra,
  });

  test('a normal life: accepted, confirmed with its confirm latency, claimed, consumed with its SMTP latency', () => {
    const steps = describeTimeline(
      [ev(0, null, 0), ev(0.012, 0, 1, { msInPreviousState: 12 }), ev(0.05, 1, 1, { lease: 1, msInPreviousState: 38 }), ev(0.3, 1, 3, { lease: -1, msInPreviousState: 250 })],
      3,
    );
    expect(steps.map((s) => s.kind)).toEqual(['accepted', 'confirmed', 'claimed', 'consumed']);
    expect(steps[1]).toMatchObject({ from: 'sending', to: 'delivered', confirmMs: 12, smtpMs: null, attempt: 1 });
    expect(steps[3]).toMatchObject({ to: 'consumed', smtpMs: 250, confirmMs: null, attempt: 1 });
    expect(steps[0]!.at).toBe('2026-11-21T02:02:00.000Z');
  });

  test('a listener that claims a copy before the confirm is recorded: both latencies are still measured from their start', () => {
    const steps = describeTimeline([ev(0, null, 0), ev(0.004, 0, 0, { lease: 1 }), ev(0.009, 0, 1, { msInPreviousState: 5 }), ev(0.104, 0, 3, { lease: -1 })], 3);
    expect(steps.map((s) => s.kind)).toEqual(['accepted', 'claimed', 'confirmed', 'consumed']);
    expect(steps[2]!.confirmMs).toBe(9);
    expect(steps[3]!.smtpMs).toBe(100);
  });

  test('failures count attempts, the job re-publishes, the last failure is dead, and a person retries', () => {
    const steps = describeTimeline(
      [
        ev(0, null, 0),
        ev(0.01, 0, 1),
        ev(0.02, 1, 1, { lease: 1 }),
        ev(0.1, 1, 4, { lease: -1, tryCount: 1, error: E({ kind: 'smtp-transient', code: 451, detail: '451 x' }) }),
        ev(1, 4, 0, { tryCount: 1 }),
        ev(1.01, 0, 1, { tryCount: 1 }),
        ev(1.02, 1, 1, { lease: 1, tryCount: 1 }),
        ev(1.5, 1, 5, { lease: -1, tryCount: 2, error: E({ kind: 'smtp-permanent', code: 550, enhanced: '5.1.1', recipient: 'b@example.org', detail: '550 5.1.1 y' }) }),
        ev(9, 5, 0),
      ],
      3,
    );
    expect(steps.map((s) => s.kind)).toEqual(['accepted', 'confirmed', 'claimed', 'smtp_failed', 'republished', 'confirmed', 'claimed', 'dead', 'retried']);
    expect(steps.map((s) => s.attempt)).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 1]);
    expect(steps[3]).toMatchObject({ smtpMs: 80, error: 'SMTP answered 451', failure: { kind: 'smtp-transient', code: 451, detail: '451 x' } });
    expect(steps[7]).toMatchObject({ smtpMs: 480, error: 'SMTP answered 550 5.1.1 for b@example.org', failure: { kind: 'smtp-permanent', recipient: 'b@example.org' } });
    expect(steps[0]).toMatchObject({ error: null, failure: null });
    expect(steps[8]!.label).toBe('Retried by a person');
  });

  test('a status change without a claim carries no SMTP latency', () => {
    const steps = describeTimeline([ev(0, null, 0), ev(5, 0, 5, { tryCount: 3, error: NO_CONFIRM })], 3);
    expect(steps[1]).toMatchObject({ kind: 'dead', smtpMs: null, attempt: 3, error: 'no publisher confirm came within the publish grace', failure: { kind: 'no-confirm' } });
  });

  test('an event from before failures were data shows its text as an unnamed failure', () => {
    const steps = describeTimeline([ev(0, null, 0), ev(1, 0, 4, { tryCount: 1, error: 'SMTP 451 x' })], 3);
    expect(steps[1]).toMatchObject({ error: 'it failed (SMTP 451 x)', failure: { kind: 'other', detail: 'SMTP 451 x' } });
  });
});

describe('safeTimeZone', () => {
  test('keeps real zones and falls back to UTC for anything else', () => {
    expect(safeTimeZone('Europe/Berlin')).toBe('Europe/Berlin');
    expect(safeTimeZone(undefined)).toBe('UTC');
    expect(safeTimeZone('x'.repeat(100))).toBe('UTC');
    expect(safeTimeZone('Mars/Olympus')).toBe('UTC');
  });
});
