import { decodeCheck, decodeConfirmations, encodeCheck, encodeConfirmations, planResend, tryOf, type ResendRow } from '../../src/core/delayed-check';
import { planRedelivery } from '../../src/core/retry';
import { Status } from '../../src/core/status';

const CALM = { relayDown: false, queueBusy: false };
const sending = (over: Partial<ResendRow> = {}): ResendRow => ({ status: Status.sending, tryCount: 0, leased: false, ...over });
const REQ = { msgId: '42', tryCount: 0 };

describe('the delayed-check messages', () => {
  test('a check message and a message of confirmations survive their round trip', () => {
    expect(decodeCheck(encodeCheck({ msgId: '42', tryCount: 3 }))).toEqual({ msgId: '42', tryCount: 3 });
    const cs = [{ msgId: '42', tryCount: 0 }, { msgId: '43', tryCount: 2 }];
    expect(decodeConfirmations(encodeConfirmations(cs))).toEqual(cs);
  });

  test.each([['not json'], ['{}'], ['{"msgId":"","tryCount":0}'], ['{"msgId":"1","tryCount":-1}'], ['{"msgId":"1","tryCount":1.5}'], ['null']])('%s is no check message', (body) => {
    expect(decodeCheck(Buffer.from(body))).toBeNull();
  });

  test('a message of confirmations is a list of [msgId, try] pairs, or nothing', () => {
    expect(decodeConfirmations(Buffer.from('[["1",-1]]'))).toBeNull();
    expect(decodeConfirmations(Buffer.from('[["1",0],["2"]]'))).toBeNull();
    expect(decodeConfirmations(Buffer.from('{"msgId":"1"}'))).toBeNull();
  });

  test('a delivery without the try header is the first try', () => {
    expect(tryOf({ 'x-try': '3' })).toBe(3);
    expect(tryOf(undefined)).toBe(0);
    expect(tryOf({ 'x-try': 'x' })).toBe(0);
  });
});

describe('planResend: what the producer does when a check found no confirmation', () => {
  test('a mail still sending at the checked try, held by no listener, is sent again with a try counted', () => {
    expect(planResend(sending(), REQ, 8, CALM)).toEqual({ action: 'resend', tryCount: 1 });
  });

  test('the resend that would reach MAX_TRIES makes the mail dead instead', () => {
    expect(planResend(sending({ tryCount: 7 }), { msgId: '42', tryCount: 7 }, 8, CALM)).toEqual({ action: 'dead', tryCount: 8 });
  });

  test.each([
    ['consumed', Status.consumed],
    ['dead', Status.dead],
    ['cancelled', Status.cancelled],
  ])('a %s mail is final: a lost confirmation costs nothing', (_name, status) => {
    expect(planResend(sending({ status }), REQ, 8, CALM)).toEqual({ action: 'none', why: 'final' });
  });

  test('a request for an earlier try, a row a listener holds, a deferred row and a missing row need nothing', () => {
    expect(planResend(sending({ tryCount: 1 }), REQ, 8, CALM)).toEqual({ action: 'none', why: 'moved-on' });
    expect(planResend(sending({ leased: true }), REQ, 8, CALM)).toEqual({ action: 'none', why: 'held' });
    expect(planResend(sending({ status: Status.consume_failed }), REQ, 8, CALM)).toEqual({ action: 'none', why: 'deferred' });
    expect(planResend(null, REQ, 8, CALM)).toEqual({ action: 'none', why: 'gone' });
  });

  test('while the relay is down nothing is counted and the job deadline is left to look; while the queue drains the check comes again', () => {
    expect(planResend(sending(), REQ, 8, { relayDown: true, queueBusy: true })).toEqual({ action: 'leave' });
    expect(planResend(sending(), REQ, 8, { relayDown: false, queueBusy: true })).toEqual({ action: 'recheck' });
  });
});

describe('the re-delivery job under delayed-check', () => {
  const row = { status: Status.sending, tryCount: 0, leaseExpired: false };
  test('a sending row past its deadline is a mail nobody consumed, not a missing confirm, and waits while the relay is down', () => {
    expect(planRedelivery(row, 8, 'resend', { relayDown: false, queueBusy: false, checked: true })).toMatchObject({ action: 'republish', tryCount: 1, reason: expect.stringContaining('not-consumed') });
    expect(planRedelivery(row, 8, 'resend', { relayDown: true, queueBusy: false, checked: true })).toEqual({ action: 'postpone' });
    expect(planRedelivery(row, 8, 'resend', { relayDown: false, queueBusy: false })).toMatchObject({ reason: expect.stringContaining('no-confirm') });
  });
});
