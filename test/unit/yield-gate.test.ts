import { ApiLoad, stickyBusy } from '../../src/core/api-load';
import { YieldGate } from '../../src/listener/yield-gate';
import { sleep } from '../support/wait';


describe('YieldGate: the listener yields to a busy API', () => {
  test('while the API is quiet, every delivery goes on at once', async () => {
    const gate = new YieldGate({ busy: () => false, whileBusy: 2, pollMs: 1 });
    await Promise.all(Array.from({ length: 50 }, () => gate.acquire()));
    expect(gate.waitingCount).toBe(0);
  });

  test('while the API is busy, only whileBusy deliveries are in progress and the others wait their turn', async () => {
    const gate = new YieldGate({ busy: () => true, whileBusy: 2, pollMs: 1 });
    let entered = 0;
    for (let i = 0; i < 5; i++) void gate.acquire().then(() => entered++);
    await sleep(5);
    expect(entered).toBe(2);
    expect(gate.waitingCount).toBe(3);
    gate.release();
    await sleep(0);
    expect(entered).toBe(3);
  });

  test('when the API quiets down, the waiting deliveries all go within a poll interval', async () => {
    let busy = true;
    const gate = new YieldGate({ busy: () => busy, whileBusy: 1, pollMs: 2 });
    let entered = 0;
    for (let i = 0; i < 10; i++) void gate.acquire().then(() => entered++);
    await sleep(5);
    expect(entered).toBe(1);
    busy = false;
    await sleep(10);
    expect(entered).toBe(10);
    expect(gate.waitingCount).toBe(0);
  });

  test('a short lull does not let the whole prefetch go: the API must stay quiet for the whole quiet period', async () => {
    let busy = true;
    let now = 0;
    const gate = new YieldGate({ busy: stickyBusy(() => busy, 100, () => now), whileBusy: 1, pollMs: 1 });
    let entered = 0;
    for (let i = 0; i < 5; i++) void gate.acquire().then(() => entered++);
    await sleep(3);
    expect(entered).toBe(1);
    busy = false;
    now = 50;
    await sleep(5);
    expect(entered).toBe(1);
    now = 100;
    await sleep(5);
    expect(entered).toBe(5);
  });

  test('a new delivery does not overtake the ones already waiting', async () => {
    let busy = true;
    const gate = new YieldGate({ busy: () => busy, whileBusy: 1, pollMs: 1 });
    const order: number[] = [];
    void gate.acquire().then(() => order.push(0));
    void gate.acquire().then(() => order.push(1));
    await sleep(3);
    busy = false;
    void gate.acquire().then(() => order.push(2));
    await sleep(5);
    expect(order).toEqual([0, 1, 2]);
  });

  test('open() lets everything through while shutting down, busy or not', async () => {
    const gate = new YieldGate({ busy: () => true, whileBusy: 1, pollMs: 1000 });
    let entered = 0;
    for (let i = 0; i < 4; i++) void gate.acquire().then(() => entered++);
    await sleep(0);
    expect(entered).toBe(1);
    gate.open();
    await sleep(0);
    expect(entered).toBe(4);
  });
});

describe('ApiLoad', () => {
  test('counts in shared memory: a second view of the same buffer sees the count', () => {
    const load = new ApiLoad();
    const seenElsewhere = new ApiLoad(load.buffer);
    load.enter();
    load.enter();
    load.leave();
    expect(seenElsewhere.inFlight).toBe(1);
  });
});
