import type { Failure } from '../../src/core/failure';
import { RelayCircuit } from '../../src/listener/relay-circuit';
import { TUNING } from '../../src/tuning';

// No jitter: the probes come exactly at 100, 200, 400 ... ms after each failure.
const backoff = { baseMs: 100, maxMs: 1_000, factor: 2, jitter: 0 };
const down: Failure = { kind: 'relay-down', command: 'CONN', detail: 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:2525' };
const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:2525'), { code: 'ECONNECTION', originalCode: 'ECONNREFUSED', command: 'CONN' });

/** A probe whose answers the test scripts: each call takes the next one (an Error rejects), the last repeats. */
function scriptedProbe(...answers: (Error | 'ok')[]) {
  const probe = jest.fn(async () => {
    const answer = answers.length > 1 ? answers.shift()! : answers[0]!;
    if (answer instanceof Error) throw answer;
  });
  return probe;
}

function record(circuit: RelayCircuit) {
  const events: { name: string; args: unknown[] }[] = [];
  circuit.on('open', (...args) => events.push({ name: 'open', args }));
  circuit.on('probe', (...args) => events.push({ name: 'probe', args }));
  circuit.on('close', (...args) => events.push({ name: 'close', args }));
  return events;
}

describe('RelayCircuit', () => {
  let circuit: RelayCircuit | null = null;

  beforeEach(() => {
    jest.useFakeTimers({ now: new Date('2026-12-01T10:00:00Z') });
  });

  afterEach(() => {
    circuit?.stop();
    circuit = null;
    jest.useRealTimers();
  });

  test('starts closed, with no down time', () => {
    circuit = new RelayCircuit({ probe: scriptedProbe('ok'), backoff });
    expect(circuit.isClosed).toBe(true);
    expect(circuit.downSince).toBeNull();
  });

  test('open emits "open" once with the failure and the time, even when several sends find the relay down', () => {
    circuit = new RelayCircuit({ probe: scriptedProbe(refused), backoff });
    const events = record(circuit);
    circuit.open(down);
    jest.setSystemTime(new Date('2026-12-01T10:00:00.050Z'));
    circuit.open({ ...down, detail: 'a second send' });
    expect(events).toEqual([{ name: 'open', args: [down, new Date('2026-12-01T10:00:00Z')] }]);
    expect(circuit.isClosed).toBe(false);
    expect(circuit.downSince).toEqual(new Date('2026-12-01T10:00:00Z'));
  });

  test('the first probe comes after the base delay, not at once', async () => {
    const probe = scriptedProbe(refused);
    circuit = new RelayCircuit({ probe, backoff });
    circuit.open(down);
    await jest.advanceTimersByTimeAsync(99);
    expect(probe).not.toHaveBeenCalled();
    await jest.advanceTimersByTimeAsync(1);
    expect(probe).toHaveBeenCalledTimes(1);
  });

  test('opening twice schedules one probe, not two', async () => {
    const probe = scriptedProbe(refused);
    circuit = new RelayCircuit({ probe, backoff });
    circuit.open(down);
    circuit.open(down);
    await jest.advanceTimersByTimeAsync(150);
    expect(probe).toHaveBeenCalledTimes(1);
  });

  test('a failed probe emits "probe" with the relay failure and the wait, and the waits double', async () => {
    const probe = scriptedProbe(refused);
    circuit = new RelayCircuit({ probe, backoff });
    const events = record(circuit);
    circuit.open(down);
    await jest.advanceTimersByTimeAsync(100);
    expect(events.slice(1)).toEqual([
      { name: 'probe', args: [{ kind: 'relay-down', code: undefined, enhanced: undefined, command: 'CONN', detail: 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:2525' }, 200] },
    ]);
    await jest.advanceTimersByTimeAsync(199);
    expect(probe).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(probe).toHaveBeenCalledTimes(2);
    await jest.advanceTimersByTimeAsync(400);
    expect(probe).toHaveBeenCalledTimes(3);
    expect(events.filter((e) => e.name === 'probe').map((e) => e.args[1])).toEqual([200, 400, 800]);
    expect(circuit.isClosed).toBe(false);
  });

  test('the wait between probes stops growing at the backoff\'s maximum', async () => {
    circuit = new RelayCircuit({ probe: scriptedProbe(refused), backoff });
    const events = record(circuit);
    circuit.open(down);
    await jest.advanceTimersByTimeAsync(100 + 200 + 400 + 800 + 1_000 + 1_000);
    expect(events.filter((e) => e.name === 'probe').map((e) => e.args[1])).toEqual([200, 400, 800, 1_000, 1_000, 1_000]);
  });

  test('a probe that answers emits "close" with how long the relay was down, and the circuit is closed', async () => {
    const probe = scriptedProbe(refused, 'ok');
    circuit = new RelayCircuit({ probe, backoff });
    const events = record(circuit);
    circuit.open(down);
    await jest.advanceTimersByTimeAsync(300);
    expect(probe).toHaveBeenCalledTimes(2);
    expect(events.map((e) => e.name)).toEqual(['open', 'probe', 'close']);
    expect(events[2]!.args).toEqual([300]);
    expect(circuit.isClosed).toBe(true);
    expect(circuit.downSince).toBeNull();
  });

  test('no probe follows a close', async () => {
    const probe = scriptedProbe('ok');
    circuit = new RelayCircuit({ probe, backoff });
    circuit.open(down);
    await jest.advanceTimersByTimeAsync(100);
    expect(circuit.isClosed).toBe(true);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(probe).toHaveBeenCalledTimes(1);
  });

  test('a relay that goes down again before any mail went through is probed with a longer wait; a mail through starts the backoff over', async () => {
    const probe = scriptedProbe('ok');
    circuit = new RelayCircuit({ probe, backoff });
    circuit.open(down);
    await jest.advanceTimersByTimeAsync(100);
    expect(circuit.isClosed).toBe(true);

    circuit.open(down); // the first send after the close finds it refusing again
    await jest.advanceTimersByTimeAsync(199);
    expect(probe).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(probe).toHaveBeenCalledTimes(2);

    circuit.succeeded(); // a mail went through
    circuit.open(down);
    await jest.advanceTimersByTimeAsync(100);
    expect(probe).toHaveBeenCalledTimes(3);
  });

  test('succeeded while the circuit is open does not reset the backoff', async () => {
    circuit = new RelayCircuit({ probe: scriptedProbe(refused), backoff });
    const events = record(circuit);
    circuit.open(down);
    await jest.advanceTimersByTimeAsync(100);
    circuit.succeeded();
    await jest.advanceTimersByTimeAsync(200);
    expect(events.filter((e) => e.name === 'probe').map((e) => e.args[1])).toEqual([200, 400]);
  });

  test('stop prevents any further probe, and a later open is ignored', async () => {
    const probe = scriptedProbe(refused);
    circuit = new RelayCircuit({ probe, backoff });
    const events = record(circuit);
    circuit.open(down);
    await jest.advanceTimersByTimeAsync(100);
    expect(probe).toHaveBeenCalledTimes(1);
    circuit.stop();
    await jest.advanceTimersByTimeAsync(60_000);
    expect(probe).toHaveBeenCalledTimes(1);

    const fresh = new RelayCircuit({ probe, backoff });
    const freshEvents = record(fresh);
    fresh.stop();
    fresh.open(down);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(freshEvents).toEqual([]);
    expect(fresh.isClosed).toBe(true);
    expect(events.map((e) => e.name)).toEqual(['open', 'probe']);
  });

  test('a probe in flight when the circuit stops emits nothing when it settles', async () => {
    let answer!: () => void;
    const probe = jest.fn(() => new Promise<void>((resolve) => (answer = resolve)));
    circuit = new RelayCircuit({ probe, backoff });
    const events = record(circuit);
    circuit.open(down);
    await jest.advanceTimersByTimeAsync(100);
    expect(probe).toHaveBeenCalledTimes(1);
    circuit.stop();
    answer();
    await jest.advanceTimersByTimeAsync(1_000);
    expect(events.map((e) => e.name)).toEqual(['open']);
    expect(circuit.isClosed).toBe(false);
  });

  test('by default the probes start after about a second and back off to half a minute', () => {
    expect(TUNING.probeBackoff).toMatchObject({ baseMs: 1_000, maxMs: 30_000, factor: 2 });
  });
});
