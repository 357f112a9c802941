import {
  FINAL,
  PENDING,
  STATUS_MEANING,
  Status,
  TRANSITIONS,
  canTransition,
  isFinal,
  isStatusName,
  statusName,
  type StatusName,
  type TransitionName,
} from '../../src/core/status';

const ALL_CODES = Object.values(Status) as number[];
const EVENTS = Object.keys(TRANSITIONS) as TransitionName[];

describe('status codes and names', () => {
  test('the stored codes are the documented ones, 0 to 8, the newer ones after the others', () => {
    expect(Status).toEqual({ sending: 0, delivered: 1, delivery_failed: 2, consumed: 3, consume_failed: 4, dead: 5, prepared: 6, cancelled: 7, scheduled: 8 });
  });

  test.each(Object.entries(Status))('statusName maps code of %s back to its name', (name, code) => {
    expect(statusName(code)).toBe(name);
  });

  test.each([-1, 9, 99, 1.5, Number.NaN])('statusName throws a RangeError for the unknown code %p', (code) => {
    expect(() => statusName(code)).toThrow(RangeError);
    expect(() => statusName(code)).toThrow(/unknown msg_log status code/);
  });

  test('isStatusName accepts every name and rejects anything else, including codes and case variants', () => {
    for (const name of Object.keys(Status)) expect(isStatusName(name)).toBe(true);
    for (const bad of ['Sending', 'DEAD', '0', '', 'failed', 'toString', '__proto__']) expect(isStatusName(bad)).toBe(false);
  });

  test('every status has a non-empty meaning for the API', () => {
    expect(Object.keys(STATUS_MEANING).sort()).toEqual(Object.keys(Status).sort());
    for (const meaning of Object.values(STATUS_MEANING)) expect(meaning.length).toBeGreaterThan(0);
  });

  test('PENDING, FINAL, prepared (waiting for its caller) and scheduled (waiting for its time) split the codes with no overlap and no gap', () => {
    expect([...PENDING].sort()).toEqual([Status.sending, Status.delivered, Status.delivery_failed, Status.consume_failed].sort());
    expect([...FINAL].sort()).toEqual([Status.consumed, Status.dead, Status.cancelled].sort());
    expect([...PENDING, ...FINAL, Status.prepared, Status.scheduled].sort()).toEqual([...ALL_CODES].sort());
  });

  test('isFinal is true only for consumed, dead and cancelled', () => {
    expect(ALL_CODES.filter((c) => isFinal(c)).sort()).toEqual([Status.consumed, Status.dead, Status.cancelled]);
    expect(isFinal(42)).toBe(false);
  });
});

describe('canTransition', () => {
  test('every TRANSITIONS entry starts from and goes to valid status codes only', () => {
    for (const event of EVENTS) {
      const t = TRANSITIONS[event];
      expect(t.from.length).toBeGreaterThan(0);
      expect(t.to.length).toBeGreaterThan(0);
      for (const code of [...t.from, ...t.to]) expect(ALL_CODES).toContain(code);
    }
  });

  test('a consumed row is never left, by any event, to any status', () => {
    for (const event of EVENTS) for (const to of ALL_CODES) expect(canTransition(event, Status.consumed, to)).toBe(false);
  });

  test('a dead row only leaves through manualRetry, and only to sending', () => {
    const allowed: string[] = [];
    for (const event of EVENTS) {
      for (const to of ALL_CODES) if (to !== Status.dead && canTransition(event, Status.dead, to)) allowed.push(`${event}->${statusName(to)}`);
    }
    expect(allowed).toEqual(['manualRetry->sending']);
  });

  test('a cancelled row is never left, by any event, to any status', () => {
    for (const event of EVENTS) for (const to of ALL_CODES) expect(canTransition(event, Status.cancelled, to)).toBe(false);
  });

  test('a prepared row leaves only by a commit (to sending), a cancel (to cancelled) or an undecided check-back (to dead)', () => {
    const allowed: string[] = [];
    for (const event of EVENTS) {
      for (const to of ALL_CODES) if (to !== Status.prepared && canTransition(event, Status.prepared, to)) allowed.push(`${event}->${statusName(to)}`);
    }
    expect(allowed.sort()).toEqual(['cancel->cancelled', 'checkBackUndecided->dead', 'commit->sending']);
  });

  test('a scheduled row leaves only when due (to sending) or by a cancel', () => {
    const allowed: string[] = [];
    for (const event of EVENTS) {
      for (const to of ALL_CODES) if (to !== Status.scheduled && canTransition(event, Status.scheduled, to)) allowed.push(`${event}->${statusName(to)}`);
    }
    expect(allowed.sort()).toEqual(['cancel->cancelled', 'due->sending']);
  });

  test('a confirmAck cannot move a consumed row back to delivered', () => {
    expect(canTransition('confirmAck', Status.consumed, Status.delivered)).toBe(false);
  });

  test('a confirmAck moves only a sending row, and only to delivered', () => {
    expect(canTransition('confirmAck', Status.sending, Status.delivered)).toBe(true);
    for (const from of ALL_CODES) for (const to of ALL_CODES) {
      if (from === Status.sending && to === Status.delivered) continue;
      expect(canTransition('confirmAck', from, to)).toBe(false);
    }
  });

  test.each<[TransitionName, StatusName, StatusName, boolean]>([
    ['publishFailed', 'sending', 'delivery_failed', true],
    ['publishFailed', 'sending', 'dead', true],
    ['publishFailed', 'delivered', 'delivery_failed', false],
    ['smtpAccepted', 'sending', 'consumed', true],
    ['smtpAccepted', 'delivered', 'consumed', true],
    ['smtpAccepted', 'consume_failed', 'consumed', true],
    ['smtpAccepted', 'dead', 'consumed', false],
    ['smtpTransient', 'delivered', 'consume_failed', true],
    ['smtpTransient', 'delivered', 'delivery_failed', false],
    ['smtpPermanent', 'delivered', 'dead', true],
    ['smtpPermanent', 'delivered', 'consume_failed', false],
    ['redeliver', 'delivery_failed', 'sending', true],
    ['redeliver', 'consume_failed', 'dead', true],
    ['redeliver', 'dead', 'sending', false],
    ['manualRetry', 'dead', 'sending', true],
    ['manualRetry', 'consume_failed', 'sending', false],
    ['manualRetry', 'dead', 'delivered', false],
  ])('%s from %s to %s is allowed: %p', (event, from, to, expected) => {
    expect(canTransition(event, Status[from], Status[to])).toBe(expected);
  });

  test('unknown codes are never a valid start or end of a transition', () => {
    for (const event of EVENTS) {
      expect(canTransition(event, 99, Status.sending)).toBe(false);
      expect(canTransition(event, Status.sending, -1)).toBe(false);
    }
  });
});
