import type { Logger } from '../../src/logger';
import { LeaseKeeper, type LeaseTiming } from '../../src/listener/leases';

// A lease of 1 s renewed every 250 ms; a send starts its content only with more than 300 ms left.
const timing: LeaseTiming = { leaseMs: 1_000, marginMs: 300 };
const RENEW_EVERY = timing.leaseMs / 4;

function setup(opts: { extend?: (owner: string, ids: readonly string[]) => Promise<number>; release?: (owner: string, ids: readonly string[]) => Promise<number> } = {}) {
  const clock = { now: 0 };
  const repo = {
    extendLeases: jest.fn(opts.extend ?? (async (_owner: string, ids: readonly string[]) => ids.length)),
    releaseClaims: jest.fn(opts.release ?? (async (_owner: string, ids: readonly string[]) => ids.length)),
  };
  const logger = { warn: jest.fn() };
  const keeper = new LeaseKeeper({ repo, timing, logger: logger as unknown as Logger, now: () => clock.now });
  return { clock, repo, logger, keeper };
}

/** Moves the injected clock and the timers that drive the renewals together. */
async function advance(clock: { now: number }, ms: number) {
  clock.now += ms;
  await jest.advanceTimersByTimeAsync(ms);
}

describe('LeaseKeeper', () => {
  let stopAll: (() => Promise<void>)[] = [];

  beforeEach(() => {
    jest.useFakeTimers();
  });

  afterEach(async () => {
    for (const stop of stopAll) await stop();
    stopAll = [];
    jest.useRealTimers();
  });

  const started = (s: ReturnType<typeof setup>) => {
    s.keeper.start();
    stopAll.push(() => s.keeper.stop());
    return s;
  };

  describe('holds', () => {
    test('is true right after a claim is added, and false once no more than the margin remains', () => {
      const { clock, keeper } = setup();
      keeper.add('m1', 'owner-1', 0);
      expect(keeper.holds('m1')).toBe(true);
      clock.now = 699; // 301 ms left
      expect(keeper.holds('m1')).toBe(true);
      clock.now = 700; // exactly the margin left
      expect(keeper.holds('m1')).toBe(false);
      clock.now = 2_000; // long expired
      expect(keeper.holds('m1')).toBe(false);
    });

    test('counts the lease from when the claiming statement started, not from when it was added', () => {
      const { clock, keeper } = setup();
      clock.now = 500;
      keeper.add('m1', 'owner-1', 100); // the claim's statement started 400 ms ago: 600 ms left
      expect(keeper.holds('m1')).toBe(true);
      clock.now = 800; // 300 ms left
      expect(keeper.holds('m1')).toBe(false);
    });

    test('is false for a claim never added and for one dropped once its outcome was recorded', () => {
      const { keeper } = setup();
      expect(keeper.holds('unknown')).toBe(false);
      keeper.add('m1', 'owner-1', 0);
      expect(keeper.count).toBe(1);
      keeper.drop('m1');
      expect(keeper.holds('m1')).toBe(false);
      expect(keeper.count).toBe(0);
    });
  });

  describe('renewals', () => {
    test('extend the leases once per owner, with that owner\'s claims', async () => {
      const s = started(setup());
      s.keeper.add('a1', 'owner-a', 0);
      s.keeper.add('a2', 'owner-a', 0);
      s.keeper.add('b1', 'owner-b', 0);
      await advance(s.clock, RENEW_EVERY);
      expect(s.repo.extendLeases).toHaveBeenCalledTimes(2);
      expect(s.repo.extendLeases).toHaveBeenCalledWith('owner-a', ['a1', 'a2']);
      expect(s.repo.extendLeases).toHaveBeenCalledWith('owner-b', ['b1']);
    });

    test('nothing is renewed before the first quarter of the lease, nor when nothing is held', async () => {
      const s = started(setup());
      await advance(s.clock, RENEW_EVERY);
      expect(s.repo.extendLeases).not.toHaveBeenCalled();
      s.keeper.add('a1', 'owner-a', s.clock.now);
      await advance(s.clock, RENEW_EVERY - 1);
      expect(s.repo.extendLeases).not.toHaveBeenCalled();
      await advance(s.clock, 1);
      expect(s.repo.extendLeases).toHaveBeenCalledTimes(1);
    });

    test('move the deadline from when the renewal started when every claim matched', async () => {
      const s = started(setup());
      s.keeper.add('a1', 'owner-a', 0);
      s.keeper.add('a2', 'owner-a', 0);
      await advance(s.clock, RENEW_EVERY); // renewed at 250: runs until 1250
      s.clock.now = 900; // without the renewal only 100 ms would be left
      expect(s.keeper.holds('a1')).toBe(true);
      expect(s.keeper.holds('a2')).toBe(true);
      s.clock.now = 950; // 300 ms left of the renewed lease
      expect(s.keeper.holds('a1')).toBe(false);
    });

    test('keep claims held through a slow send, renewal after renewal', async () => {
      const s = started(setup());
      s.keeper.add('a1', 'owner-a', 0);
      for (let i = 0; i < 20; i++) await advance(s.clock, RENEW_EVERY);
      expect(s.clock.now).toBe(5_000);
      expect(s.keeper.holds('a1')).toBe(true);
      expect(s.repo.extendLeases).toHaveBeenCalledTimes(20);
    });

    test('do not move any deadline of an owner when fewer rows matched than its claims (one was lost)', async () => {
      const s = started(setup({ extend: async (owner, ids) => (owner === 'owner-a' ? ids.length - 1 : ids.length) }));
      s.keeper.add('a1', 'owner-a', 0);
      s.keeper.add('a2', 'owner-a', 0);
      s.keeper.add('b1', 'owner-b', 0);
      await advance(s.clock, RENEW_EVERY);
      s.clock.now = 900;
      expect(s.keeper.holds('a1')).toBe(false);
      expect(s.keeper.holds('a2')).toBe(false);
      expect(s.keeper.holds('b1')).toBe(true);
    });

    test('a claim whose outcome was recorded during the renewal does not hold the others back', async () => {
      const s = setup();
      s.repo.extendLeases.mockImplementation(async (_owner, ids) => {
        s.keeper.drop('a2'); // recorded meanwhile: its lease was released, so the UPDATE did not match it
        return ids.length - 1;
      });
      started(s);
      s.keeper.add('a1', 'owner-a', 0);
      s.keeper.add('a2', 'owner-a', 0);
      await advance(s.clock, RENEW_EVERY);
      s.clock.now = 900;
      expect(s.keeper.holds('a1')).toBe(true);
      expect(s.keeper.holds('a2')).toBe(false);
    });

    test('a renewal that fails is logged, leaves the deadlines alone, and is tried again on the next tick', async () => {
      const s = started(setup());
      s.repo.extendLeases.mockRejectedValueOnce(new Error('connection lost'));
      s.keeper.add('a1', 'owner-a', 0);
      await advance(s.clock, RENEW_EVERY);
      expect(s.logger.warn).toHaveBeenCalledWith({ owner: 'owner-a', err: 'connection lost' }, expect.stringMatching(/renew/));
      expect(s.keeper.holds('a1')).toBe(true); // 750 ms left of the first lease
      await advance(s.clock, RENEW_EVERY); // renewed at 500: until 1500
      expect(s.repo.extendLeases).toHaveBeenCalledTimes(2);
      s.clock.now = 1_100;
      expect(s.keeper.holds('a1')).toBe(true);
    });
  });

  describe('release', () => {
    test('gives the claims back through releaseClaims and stops holding them', async () => {
      const s = setup();
      s.keeper.add('a1', 'owner-a', 0);
      s.keeper.add('a2', 'owner-a', 0);
      await s.keeper.release('owner-a', ['a1']);
      expect(s.repo.releaseClaims).toHaveBeenCalledWith('owner-a', ['a1']);
      expect(s.keeper.holds('a1')).toBe(false);
      expect(s.keeper.holds('a2')).toBe(true);
      expect(s.keeper.count).toBe(1);
    });

    test('does not forget a claim of the same id held by another owner', async () => {
      const s = setup();
      s.keeper.add('a1', 'owner-b', 0);
      await s.keeper.release('owner-a', ['a1']);
      expect(s.keeper.holds('a1')).toBe(true);
    });

    test('a released claim is no longer renewed', async () => {
      const s = started(setup());
      s.keeper.add('a1', 'owner-a', 0);
      s.keeper.add('a2', 'owner-a', 0);
      await s.keeper.release('owner-a', ['a1']);
      await advance(s.clock, RENEW_EVERY);
      expect(s.repo.extendLeases).toHaveBeenCalledWith('owner-a', ['a2']);
    });

    test('a release the database refuses resolves anyway, is logged, and is tried again on the next tick until it goes through', async () => {
      const s = started(setup());
      s.repo.releaseClaims.mockRejectedValueOnce(new Error('deadlock')).mockRejectedValueOnce(new Error('deadlock again'));
      s.keeper.add('a1', 'owner-a', 0);
      await expect(s.keeper.release('owner-a', ['a1', 'a2'])).resolves.toBeUndefined();
      expect(s.logger.warn).toHaveBeenCalledWith({ owner: 'owner-a', rows: 2, err: 'deadlock' }, expect.stringMatching(/release/));
      expect(s.keeper.holds('a1')).toBe(false);

      await advance(s.clock, RENEW_EVERY);
      expect(s.repo.releaseClaims).toHaveBeenCalledTimes(2);
      expect(s.repo.releaseClaims).toHaveBeenLastCalledWith('owner-a', ['a1', 'a2']);

      await advance(s.clock, RENEW_EVERY);
      expect(s.repo.releaseClaims).toHaveBeenCalledTimes(3);
      expect(s.repo.releaseClaims).toHaveBeenLastCalledWith('owner-a', ['a1', 'a2']);

      await advance(s.clock, RENEW_EVERY * 4);
      expect(s.repo.releaseClaims).toHaveBeenCalledTimes(3); // it went through: nothing left to release
    });

    test('failed releases of one owner are gathered into one retry with every id once', async () => {
      const s = started(setup());
      s.repo.releaseClaims.mockRejectedValueOnce(new Error('down')).mockRejectedValueOnce(new Error('down'));
      await s.keeper.release('owner-a', ['a1', 'a2']);
      await s.keeper.release('owner-a', ['a2', 'a3']);
      await advance(s.clock, RENEW_EVERY);
      expect(s.repo.releaseClaims).toHaveBeenCalledTimes(3);
      expect(s.repo.releaseClaims).toHaveBeenLastCalledWith('owner-a', ['a1', 'a2', 'a3']);
    });
  });

  describe('stop', () => {
    test('makes a last attempt at the releases still queued, and swallows its failure', async () => {
      const s = setup();
      s.keeper.start();
      s.repo.releaseClaims.mockRejectedValueOnce(new Error('down'));
      await s.keeper.release('owner-a', ['a1']);
      s.repo.releaseClaims.mockRejectedValueOnce(new Error('still down'));
      await expect(s.keeper.stop()).resolves.toBeUndefined();
      expect(s.repo.releaseClaims).toHaveBeenCalledTimes(2);
      expect(s.repo.releaseClaims).toHaveBeenLastCalledWith('owner-a', ['a1']);
    });

    test('with nothing queued, releases nothing', async () => {
      const s = setup();
      s.keeper.start();
      s.keeper.add('a1', 'owner-a', 0);
      await s.keeper.stop();
      expect(s.repo.releaseClaims).not.toHaveBeenCalled();
    });

    test('ends the renewals', async () => {
      const s = setup();
      s.keeper.start();
      s.keeper.add('a1', 'owner-a', 0);
      await s.keeper.stop();
      await advance(s.clock, RENEW_EVERY * 10);
      expect(s.repo.extendLeases).not.toHaveBeenCalled();
    });
  });
});
