import { Batcher } from '../../src/store/batcher';
import { sleep } from '../support/wait';

/** A flush function that records every batch it is given, and can be made to fail or hold. */
function recorder<T>() {
  const batches: T[][] = [];
  let failNext: Error | null = null;
  let hold: Promise<void> | null = null;
  const flush = async (items: T[]) => {
    batches.push(items);
    if (hold) await hold;
    if (failNext) {
      const err = failNext;
      failNext = null;
      throw err;
    }
  };
  return {
    batches,
    flush,
    failOnce(err: Error) {
      failNext = err;
    },
    holdUntil(p: Promise<void>) {
      hold = p;
    },
  };
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Settles pending promise callbacks without moving the (fake) clock. */
const drainMicrotasks = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

describe('Batcher', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  test('items added concurrently are flushed together, in the order they were added', async () => {
    const r = recorder<number>();
    const batcher = new Batcher({ maxItems: 100, maxWaitMs: 5, flush: r.flush });
    await Promise.all([batcher.add(1), batcher.add(2), batcher.add(3)]);
    expect(r.batches).toEqual([[1, 2, 3]]);
  });

  test('nothing is flushed before maxWaitMs has passed', async () => {
    jest.useFakeTimers();
    const r = recorder<string>();
    const batcher = new Batcher({ maxItems: 100, maxWaitMs: 50, flush: r.flush });
    let resolved = false;
    const added = batcher.add('a').then(() => (resolved = true));
    await jest.advanceTimersByTimeAsync(49);
    expect(r.batches).toEqual([]);
    expect(resolved).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    await added;
    expect(r.batches).toEqual([['a']]);
    expect(resolved).toBe(true);
  });

  test('the maxWaitMs timer starts with the first item, not the last', async () => {
    jest.useFakeTimers();
    const r = recorder<string>();
    const batcher = new Batcher({ maxItems: 100, maxWaitMs: 50, flush: r.flush });
    const first = batcher.add('a');
    await jest.advanceTimersByTimeAsync(40);
    const second = batcher.add('b');
    await jest.advanceTimersByTimeAsync(10);
    await Promise.all([first, second]);
    expect(r.batches).toEqual([['a', 'b']]);
  });

  test('reaching maxItems flushes at once, without waiting for the timer', async () => {
    jest.useFakeTimers();
    const r = recorder<number>();
    const batcher = new Batcher({ maxItems: 3, maxWaitMs: 60_000, flush: r.flush });
    const adds = [batcher.add(1), batcher.add(2), batcher.add(3)];
    await Promise.all(adds); // would hang if the 60 s timer were needed: fake time never moves here
    expect(r.batches).toEqual([[1, 2, 3]]);
    expect(jest.getTimerCount()).toBe(0);
  });

  test('items beyond maxItems start the next batch', async () => {
    jest.useFakeTimers();
    const r = recorder<number>();
    const batcher = new Batcher({ maxItems: 2, maxWaitMs: 1000, flush: r.flush });
    const adds = [1, 2, 3, 4, 5].map((n) => batcher.add(n));
    await drainMicrotasks();
    expect(r.batches).toEqual([
      [1, 2],
      [3, 4],
    ]);
    await jest.advanceTimersByTimeAsync(1000);
    await Promise.all(adds);
    expect(r.batches).toEqual([[1, 2], [3, 4], [5]]);
  });

  test('a failing flush rejects every add of that batch with its error', async () => {
    const r = recorder<string>();
    const batcher = new Batcher({ maxItems: 100, maxWaitMs: 5, flush: r.flush });
    const boom = new Error('deadlock');
    r.failOnce(boom);
    const results = await Promise.allSettled([batcher.add('a'), batcher.add('b'), batcher.add('c')]);
    expect(results).toEqual([
      { status: 'rejected', reason: boom },
      { status: 'rejected', reason: boom },
      { status: 'rejected', reason: boom },
    ]);
  });

  test('a batch after a failed one still flushes and resolves', async () => {
    const r = recorder<string>();
    const batcher = new Batcher({ maxItems: 100, maxWaitMs: 5, flush: r.flush });
    r.failOnce(new Error('first batch fails'));
    await expect(batcher.add('a')).rejects.toThrow('first batch fails');
    await expect(Promise.all([batcher.add('b'), batcher.add('c')])).resolves.toEqual([undefined, undefined]);
    expect(r.batches).toEqual([['a'], ['b', 'c']]);
  });

  test('a flush that throws synchronously also rejects its adds', async () => {
    const batcher = new Batcher<number>({
      maxItems: 1,
      maxWaitMs: 5,
      flush: () => {
        throw new Error('sync throw');
      },
    });
    await expect(batcher.add(1)).rejects.toThrow('sync throw');
  });

  test('items added while a flush is in flight go into a new batch', async () => {
    const r = recorder<number>();
    const gate = deferred();
    r.holdUntil(gate.promise);
    const batcher = new Batcher({ maxItems: 2, maxWaitMs: 5, flush: r.flush });
    const firstBatch = [batcher.add(1), batcher.add(2)];
    await drainMicrotasks();
    const secondBatch = [batcher.add(3), batcher.add(4)];
    await drainMicrotasks();
    expect(r.batches).toEqual([
      [1, 2],
      [3, 4],
    ]);
    gate.resolve();
    await Promise.all([...firstBatch, ...secondBatch]);
  });

  test('close() flushes the pending items without waiting for the timer', async () => {
    jest.useFakeTimers();
    const r = recorder<string>();
    const batcher = new Batcher({ maxItems: 100, maxWaitMs: 60_000, flush: r.flush });
    const adds = [batcher.add('x'), batcher.add('y')];
    await batcher.close();
    expect(r.batches).toEqual([['x', 'y']]);
    await Promise.all(adds);
    expect(jest.getTimerCount()).toBe(0);
  });

  test('close() waits for a flush that is still in progress', async () => {
    const r = recorder<string>();
    const gate = deferred();
    r.holdUntil(gate.promise);
    const batcher = new Batcher({ maxItems: 1, maxWaitMs: 5, flush: r.flush });
    const added = batcher.add('slow');
    let closed = false;
    const closing = batcher.close().then(() => (closed = true));
    await drainMicrotasks();
    expect(closed).toBe(false);
    gate.resolve();
    await closing;
    await added;
    expect(closed).toBe(true);
    expect(r.batches).toEqual([['slow']]);
  });

  test('close() with nothing pending does not call flush', async () => {
    const r = recorder<string>();
    const batcher = new Batcher({ maxItems: 10, maxWaitMs: 5, flush: r.flush });
    await batcher.close();
    expect(r.batches).toEqual([]);
  });

  test('close() resolves even when the last flush failed; the failure goes to the adds', async () => {
    const r = recorder<string>();
    r.failOnce(new Error('db down'));
    const batcher = new Batcher({ maxItems: 10, maxWaitMs: 60_000, flush: r.flush });
    const added = expect(batcher.add('a')).rejects.toThrow('db down');
    await expect(batcher.close()).resolves.toBeUndefined();
    await added;
  });
});

