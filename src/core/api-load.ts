// How many POST /mail/send requests this process is answering right now, in shared memory: the HTTP side counts,
// and listener threads read it without any message passing (src/listener/yield-gate.ts decides with it).
export class ApiLoad {
  private readonly count: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(4)) {
    this.count = new Int32Array(buffer);
  }

  enter(): void {
    Atomics.add(this.count, 0, 1);
  }

  leave(): void {
    Atomics.sub(this.count, 0, 1);
  }

  get inFlight(): number {
    return Atomics.load(this.count, 0);
  }
}

/**
 * A busy signal that stays on until the API has been quiet for quietMs, sampled whenever it is asked: a short lull
 * between two bursts (clients pausing, a batch just answered) must not let all the waiting background work go.
 */
export function stickyBusy(busy: () => boolean, quietMs: number, now: () => number = () => performance.now()): () => boolean {
  let busyAt = -Infinity;
  return () => {
    const t = now();
    if (!busy()) return t - busyAt < quietMs;
    busyAt = t;
    return true;
  };
}
