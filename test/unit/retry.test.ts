import { backoffDelay } from '../../src/core/backoff';
import {
  LEASE_EXPIRED,
  NOT_CONSUMED,
  NO_CONFIRM,
  decideFailure,
  planRedelivery,
  type DueRow,
  type RedeliveryPlan,
  type RetryPolicy,
} from '../../src/core/retry';
import { Status, type StatusName } from '../../src/core/status';

const policy: RetryPolicy = { maxTries: 3, backoff: { baseMs: 1000, maxMs: 60_000, factor: 2, jitter: 0.5 } };
const fullDelay = () => 0;

describe('decideFailure', () => {
  test.each<[number, 'delivery_failed' | 'consume_failed', boolean, { status: StatusName; tryCount: number; delayMs: number | null }]>([
    [0, 'delivery_failed', false, { status: 'delivery_failed', tryCount: 1, delayMs: 1000 }],
    [0, 'consume_failed', false, { status: 'consume_failed', tryCount: 1, delayMs: 1000 }],
    [1, 'delivery_failed', false, { status: 'delivery_failed', tryCount: 2, delayMs: 2000 }],
    [1, 'consume_failed', false, { status: 'consume_failed', tryCount: 2, delayMs: 2000 }],
    [2, 'delivery_failed', false, { status: 'dead', tryCount: 3, delayMs: null }],
    [2, 'consume_failed', false, { status: 'dead', tryCount: 3, delayMs: null }],
    [7, 'consume_failed', false, { status: 'dead', tryCount: 8, delayMs: null }],
    [0, 'consume_failed', true, { status: 'dead', tryCount: 1, delayMs: null }],
    [1, 'delivery_failed', true, { status: 'dead', tryCount: 2, delayMs: null }],
  ])('tryCount %i, failing as %s (permanent: %p), gives %o', (before, failed, permanent, expected) => {
    const outcome = decideFailure(before, Status[failed], policy, { permanent, random: fullDelay });
    expect(outcome).toEqual({ status: Status[expected.status], tryCount: expected.tryCount, delayMs: expected.delayMs });
  });

  test('a failure counts exactly one try', () => {
    for (let before = 0; before < 10; before++) expect(decideFailure(before, Status.consume_failed, { ...policy, maxTries: 100 }).tryCount).toBe(before + 1);
  });

  test('the failure that reaches maxTries makes the row dead, the one before does not', () => {
    const p = { ...policy, maxTries: 5 };
    expect(decideFailure(3, Status.delivery_failed, p).status).toBe(Status.delivery_failed);
    expect(decideFailure(4, Status.delivery_failed, p).status).toBe(Status.dead);
  });

  test('a permanent SMTP failure makes the row dead at once, with no delay', () => {
    const outcome = decideFailure(0, Status.consume_failed, { ...policy, maxTries: 10 }, { permanent: true });
    expect(outcome.status).toBe(Status.dead);
    expect(outcome.delayMs).toBeNull();
    expect(outcome.tryCount).toBe(1);
  });

  test('the delay is the backoff of the new try count, not of the old one', () => {
    const p = { ...policy, maxTries: 10 };
    for (let before = 0; before < 6; before++) {
      const outcome = decideFailure(before, Status.consume_failed, p, { random: fullDelay });
      expect(outcome.delayMs).toBe(backoffDelay(before + 1, p.backoff, fullDelay));
    }
  });

  test('the injected random draw is passed on to the backoff', () => {
    expect(decideFailure(0, Status.delivery_failed, policy, { random: () => 1 }).delayMs).toBe(500);
  });

  test('with maxTries = 1 the first failure is already the last', () => {
    expect(decideFailure(0, Status.delivery_failed, { ...policy, maxTries: 1 })).toEqual({ status: Status.dead, tryCount: 1, delayMs: null });
  });
});