describe('Batcher with maxConcurrent', () => {
  test('while the only slot is busy, items gather and go together as soon as it frees up', async () => {
    const started: number[][] = [];
    const releases: (() => void)[] = [];
    const batcher = new Batcher<number>({
      maxItems: 100,
      maxWaitMs: 0,
      maxConcurrent: 1,
      flush: (items) => {
        started.push(items);
        return new Promise<void>((r) => releases.push(r));
      },
    });
    const first = batcher.add(1);
    await sleep(5);
    const later = [2, 3, 4].map((n) => batcher.add(n));
    await sleep(5);
    expect(started).toEqual([[1]]);
    releases[0]!();
    await first;
    await sleep(5);
    expect(started).toEqual([[1], [2, 3, 4]]);
    releases[1]!();
    await Promise.all(later);
  });

  /** One slot; each flush waits until the test ends it; 'unreachable' is the error that fails the waiting items. */
  function oneSlot() {
    const started: number[][] = [];
    const ends: { ok: () => void; fail: (err: Error) => void }[] = [];
    const batcher = new Batcher<number>({
      maxItems: 100,
      maxWaitMs: 0,
      maxConcurrent: 1,
      failWaiting: (err) => ((err as Error).message === 'unreachable' ? new Error('never sent') : undefined),
      flush: (items) => {
        started.push(items);
        return new Promise<void>((ok, fail) => ends.push({ ok, fail }));
      },
    });
    const add = (n: number) => batcher.add(n).then(() => 'stored', (err: Error) => err.message);
    return { started, ends, add };
  }

  test('a flush error for which failWaiting names an error fails the items waiting for a slot at once with it, unflushed', async () => {
    const { started, ends, add } = oneSlot();
    const first = add(1);
    await sleep(5);
    const waiting = [2, 3].map(add);
    await sleep(5);
    ends[0]!.fail(new Error('unreachable'));
    expect(await Promise.all([first, ...waiting])).toEqual(['unreachable', 'never sent', 'never sent']);
    await sleep(5);
    expect(started).toEqual([[1]]);
    // an item added afterwards gets a flush of its own
    const later = add(4);
    await sleep(5);
    expect(started).toEqual([[1], [4]]);
    ends[1]!.fail(new Error('something else'));
    expect(await later).toBe('something else');
  });

  test('a flush error for which failWaiting names none leaves the waiting items to the next flush', async () => {
    const { started, ends, add } = oneSlot();
    const first = add(1);
    await sleep(5);
    const waiting = [2, 3].map(add);
    await sleep(5);
    ends[0]!.fail(new Error('statement timed out'));
    expect(await first).toBe('statement timed out');
    await sleep(5);
    expect(started).toEqual([[1], [2, 3]]);
    ends[1]!.ok();
    expect(await Promise.all(waiting)).toEqual(['stored', 'stored']);
  });

  test('close() flushes what waits for a slot too', async () => {
    const flushed: number[][] = [];
    const batcher = new Batcher<number>({ maxItems: 2, maxWaitMs: 0, maxConcurrent: 1, flush: async (items) => void flushed.push(items) });
    const adds = [1, 2, 3, 4, 5].map((n) => batcher.add(n));
    await batcher.close();
    await Promise.all(adds);
    expect(flushed.flat()).toEqual([1, 2, 3, 4, 5]);
  });
});
