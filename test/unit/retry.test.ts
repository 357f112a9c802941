import { backoffDelay } from '../../src/core/backoff';
import { decodeFailure, encodeFailure } from '../../src/core/failure';
import {
  CALM,
  decideFailure,
  planRedelivery,
  type DueRow,
  type RedeliveryContext,
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
  const LEASE_LOST = encodeFailure({ kind: 'lease-lost' });
  const NO_CONFIRM = encodeFailure({ kind: 'no-confirm' });
  const NOT_CONSUMED = encodeFailure({ kind: 'not-consumed' });
  const exhausted = (tries: number, max: number) => encodeFailure({ kind: 'tries-exhausted', detail: `${tries} of ${max}` });

  test.each<[string, DueRow, RedeliveryPlan]>([
    ['a sending row with no confirm counts one try (no-confirm)', row('sending', 0), { action: 'republish', tryCount: 1, reason: NO_CONFIRM, uncertain: false }],
    ['a second missing confirm counts again', row('sending', 1), { action: 'republish', tryCount: 2, reason: NO_CONFIRM, uncertain: false }],
    ['a missing confirm that reaches maxTries makes the row dead', row('sending', 2), { action: 'dead', tryCount: 3, reason: NO_CONFIRM, uncertain: false }],
    ['an expired lease on a delivered row counts one try (lease-lost)', row('delivered', 0, true), { action: 'republish', tryCount: 1, reason: LEASE_LOST, uncertain: true }],
    ['an expired lease that reaches maxTries makes the row dead', row('delivered', 2, true), { action: 'dead', tryCount: 3, reason: LEASE_LOST, uncertain: true }],
    ['an expired lease on a sending row is counted once, not twice', row('sending', 0, true), { action: 'republish', tryCount: 1, reason: LEASE_LOST, uncertain: true }],
    ['an expired lease on a consume_failed row is counted', row('consume_failed', 1, true), { action: 'republish', tryCount: 2, reason: LEASE_LOST, uncertain: true }],
    ['a delivered row nobody consumed counts one try (not-consumed)', row('delivered', 0), { action: 'republish', tryCount: 1, reason: NOT_CONSUMED, uncertain: false }],
    ['a delivered row nobody consumed that reaches maxTries makes the row dead', row('delivered', 2), { action: 'dead', tryCount: 3, reason: NOT_CONSUMED, uncertain: false }],
    ['a delivered row already at maxTries is dead, its count still going up by the try it just missed', row('delivered', 3), { action: 'dead', tryCount: 4, reason: NOT_CONSUMED, uncertain: false }],
    ['a delivery_failed row was counted when it failed', row('delivery_failed', 1), { action: 'republish', tryCount: 1, reason: null, uncertain: false }],
    ['a consume_failed row was counted when it failed', row('consume_failed', 2), { action: 'republish', tryCount: 2, reason: null, uncertain: false }],
    ['a consume_failed row at maxTries is dead, tries exhausted', row('consume_failed', 3), { action: 'dead', tryCount: 3, reason: exhausted(3, 3), uncertain: false }],
    ['a delivery_failed row past maxTries is dead, tries exhausted', row('delivery_failed', 4), { action: 'dead', tryCount: 4, reason: exhausted(4, 3), uncertain: false }],
  ])('%s', (_name, due, expected) => {
    expect(planRedelivery(due, 3)).toEqual(expected);
  });

  test('rows counted when they failed never change their try count, whatever maxTries is', () => {
    for (const status of ['delivery_failed', 'consume_failed'] as const) {
      for (const maxTries of [5, 10]) expect(planRedelivery(row(status, 4), maxTries)).toMatchObject({ action: 'republish', tryCount: 4 });
    }
  });

  test('a delivered row nobody consumed counts exactly one try each time the job finds it, whatever maxTries is', () => {
    for (const maxTries of [5, 10]) expect(planRedelivery(row('delivered', 3), maxTries)).toEqual({ action: 'republish', tryCount: 4, reason: NOT_CONSUMED, uncertain: false });
  });

  test('with the "dead" uncertain policy an expired lease goes to a person instead of being sent again', () => {
    expect(planRedelivery(row('delivered', 0, true), 3, 'dead')).toEqual({ action: 'dead', tryCount: 1, reason: LEASE_LOST, uncertain: true });
    expect(planRedelivery(row('delivery_failed', 0), 3, 'dead')).toEqual({ action: 'republish', tryCount: 0, reason: null, uncertain: false });
    expect(planRedelivery(row('delivered', 0), 3, 'dead')).toEqual({ action: 'republish', tryCount: 1, reason: NOT_CONSUMED, uncertain: false });
  });

  test('the reasons are distinct failures stored as JSON that decode back to their kinds', () => {
    const reason = (due: DueRow) => {
      const plan = planRedelivery(due, 3);
      if (plan.action === 'postpone') throw new Error('postponed in calm weather');
      return plan.reason;
    };
    expect(new Set([NO_CONFIRM, LEASE_LOST, NOT_CONSUMED]).size).toBe(3);
    expect(decodeFailure(reason(row('delivered', 0, true)))).toEqual({ kind: 'lease-lost' });
    expect(decodeFailure(reason(row('sending', 0)))).toEqual({ kind: 'no-confirm' });
    expect(decodeFailure(reason(row('delivered', 0)))).toEqual({ kind: 'not-consumed' });
    expect(decodeFailure(reason(row('consume_failed', 3)))).toEqual({ kind: 'tries-exhausted', detail: '3 of 3' });
  });

  test('without a context the job plans as in calm weather', () => {
    for (const due of [row('delivered', 0), row('delivered', 2), row('sending', 1), row('consume_failed', 1, true)]) {
      expect(planRedelivery(due, 3)).toEqual(planRedelivery(due, 3, 'resend', CALM));
    }
    expect(CALM).toEqual({ relayDown: false, queueBusy: false });
  });

  describe('a delivered row nobody consumed, while the world explains why', () => {
    const relayDown: RedeliveryContext = { relayDown: true, queueBusy: false };
    const queueBusy: RedeliveryContext = { relayDown: false, queueBusy: true };

    test.each<[string, RedeliveryContext]>([
      ['the relay is down', relayDown],
      ['the queue is still draining', queueBusy],
      ['the relay is down and the queue is busy', { relayDown: true, queueBusy: true }],
    ])('is postponed with no try counted when %s', (_name, ctx) => {
      expect(planRedelivery(row('delivered', 0), 3, 'resend', ctx)).toEqual({ action: 'postpone' });
      expect(planRedelivery(row('delivered', 2), 3, 'resend', ctx)).toEqual({ action: 'postpone' });
    });

    test('is postponed rather than made dead even when the next counted try would be its last', () => {
      expect(planRedelivery(row('delivered', 2), 3, 'dead', relayDown)).toEqual({ action: 'postpone' });
      expect(planRedelivery(row('delivered', 3), 3, 'resend', queueBusy)).toEqual({ action: 'postpone' });
    });

    test('the relay being down does not excuse a lease that ran out: the claimed send is still counted', () => {
      expect(planRedelivery(row('delivered', 0, true), 3, 'resend', relayDown)).toEqual({ action: 'republish', tryCount: 1, reason: LEASE_LOST, uncertain: true });
      expect(planRedelivery(row('delivered', 0, true), 3, 'resend', queueBusy)).toEqual({ action: 'republish', tryCount: 1, reason: LEASE_LOST, uncertain: true });
    });

    test('a busy queue or a relay that is down does not excuse a missing publisher confirm', () => {
      expect(planRedelivery(row('sending', 0), 3, 'resend', relayDown)).toEqual({ action: 'republish', tryCount: 1, reason: NO_CONFIRM, uncertain: false });
      expect(planRedelivery(row('sending', 0), 3, 'resend', queueBusy)).toEqual({ action: 'republish', tryCount: 1, reason: NO_CONFIRM, uncertain: false });
    });

    test('rows that failed and were counted are re-published as usual whatever the context', () => {
      expect(planRedelivery(row('consume_failed', 1), 3, 'resend', relayDown)).toEqual({ action: 'republish', tryCount: 1, reason: null, uncertain: false });
      expect(planRedelivery(row('delivery_failed', 1), 3, 'resend', queueBusy)).toEqual({ action: 'republish', tryCount: 1, reason: null, uncertain: false });
    });
  });
});
