import { describeFailure, describeTimeline, explainMail, safeTimeZone, type MailState, type MsgEventRecord } from '../../src/core/explain';
import { LEASE_EXPIRED, NO_CONFIRM, NOT_CONSUMED } from '../../src/core/retry';
import { Status } from '../../src/core/status';

// 10:02:13 in Shanghai (UTC+8, no daylight saving) is 02:02:13 UTC.
const at = (hms: string) => new Date(`2026-11-21T${hms}.000Z`);
const SH = 'Asia/Shanghai';
const base: MailState = { status: Status.sending, tryCount: 0, maxTries: 3, lastError: null, updateTime: at('02:02:13'), nextTryTime: null, leaseUntil: null };
const explain = (m: Partial<MailState>, now = at('02:02:20'), timeZone: string | null = SH) => explainMail({ ...base, ...m }, { now, timeZone: timeZone ?? undefined });

describe('explainMail: why a mail is not consumed yet, in one sentence', () => {
  test('a transient SMTP failure reads as in the issue: the answer, when, the next try and which try of how many', () => {
    expect(explain({ status: Status.consume_failed, tryCount: 1, lastError: 'SMTP 451 4.3.0 mailbox temporarily unavailable', nextTryTime: at('02:02:53') })).toBe(
      'SMTP answered 451 at 10:02:13; next try at 10:02:53, try 2 of 3.',
    );
  });

  test('a fault-injected 451 (no "SMTP" prefix) is read the same way', () => {
    expect(explain({ status: Status.consume_failed, tryCount: 2, lastError: '451 4.3.0 injected transient failure (DEV_FAULTS)', nextTryTime: at('02:03:30') })).toBe(
      'SMTP answered 451 at 10:02:13; next try at 10:03:30, try 3 of 3.',
    );
  });

  test('a publish returned by the broker names the broker, not SMTP', () => {
    expect(explain({ status: Status.delivery_failed, tryCount: 1, lastError: 'publish returned: unroutable: 312 NO_ROUTE', nextTryTime: at('02:02:30') })).toBe(
      'The broker returned the publish as unroutable at 10:02:13; next try at 10:02:30, try 2 of 3.',
    );
  });

  test('a fresh mail waits for its confirm and says when the job would publish it again', () => {
    expect(explain({ nextTryTime: at('02:02:43') })).toBe("Waiting for the broker's confirm since 10:02:13 (try 1 of 3); if none comes, it is published again after 10:02:43.");
  });

  test('a re-published mail says what went wrong before', () => {
    expect(explain({ tryCount: 1, lastError: NO_CONFIRM, nextTryTime: at('02:02:43') })).toMatch(/^Published again after no publisher confirm came within the publish grace; waiting for the broker's confirm since 10:02:13 \(try 2 of 3\)/);
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
    const s = explain({ status: Status.consume_failed, tryCount: 1, lastError: 'SMTP 451 busy', nextTryTime: at('02:02:20') }, at('02:03:00'));
    expect(s).toMatch(/next try at 10:02:20, try 2 of 3\. It has been due since 10:02:20 and the re-delivery job has not taken it: is a job running, and is the broker up\?$/);
  });

  test('a row just due is not called overdue', () => {
    expect(explain({ status: Status.consume_failed, tryCount: 1, lastError: 'SMTP 451 busy', nextTryTime: at('02:02:18') }, at('02:02:20'))).not.toMatch(/overdue|has been due/);
  });

  test('a permanent refusal is dead at once and says retrying needs the cause fixed', () => {
    expect(explain({ status: Status.dead, tryCount: 1, lastError: 'SMTP 550 5.1.1 no such user' })).toBe(
      'Dead: SMTP answered 550 at 10:02:13, a permanent failure, so it was not tried again. A person can retry it once the cause is fixed.',
    );
  });

  test('exhausted tries say how many and the last failure', () => {
    expect(explain({ status: Status.dead, tryCount: 3, lastError: 'SMTP 451 busy' })).toBe('Dead after 3 of 3 tries: SMTP answered 451 at 10:02:13. A person can retry it.');
  });

  test('consumed mails say when, and carry a note about rejected recipients', () => {
    expect(explain({ status: Status.consumed })).toBe('Consumed: the SMTP server accepted it at 10:02:13.');
    expect(explain({ status: Status.consumed, lastError: 'accepted for 1, rejected: b@x.com' })).toBe('Consumed: the SMTP server accepted it at 10:02:13. Note: accepted for 1, rejected: b@x.com.');
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
  test.each([
    ['SMTP 451 4.3.0 try later', 'smtp', 'SMTP answered 451', false],
    ['SMTP 550 5.1.1 no such user', 'smtp', 'SMTP answered 550', true],
    ['550 5.1.1 injected permanent failure (DEV_FAULTS)', 'smtp', 'SMTP answered 550', true],
    ['SMTP ETIMEDOUT: Timeout', 'smtp', 'the SMTP connection failed (ETIMEDOUT)', false],
    ['SMTP authentication failed: 535 bad', 'smtp', 'SMTP authentication failed', false],
    ['invalid envelope: no recipients', 'smtp', 'the address was refused before sending (invalid envelope)', true],
    ['publish nack: Message was nacked', 'broker', 'the broker refused the publish (nack)', false],
    ['publish timeout: no confirm within 2000 ms', 'broker', 'no publisher confirm came in time', false],
    ['publish unavailable: broker not connected', 'broker', 'the broker was not reachable (broker not connected)', false],
    [NO_CONFIRM, 'job', 'no publisher confirm came within the publish grace', false],
    [LEASE_EXPIRED, 'job', 'a listener took it but recorded no outcome before its lease ran out', false],
    [NOT_CONSUMED, 'job', 'no listener consumed it before the consumption deadline', false],
    ['something odd', 'other', 'it failed (something odd)', false],
  ])('%p is a %s failure: %s', (error, side, phrase, permanent) => {
    expect(describeFailure(error)).toMatchObject({ side, phrase, permanent });
  });

  test('no error is no failure', () => {
    expect(describeFailure(null)).toBeNull();
    expect(describeFailure('')).toBeNull();
  });

  test('a 3-digit number inside a message is not taken for an SMTP code', () => {
    expect(describeFailure('connection to 10.0.0.451 refused')?.side).toBe('other');
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
        ev(0.1, 1, 4, { lease: -1, tryCount: 1, error: 'SMTP 451 x' }),
        ev(1, 4, 0, { tryCount: 1 }),
        ev(1.01, 0, 1, { tryCount: 1 }),
        ev(1.02, 1, 1, { lease: 1, tryCount: 1 }),
        ev(1.5, 1, 5, { lease: -1, tryCount: 2, error: 'SMTP 550 y' }),
        ev(9, 5, 0),
      ],
      3,
    );
    expect(steps.map((s) => s.kind)).toEqual(['accepted', 'confirmed', 'claimed', 'smtp_failed', 'republished', 'confirmed', 'claimed', 'dead', 'retried']);
    expect(steps.map((s) => s.attempt)).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 1]);
    expect(steps[3]).toMatchObject({ smtpMs: 80, error: 'SMTP 451 x' });
    expect(steps[7]!.smtpMs).toBe(480);
    expect(steps[8]!.label).toBe('Retried by a person');
  });

  test('a status change without a claim carries no SMTP latency', () => {
    const steps = describeTimeline([ev(0, null, 0), ev(5, 0, 5, { tryCount: 3, error: NO_CONFIRM })], 3);
    expect(steps[1]).toMatchObject({ kind: 'dead', smtpMs: null, attempt: 3 });
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