describe('planRedelivery', () => {
  const row = (status: StatusName, tryCount: number, leaseExpired = false): DueRow => ({ status: Status[status], tryCount, leaseExpired });

  test.each<[string, DueRow, RedeliveryPlan]>([
    ['a sending row with no confirm counts one try (NO_CONFIRM)', row('sending', 0), { action: 'republish', tryCount: 1, reason: NO_CONFIRM, uncertain: false }],
    ['a second missing confirm counts again', row('sending', 1), { action: 'republish', tryCount: 2, reason: NO_CONFIRM, uncertain: false }],
    ['a missing confirm that reaches maxTries makes the row dead', row('sending', 2), { action: 'dead', tryCount: 3, reason: NO_CONFIRM, uncertain: false }],
    ['an expired lease on a delivered row counts one try (LEASE_EXPIRED)', row('delivered', 0, true), { action: 'republish', tryCount: 1, reason: LEASE_EXPIRED, uncertain: true }],
    ['an expired lease that reaches maxTries makes the row dead', row('delivered', 2, true), { action: 'dead', tryCount: 3, reason: LEASE_EXPIRED, uncertain: true }],
    ['an expired lease on a sending row is counted once, not twice', row('sending', 0, true), { action: 'republish', tryCount: 1, reason: LEASE_EXPIRED, uncertain: true }],
    ['an expired lease on a consume_failed row is counted', row('consume_failed', 1, true), { action: 'republish', tryCount: 2, reason: LEASE_EXPIRED, uncertain: true }],
    ['a delivered row that was not consumed is not counted', row('delivered', 0), { action: 'republish', tryCount: 0, reason: NOT_CONSUMED, uncertain: false }],
    ['a delivered row below maxTries is re-published without counting', row('delivered', 2), { action: 'republish', tryCount: 2, reason: NOT_CONSUMED, uncertain: false }],
    ['a delivered row already at maxTries is dead, tries exhausted', row('delivered', 3), { action: 'dead', tryCount: 3, reason: 'tries exhausted (3 of 3)', uncertain: false }],
    ['a delivery_failed row was counted when it failed', row('delivery_failed', 1), { action: 'republish', tryCount: 1, reason: null, uncertain: false }],
    ['a consume_failed row was counted when it failed', row('consume_failed', 2), { action: 'republish', tryCount: 2, reason: null, uncertain: false }],
    ['a consume_failed row at maxTries is dead, tries exhausted', row('consume_failed', 3), { action: 'dead', tryCount: 3, reason: 'tries exhausted (3 of 3)', uncertain: false }],
    ['a delivery_failed row past maxTries is dead, tries exhausted', row('delivery_failed', 4), { action: 'dead', tryCount: 4, reason: 'tries exhausted (4 of 3)', uncertain: false }],
  ])('%s', (_name, due, expected) => {
    expect(planRedelivery(due, 3)).toEqual(expected);
  });

  test('uncounted rows never change their try count, whatever maxTries is', () => {
    for (const status of ['delivered', 'delivery_failed', 'consume_failed'] as const) {
      for (const maxTries of [5, 10]) expect(planRedelivery(row(status, 4), maxTries).tryCount).toBe(4);
    }
  });

  test('with the "dead" uncertain policy an expired lease goes to a person instead of being sent again', () => {
    expect(planRedelivery(row('delivered', 0, true), 3, 'dead')).toEqual({ action: 'dead', tryCount: 1, reason: LEASE_EXPIRED, uncertain: true });
    expect(planRedelivery(row('delivery_failed', 0), 3, 'dead')).toEqual({ action: 'republish', tryCount: 0, reason: null, uncertain: false });
  });

  test('the reasons are distinct, human-readable strings', () => {
    expect(new Set([NO_CONFIRM, LEASE_EXPIRED, NOT_CONSUMED]).size).toBe(3);
    expect(LEASE_EXPIRED).toMatch(/lease/i);
    expect(NO_CONFIRM).toMatch(/confirm/i);
  });
});
