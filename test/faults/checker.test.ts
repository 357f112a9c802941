// The checker is the judge of every fault scenario, so it gets its own tests.
import { Status } from '../../src/core/status';
import { check, failureKind, formatLine, type CheckCopy, type CheckRow } from './checker';

const row = (msg_id: string, status: number, uncertain_count = 0, try_count = 0): CheckRow => ({ msg_id, status, try_count, uncertain_count });
const copy = (msgId: string | null, messageId: string | null = msgId ? `<${msgId}@example.com>` : null): CheckCopy => ({ msgId, messageId });
/** A copy as the fault sink records it: with the recipients accepted at RCPT TO. */
const copyTo = (msgId: string, ...to: string[]): CheckCopy => ({ ...copy(msgId), to });
const dead = (msg_id: string, last_error: string | null): CheckRow => ({ ...row(msg_id, Status.dead, 0, 3), last_error });
const kind = (k: string) => JSON.stringify({ kind: k, code: 450, enhanced: '4.2.0', recipient: 'a@x.com', detail: '450 4.2.0 Greylisted' });

describe('the fault checker', () => {
  test('a clean run: every accepted mail consumed once', () => {
    const r = check({ accepted: ['1', '2', '3'], sink: [copy('1'), copy('2'), copy('3')], rows: [row('1', Status.consumed), row('2', Status.consumed), row('3', Status.consumed)] });
    expect(r).toMatchObject({ accepted: 3, rows: 3, consumed: 3, dead: 0, pending: 0, lost: 0, duplicated: 0, uncertain: 0, copies: 3, ok: true });
  });

  test('an accepted msgId without a row is lost', () => {
    const r = check({ accepted: ['1', '2'], sink: [copy('1')], rows: [row('1', Status.consumed)] });
    expect(r).toMatchObject({ missingRows: 1, lost: 1, ok: false });
    expect(r.examples.lost).toEqual(['2']);
  });

  test('a row still pending after the bound is lost, whatever its pending state', () => {
    for (const s of [Status.sending, Status.delivered, Status.delivery_failed, Status.consume_failed]) {
      const r = check({ accepted: ['1'], sink: [], rows: [row('1', s)] });
      expect(r).toMatchObject({ pending: 1, lost: 1, ok: false });
    }
  });

  test('a dead row is final, not lost; a dead row whose mail arrived is shown', () => {
    expect(check({ accepted: ['1'], sink: [], rows: [row('1', Status.dead)] })).toMatchObject({ dead: 1, lost: 0, deadWithMail: 0, ok: true });
    expect(check({ accepted: ['1'], sink: [copy('1')], rows: [row('1', Status.dead, 1)] })).toMatchObject({ dead: 1, deadWithMail: 1, ok: true });
  });

  test('two copies with uncertain_count 0 are a duplicate', () => {
    const r = check({ accepted: ['1'], sink: [copy('1'), copy('1')], rows: [row('1', Status.consumed)] });
    expect(r).toMatchObject({ duplicated: 1, uncertain: 0, ok: false });
    expect(r.examples.duplicated).toEqual(['1']);
  });

  test('two copies with uncertain_count 1 are uncertain, not duplicated', () => {
    const r = check({ accepted: ['1'], sink: [copy('1'), copy('1')], rows: [row('1', Status.consumed, 1)] });
    expect(r).toMatchObject({ duplicated: 0, uncertain: 1, uncertainSends: 1, ok: true });
  });

  test('more copies than 1 + uncertain_count are a duplicate even when some were uncertain', () => {
    const r = check({ accepted: ['1'], sink: [copy('1'), copy('1'), copy('1')], rows: [row('1', Status.consumed, 1)] });
    expect(r).toMatchObject({ duplicated: 1, uncertain: 0, ok: false });
  });

  test('an uncertain send whose copy never arrived is counted in uncertainSends only', () => {
    const r = check({ accepted: ['1'], sink: [copy('1')], rows: [row('1', Status.consumed, 2)] });
    expect(r).toMatchObject({ uncertain: 0, uncertainSends: 2, ok: true });
  });

  test('a consumed row without its mail at the sink is a violation', () => {
    const r = check({ accepted: ['1'], sink: [], rows: [row('1', Status.consumed)] });
    expect(r).toMatchObject({ consumedWithoutMail: 1, ok: false });
  });

  test('a copy with no row, or no X-Msg-Id, is unexpected mail', () => {
    const r = check({ accepted: ['1'], sink: [copy('1'), copy('9'), copy(null)], rows: [row('1', Status.consumed)] });
    expect(r).toMatchObject({ unexpectedMail: 2, copies: 1, ok: false });
  });

  test('copies whose Message-ID is not built from the msgId, or differs between copies, are flagged', () => {
    expect(check({ accepted: ['1'], sink: [copy('1', '<other@example.com>')], rows: [row('1', Status.consumed)] })).toMatchObject({ messageIdMismatch: 1, ok: false });
    expect(check({ accepted: ['1'], sink: [copy('1'), copy('1', '<1@elsewhere.org>')], rows: [row('1', Status.consumed, 1)] })).toMatchObject({ messageIdMismatch: 1, ok: false });
  });

  test('rows committed without a 202 (a request cut by a crash) are checked too', () => {
    const r = check({ accepted: ['1'], sink: [copy('1'), copy('2'), copy('2')], rows: [row('1', Status.consumed), row('2', Status.consumed)] });
    expect(r).toMatchObject({ accepted: 1, rows: 2, duplicated: 1, ok: false });
    const stuck = check({ accepted: [], sink: [], rows: [row('2', Status.delivered)] });
    expect(stuck).toMatchObject({ pending: 1, lost: 1 });
  });

  test('msgIds are compared as strings, whatever the driver returned', () => {
    const r = check({ accepted: ['12'], sink: [copy('12')], rows: [{ msg_id: 12 as unknown as string, status: Status.consumed, try_count: 0, uncertain_count: 0 }] });
    expect(r).toMatchObject({ consumed: 1, ok: true });
  });

  describe('per recipient, at most once', () => {
    test('a resend to the recipient refused the first time is not a duplicate', () => {
      const r = check({ accepted: ['1'], sink: [copyTo('1', 'a@x.com'), copyTo('1', 'b@x.com')], rows: [row('1', Status.consumed)] });
      expect(r).toMatchObject({ duplicated: 0, recipientDuplicated: 0, uncertain: 0, copies: 2, ok: true });
    });

    test('a resend that goes again to a recipient who already had the mail is a recipient duplicate', () => {
      const r = check({ accepted: ['1', '2'], sink: [copyTo('1', 'a@x.com', 'b@x.com'), copyTo('1', 'A@x.com', 'c@x.com'), copyTo('2', 'a@x.com')], rows: [row('1', Status.consumed), row('2', Status.consumed)] });
      expect(r).toMatchObject({ recipientDuplicated: 1, duplicated: 1, ok: false });
      expect(r.examples.recipientDuplicated).toEqual(['1 (a@x.com x2)']);
      expect(r.examples.duplicated).toEqual(['1']);
    });

    test('a recipient given 1 + uncertain_count copies is uncertain, one more is a recipient duplicate', () => {
      const twice = [copyTo('1', 'a@x.com', 'b@x.com'), copyTo('1', 'a@x.com')];
      expect(check({ accepted: ['1'], sink: twice, rows: [row('1', Status.consumed, 1)] })).toMatchObject({ recipientDuplicated: 0, duplicated: 0, uncertain: 1, ok: true });
      expect(check({ accepted: ['1'], sink: [...twice, copyTo('1', 'a@x.com')], rows: [row('1', Status.consumed, 1)] })).toMatchObject({ recipientDuplicated: 1, uncertain: 0, ok: false });
    });

    test('copies without their recipient list are still judged per mail', () => {
      const r = check({ accepted: ['1'], sink: [copy('1'), copy('1')], rows: [row('1', Status.consumed)] });
      expect(r).toMatchObject({ duplicated: 1, recipientDuplicated: 0, ok: false });
    });

    test('a recipient duplicate of a mail without a row is caught too', () => {
      const r = check({ accepted: ['1'], sink: [copyTo('1', 'a@x.com'), copyTo('1', 'a@x.com')], rows: [] });
      expect(r).toMatchObject({ missingRows: 1, recipientDuplicated: 1, duplicated: 1 });
      expect(check({ accepted: ['1'], sink: [copyTo('1', 'a@x.com'), copyTo('1', 'b@x.com')], rows: [] })).toMatchObject({ recipientDuplicated: 0, duplicated: 0 });
    });
  });

  describe('dead rows that were never tried', () => {
    test('a dead row of an SMTP failure that no relay ever saw is flagged', () => {
      const r = check({ accepted: ['1', '2'], sink: [], rows: [dead('1', kind('smtp-transient')), dead('2', kind('smtp-permanent'))], tried: new Set(['2']) });
      expect(r).toMatchObject({ dead: 2, deadNeverTried: 1, ok: false });
      expect(r.examples.deadNeverTried).toEqual(['1 (smtp-transient)']);
      // the relay being down, or no listener taking the mail, is no excuse: the relay never saw it
      for (const k of ['relay-down', 'not-consumed', 'tries-exhausted']) expect(check({ accepted: ['1'], sink: [], rows: [dead('1', kind(k))], tried: new Set() })).toMatchObject({ deadNeverTried: 1 });
    });

    test('a dead row whose failure is plain text, or missing, is of unknown kind and flagged when never tried', () => {
      const r = check({ accepted: ['1', '2'], sink: [], rows: [dead('1', '451 4.3.0 mailbox temporarily unavailable'), dead('2', null)], tried: new Set() });
      expect(r).toMatchObject({ deadNeverTried: 2, ok: false });
      expect(r.examples.deadNeverTried).toEqual(['1 (unknown kind)', '2 (unknown kind)']);
    });

    test('a dead row of a publish-side failure never reached a listener, so not being tried is expected', () => {
      for (const k of ['publish-nack', 'publish-returned', 'publish-error', 'publish-unavailable', 'confirm-timeout', 'no-confirm']) {
        expect(check({ accepted: ['1'], sink: [], rows: [dead('1', kind(k))], tried: new Set() })).toMatchObject({ deadNeverTried: 0, ok: true });
      }
    });

    test('a dead row whose mail reached the relay, in tried or as a copy, is not flagged', () => {
      expect(check({ accepted: ['1'], sink: [], rows: [dead('1', kind('smtp-permanent'))], tried: new Set(['1']) })).toMatchObject({ deadNeverTried: 0, ok: true });
      expect(check({ accepted: ['1'], sink: [copyTo('1', 'a@x.com')], rows: [{ ...dead('1', kind('smtp-transient')), uncertain_count: 1 }], tried: new Set() })).toMatchObject({ deadNeverTried: 0, deadWithMail: 1, ok: true });
    });

    test('without a tried set the rule is not evaluated, and only dead rows are judged by it', () => {
      expect(check({ accepted: ['1'], sink: [], rows: [dead('1', kind('smtp-transient'))] })).toMatchObject({ deadNeverTried: 0, ok: true });
      expect(check({ accepted: ['1'], sink: [copyTo('1', 'a@x.com')], rows: [row('1', Status.consumed)], tried: new Set() })).toMatchObject({ deadNeverTried: 0, ok: true });
    });

    test('the failure kind is read from a JSON object only', () => {
      expect(failureKind(kind('smtp-transient'))).toBe('smtp-transient');
      expect(failureKind('publish nack: {"kind":"publish-nack"}')).toBeNull();
      expect(failureKind('{not json')).toBeNull();
      expect(failureKind('{"code":450}')).toBeNull();
      expect(failureKind(null)).toBeNull();
    });
  });

  test('the line names the new violations when there are any', () => {
    const r = check({ accepted: ['1', '2'], sink: [copyTo('1', 'a@x.com'), copyTo('1', 'a@x.com')], rows: [row('1', Status.consumed), dead('2', null)], tried: new Set() });
    expect(formatLine('smtp-greylist', r, 1000)).toBe('smtp-greylist: sent=2 consumed=1 dead=1 lost=0 duplicated=1 uncertain=0 recipient-duplicated=1 dead-never-tried=1 (1.0 s)');
  });

  test('the line names every figure and the time', () => {
    const r = check({ accepted: ['1', '2'], sink: [copy('1'), copy('1')], rows: [row('1', Status.consumed, 1), row('2', Status.dead)] });
    expect(formatLine('broker-restart', r, 12_345)).toBe('broker-restart: sent=2 consumed=1 dead=1 lost=0 duplicated=0 uncertain=1 uncertain-sends=1 (12.3 s)');
  });
});
