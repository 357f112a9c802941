import { backoffDelay } from '../../src/core/backoff';
import type { Failure } from '../../src/core/failure';
import { decideSend, isRecipientFinal, pendingRecipients, RecipientCode, recipientStateName, type RecipientStateName } from '../../src/core/recipients';
import type { RetryPolicy } from '../../src/core/retry';
import type { RecipientResult } from '../../src/core/smtp-outcome';
import { Status } from '../../src/core/status';

// No jitter: decideSend draws no random number of its own, so the delays are exact.
const policy: RetryPolicy = { maxTries: 3, backoff: { baseMs: 1_000, maxMs: 60_000, factor: 2, jitter: 0 } };

const A = 'a@example.org';
const B = 'b@example.net';
const C = 'c@example.com';
const NONE: ReadonlyMap<string, RecipientStateName> = new Map();
const stored = (entries: Record<string, RecipientStateName>) => new Map(Object.entries(entries));

const greylisted: Failure = { kind: 'smtp-transient', code: 450, enhanced: '4.2.0', recipient: B, command: 'RCPT TO', detail: '450 4.2.0 Greylisted' };
const unknownUser: Failure = { kind: 'smtp-permanent', code: 550, enhanced: '5.1.1', recipient: B, command: 'RCPT TO', detail: '550 5.1.1 User unknown' };
const accepted = (recipient: string): RecipientResult => ({ recipient, state: 'accepted' });
const deferred = (recipient: string, failure: Failure = { ...greylisted, recipient }): RecipientResult => ({ recipient, state: 'deferred', failure });
const bounced = (recipient: string, failure: Failure = { ...unknownUser, recipient }): RecipientResult => ({ recipient, state: 'bounced', failure });

