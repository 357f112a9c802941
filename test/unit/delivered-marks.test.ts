import { stickyBusy } from '../../src/core/api-load';
import { createLogger } from '../../src/logger';
import { DeliveredMarks } from '../../src/services/delivered-marks';
import { sleep } from '../support/wait';

const logged: string[] = [];
const logger = createLogger({ level: 'warn', pretty: false, destination: { write: (line: string) => void logged.push(line) } });

/** Marks over a recording write; `clock` is the marks' clock, moved by hand. */
function marks(opts: { busy?: () => boolean; maxHoldMs?: number; maxItems?: number; failFirst?: boolean; failAlways?: boolean } = {}) {
  const writes: { ids: string[]; tryCount: number }[] = [];
  const clock = { now: 0 };
  let fail = opts.failFirst ?? false;
  const m = new DeliveredMarks({
    write: async (ids, tryCount) => {
      writes.push({ ids, tryCount });
      if (opts.failAlways) throw new Error('database gone for good');
      if (fail) {
        fail = false;
        throw new Error('database gone');
      }
    },
    hold: opts.busy,
    maxHoldMs: opts.maxHoldMs ?? 1_000,
    windowMs: 2,
    retryMs: 20,
    maxItems: opts.maxItems ?? 500,
    logger,
    now: () => clock.now,
  });
  return { m, writes, clock };
}

describe('DeliveredMarks: confirms recorded in batches, after the API', () => {
  test('confirms added together are written in one statement per try count after the window', async () => {
    const { m, writes } = marks();
    m.add('1', 0);
    m.add('2', 0);
    m.add('3', 1);
    expect(writes).toHaveLength(0);
    await sleep(10);
    expect(writes).toEqual([
      { ids: ['1', '2'], tryCount: 0 },
      { ids: ['3'], tryCount: 1 },
    ]);
    expect(m.waiting).toBe(0);
  });

  test('a large batch is split into statements of at most maxItems ids', async () => {
    const { m, writes } = marks({ maxItems: 2 });
    for (const id of ['1', '2', '3', '4', '5']) m.add(id, 0);
    await sleep(10);
    expect(writes.map((w) => w.ids)).toEqual([['1', '2'], ['3', '4'], ['5']]);
  });

  test('while the API is busy the marks wait, and they are all written once it is not', async () => {
    let busy = true;
    const { m, writes } = marks({ busy: () => busy });
    m.add('1', 0);
    m.add('2', 0);
    await sleep(15);
    expect(writes).toHaveLength(0);
    expect(m.waiting).toBe(2);
    busy = false;
    await sleep(15);
    expect(writes).toEqual([{ ids: ['1', '2'], tryCount: 0 }]);
  });

  test('a mark waits for a busy API no longer than maxHoldMs', async () => {
    const { m, writes, clock } = marks({ busy: () => true, maxHoldMs: 1_000 });
    m.add('1', 0);
    await sleep(15);
    expect(writes).toHaveLength(0);
    clock.now = 1_000;
    await sleep(15);
    expect(writes).toEqual([{ ids: ['1'], tryCount: 0 }]);
  });

  test('a write the database refused is logged and written again after the retry pause, with the marks added meanwhile', async () => {
    const { m, writes } = marks({ failFirst: true });
    m.add('1', 0);
    await sleep(10);
    expect(writes.map((w) => w.ids)).toEqual([['1']]);
    m.add('2', 0);
    await sleep(5);
    expect(writes).toHaveLength(1); // waiting out the retry pause, not the 2 ms window
    await sleep(40);
    expect(writes.map((w) => w.ids)).toEqual([['1'], ['1', '2']]);
    expect(logged.some((line) => line.includes('could not record confirms') && line.includes('database gone'))).toBe(true);
  });

  test('a database gone for good does not hold the stop: a few writes, then the marks are left to the job', async () => {
    const { m, writes } = marks({ failAlways: true });
    m.add('1', 0);
    await m.close();
    expect(writes.length).toBeGreaterThanOrEqual(2);
    expect(writes.length).toBeLessThanOrEqual(4);
    expect(logged.some((line) => line.includes('confirms not recorded at stop'))).toBe(true);
  });

  test('close writes every waiting mark at once, even while the API is busy', async () => {
    const { m, writes } = marks({ busy: () => true, maxHoldMs: 60_000 });
    m.add('1', 0);
    m.add('2', 3);
    await m.close();
    expect(writes).toEqual([
      { ids: ['1'], tryCount: 0 },
      { ids: ['2'], tryCount: 3 },
    ]);
  });
});

describe('stickyBusy: a short lull is not quiet', () => {
  test('stays busy until the API has been quiet for quietMs, and goes busy again at once', () => {
    let busy = true;
    let now = 0;
    const sticky = stickyBusy(() => busy, 200, () => now);
    expect(sticky()).toBe(true);
    busy = false;
    now = 150;
    expect(sticky()).toBe(true);
    now = 200;
    expect(sticky()).toBe(false);
    busy = true;
    expect(sticky()).toBe(true);
  });

  test('with quietMs 0 it is exactly the signal it wraps', () => {
    let busy = true;
    const sticky = stickyBusy(() => busy, 0, () => 0);
    expect(sticky()).toBe(true);
    busy = false;
    expect(sticky()).toBe(false);
  });
});
