import { getEventListeners } from 'node:events';
import { Slots } from '../../src/core/slots';

/** What each acquire ended as, in the order they ended. */
function track(slots: Slots, names: string[], signal?: AbortSignal): { ended: string[] } {
  const out = { ended: [] as string[] };
  for (const name of names)
    slots.acquire(signal).then(
      () => out.ended.push(`${name} granted`),
      (err: Error) => out.ended.push(`${name} failed: ${err.message}`),
    );
  return out;
}

const settled = () => new Promise((r) => setImmediate(r));

describe('Slots, the semaphore of the SMTP lanes and of the claims in hand', () => {
  it('grants at most its size at once and gives each released slot to the longest waiter', async () => {
    const slots = new Slots(2);
    const t = track(slots, ['a', 'b', 'c', 'd']);
    await settled();
    expect(t.ended).toEqual(['a granted', 'b granted']);
    slots.release();
    await settled();
    expect(t.ended).toEqual(['a granted', 'b granted', 'c granted']);
    slots.release();
    slots.release();
    await settled();
    expect(t.ended).toEqual(['a granted', 'b granted', 'c granted', 'd granted']);
    // one slot free again: the next acquire is granted at once
    slots.release();
    await expect(slots.acquire()).resolves.toBeUndefined();
  });

  it('ends the waits on an aborted signal, and the waits on another signal keep their places', async () => {
    const slots = new Slots(1);
    const paused = new AbortController();
    const other = new AbortController();
    const held = track(slots, ['held'], paused.signal);
    const first = track(slots, ['w1'], paused.signal);
    const kept = track(slots, ['k1'], other.signal);
    const second = track(slots, ['w2'], paused.signal);
    await settled();
    paused.abort();
    await settled();
    // the slot granted before the abort stays held; the two waits on the signal end
    expect(held.ended).toEqual(['held granted']);
    expect(first.ended).toEqual(['w1 failed: no longer waiting']);
    expect(second.ended).toEqual(['w2 failed: no longer waiting']);
    expect(kept.ended).toEqual([]);
    slots.release();
    await settled();
    expect(kept.ended).toEqual(['k1 granted']);
    // a signal aborted before the call: refused at once
    await expect(slots.acquire(paused.signal)).rejects.toThrow('no longer waiting');
  });

  it('puts one abort listener on a signal however many waits share it', async () => {
    const slots = new Slots(1);
    const c = new AbortController();
    track(slots, ['holder', ...Array.from({ length: 300 }, (_, i) => `w${i}`)], c.signal);
    await settled();
    expect(getEventListeners(c.signal, 'abort')).toHaveLength(1);
    // and a second semaphore waiting on the same signal adds its own one
    const lanes = new Slots(0);
    track(lanes, ['x', 'y'], c.signal);
    expect(getEventListeners(c.signal, 'abort')).toHaveLength(2);
  });

  it('fails every wait and every later acquire once closed', async () => {
    const slots = new Slots(1);
    const t = track(slots, ['a', 'b', 'c']);
    await settled();
    slots.close(new Error('the mailer is closed'));
    await settled();
    expect(t.ended).toEqual(['a granted', 'b failed: the mailer is closed', 'c failed: the mailer is closed']);
    await expect(slots.acquire()).rejects.toThrow('the mailer is closed');
  });
});