describe('decideSend', () => {
  test('every recipient accepted on the first try: consumed, no try counted, nothing to store per recipient', () => {
    const d = decideSend([A, B], NONE, [accepted(A), accepted(B)], 0, policy);
    expect(d).toEqual({
      status: Status.consumed,
      tryCount: 0,
      delayMs: null,
      failure: null,
      changed: [
        { recipient: A, state: 'accepted', failure: null },
        { recipient: B, state: 'accepted', failure: null },
      ],
      perRecipient: false,
    });
  });

  test('one accepted and one deferred with 450: consume_failed with a counted try and backoff, stored per recipient', () => {
    const d = decideSend([A, B], NONE, [accepted(A), deferred(B)], 0, policy);
    expect(d.status).toBe(Status.consume_failed);
    expect(d.tryCount).toBe(1);
    expect(d.delayMs).toBe(backoffDelay(1, policy.backoff));
    expect(d.delayMs).toBe(1_000);
    expect(d.perRecipient).toBe(true);
    expect(d.failure).toEqual(greylisted);
    expect(d.changed).toEqual([
      { recipient: A, state: 'accepted', failure: null },
      { recipient: B, state: 'deferred', failure: greylisted },
    ]);
  });

  test('the backoff grows with the try count the send reaches', () => {
    expect(decideSend([A, B], stored({ [A]: 'accepted', [B]: 'deferred' }), [deferred(B)], 1, policy)).toMatchObject({ status: Status.consume_failed, tryCount: 2, delayMs: 2_000 });
  });

  test('a later try that reaches the last pending recipient makes the mail consumed, and the earlier accepted one is not touched', () => {
    const d = decideSend([A, B], stored({ [A]: 'accepted', [B]: 'deferred' }), [accepted(B)], 1, policy);
    expect(d).toMatchObject({ status: Status.consumed, tryCount: 1, delayMs: null, failure: null, perRecipient: true });
    expect(d.changed).toEqual([{ recipient: B, state: 'accepted', failure: null }]);
    expect(d.changed.map((c) => c.recipient)).not.toContain(A);
  });

  test('a recipient already accepted never changes, even if this send\'s results say it was deferred', () => {
    const d = decideSend([A, B], stored({ [A]: 'accepted', [B]: 'deferred' }), [deferred(A), accepted(B)], 1, policy);
    expect(d.status).toBe(Status.consumed);
    expect(d.changed).toEqual([{ recipient: B, state: 'accepted', failure: null }]);
  });

  test('a recipient already bounced is not undone by a later acceptance', () => {
    const d = decideSend([A, B], stored({ [B]: 'bounced' }), [accepted(A), accepted(B)], 1, policy);
    expect(d.changed).toEqual([{ recipient: A, state: 'accepted', failure: null }]);
    expect(d.status).toBe(Status.consumed);
  });

  test('the stored states are matched whatever the case of the address in the mail and in the results', () => {
    const d = decideSend(['A@Example.org', B], stored({ [A]: 'accepted' }), [deferred('a@EXAMPLE.org'), accepted(B)], 1, policy);
    expect(d.status).toBe(Status.consumed);
    expect(d.changed).toEqual([{ recipient: B, state: 'accepted', failure: null }]);
  });

  test('one accepted and one bounced with 550: consumed, no try counted, the bounce shown as the mail\'s failure', () => {
    const d = decideSend([A, B], NONE, [accepted(A), bounced(B)], 0, policy);
    expect(d).toMatchObject({ status: Status.consumed, tryCount: 0, delayMs: null, failure: unknownUser, perRecipient: true });
    expect(d.changed).toEqual([
      { recipient: A, state: 'accepted', failure: null },
      { recipient: B, state: 'bounced', failure: unknownUser },
    ]);
  });

  test('every recipient bounced: dead at once with the try counted, the first bounce shown, one fate so nothing per recipient', () => {
    const forA: Failure = { ...unknownUser, recipient: A };
    const d = decideSend([A, B], NONE, [bounced(A, forA), bounced(B)], 0, policy);
    expect(d).toMatchObject({ status: Status.dead, tryCount: 1, delayMs: null, failure: forA, perRecipient: false });
  });

  test('a recipient still deferred at the last try makes the mail dead with the failure that ended it, SMTP code and all (the try count says the tries ran out)', () => {
    const d = decideSend([B], stored({ [B]: 'deferred' }), [deferred(B)], 2, policy);
    expect(d).toMatchObject({ status: Status.dead, tryCount: 3, delayMs: null });
    expect(d.failure).toEqual(greylisted);
    expect(d.failure).toMatchObject({ code: 450, enhanced: '4.2.0', recipient: B, detail: '450 4.2.0 Greylisted' });
  });

  test('the try before the last still waits for another one', () => {
    expect(decideSend([B], stored({ [B]: 'deferred' }), [deferred(B)], 1, policy)).toMatchObject({ status: Status.consume_failed, tryCount: 2, failure: greylisted });
  });

  test('with one recipient accepted and one still deferred at the last try, the mail is dead (the accepted one is not sent again)', () => {
    const d = decideSend([A, B], stored({ [A]: 'accepted', [B]: 'deferred' }), [deferred(B)], 2, policy);
    expect(d).toMatchObject({ status: Status.dead, tryCount: 3, failure: { kind: 'smtp-transient', code: 450, recipient: B } });
    expect(d.changed.map((c) => c.recipient)).toEqual([B]);
  });

  test('a deferral is shown ahead of a bounce while someone is still pending', () => {
    const d = decideSend([A, B, C], NONE, [bounced(A, { ...unknownUser, recipient: A }), deferred(B), accepted(C)], 0, policy);
    expect(d).toMatchObject({ status: Status.consume_failed, tryCount: 1, failure: greylisted, perRecipient: true });
  });

  test('a send that reached nobody it was meant for still counts a try for the pending recipients', () => {
    expect(decideSend([A], NONE, [], 0, policy)).toMatchObject({ status: Status.consume_failed, tryCount: 1, delayMs: 1_000, failure: null, changed: [] });
  });

  test('every recipient deferred alike on the first try is one fate: nothing stored per recipient', () => {
    expect(decideSend([A, B], NONE, [deferred(A), deferred(B)], 0, policy).perRecipient).toBe(false);
  });
});

describe('pendingRecipients', () => {
  test('skips the recipients already accepted or bounced, whatever the case of their address, keeping the mail\'s order', () => {
    const before = stored({ [A]: 'accepted', [C]: 'bounced' });
    expect(pendingRecipients(['A@Example.ORG', B, 'C@example.COM', 'd@example.org'], before)).toEqual([B, 'd@example.org']);
  });

  test('keeps recipients deferred or explicitly pending, and everyone when nothing is stored', () => {
    expect(pendingRecipients([A, B], stored({ [A]: 'deferred', [B]: 'pending' }))).toEqual([A, B]);
    expect(pendingRecipients([A, B, C], NONE)).toEqual([A, B, C]);
  });

  test('is empty once every recipient is final', () => {
    expect(pendingRecipients([A, B], stored({ [A]: 'accepted', [B]: 'bounced' }))).toEqual([]);
  });
});

describe('recipient states', () => {
  test('the stored codes read back as their names, and an unknown code reads as pending', () => {
    for (const [name, code] of Object.entries(RecipientCode)) expect(recipientStateName(code)).toBe(name);
    expect(recipientStateName(9)).toBe('pending');
    expect(recipientStateName(-1)).toBe('pending');
  });

  test('only accepted and bounced are final', () => {
    expect((['pending', 'accepted', 'deferred', 'bounced'] as const).filter(isRecipientFinal)).toEqual(['accepted', 'bounced']);
  });
});
