import { Snowflake } from '@sapphire/snowflake';
import { decodeMsgId, MsgIdGenerator, SNOWFLAKE_EPOCH } from '../../src/core/ids';

const decoder = new Snowflake(SNOWFLAKE_EPOCH);
const UINT64_MAX = 18_446_744_073_709_551_615n;

describe('MsgIdGenerator', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  test('ids are decimal strings without leading zeros that fit in 20 digits and in an unsigned 64-bit integer', () => {
    const gen = new MsgIdGenerator(1023);
    for (let i = 0; i < 1000; i++) {
      const id = gen.next();
      expect(id).toMatch(/^[1-9]\d{0,19}$/);
      expect(BigInt(id) <= UINT64_MAX).toBe(true);
    }
  });

  test('10,000 ids from one generator are unique', () => {
    const gen = new MsgIdGenerator(33);
    const ids = Array.from({ length: 10_000 }, () => gen.next());
    expect(new Set(ids).size).toBe(10_000);
  });

  // Fails against the first src/core/ids.ts: @sapphire/snowflake's 12-bit sequence wraps from 4095 to 0
  // without waiting for the next millisecond, so the id after every 4096th one is smaller when both fall in the same ms.
  test('10,000 ids from one generator are strictly increasing', () => {
    const gen = new MsgIdGenerator(33);
    const ids = Array.from({ length: 10_000 }, () => BigInt(gen.next()));
    const decreases: string[] = [];
    for (let i = 1; i < ids.length; i++) if (ids[i]! <= ids[i - 1]!) decreases.push(`#${i}: ${ids[i - 1]} -> ${ids[i]}`);
    expect(decreases).toEqual([]);
  });

  // Fails against the first src/core/ids.ts, for the same reason: the sequence wraps inside one millisecond.
  test('ids stay unique when more than 4096 are drawn within one millisecond', () => {
    const gen = new MsgIdGenerator(66, () => Date.parse('2026-11-21T12:00:00.000Z'));
    const ids = Array.from({ length: 4097 }, () => gen.next());
    expect(new Set(ids).size).toBe(4097);
  });

  test('two instance numbers that the old workerId and pid modulo 32 confused give different ids in the same millisecond', () => {
    const now = () => Date.parse('2026-11-21T12:00:00.000Z');
    // 1 and 33 had the same processId (pid % 32) and differ only in the upper five bits; 32 and 0 likewise.
    const ids = [0, 1, 32, 33, 1023].map((n) => new MsgIdGenerator(n, now).next());
    expect(new Set(ids).size).toBe(5);
    expect(new Set(ids.map((id) => decodeMsgId(id).timestamp)).size).toBe(1);
    expect(ids.map((id) => decodeMsgId(id).instance)).toEqual([0, 1, 32, 33, 1023]);
  });

  test('the id carries the time since the 2024 epoch, the instance number split into the five-bit workerId and processId, and the sequence', () => {
    const now = new Date('2030-01-02T03:04:05.678Z');
    const gen = new MsgIdGenerator(0b10110_01101, () => now.getTime());
    gen.next();
    const id = gen.next();
    const parts = decoder.deconstruct(id);
    expect(parts.timestamp).toBe(BigInt(now.getTime()));
    expect(parts.workerId).toBe(0b10110n);
    expect(parts.processId).toBe(0b01101n);
    expect(parts.increment).toBe(1n);
    expect(decodeMsgId(id)).toEqual({ timestamp: BigInt(now.getTime()), instance: 0b10110_01101, increment: 1n });
    // the 64-bit layout: 42 bits of ms since the epoch, 10 bits of instance, 12 bits of sequence
    expect(BigInt(id)).toBe(((BigInt(now.getTime()) - SNOWFLAKE_EPOCH) << 22n) | (0b10110_01101n << 12n) | 1n);
  });

  test('the default clock is Date.now: ids drawn later are larger than ids drawn earlier', () => {
    jest.useFakeTimers({ now: new Date('2026-11-21T12:00:00.000Z') });
    const gen = new MsgIdGenerator(5);
    const first = BigInt(gen.next());
    jest.setSystemTime(new Date('2026-11-21T12:00:00.001Z'));
    const second = BigInt(gen.next());
    expect(second > first).toBe(true);
    expect(decodeMsgId(second.toString()).timestamp).toBe(BigInt(Date.parse('2026-11-21T12:00:00.001Z')));
  });

  test('a clock that steps back does not make a smaller or repeated id', () => {
    let t = Date.parse('2026-11-21T12:00:01.000Z');
    const gen = new MsgIdGenerator(7, () => t);
    const before = BigInt(gen.next());
    t -= 5_000;
    const after = BigInt(gen.next());
    expect(after > before).toBe(true);
  });

  test('an instance number outside 0..1023, or not an integer, is refused rather than folded into range', () => {
    expect(() => new MsgIdGenerator(1024)).toThrow(RangeError);
    expect(() => new MsgIdGenerator(-1)).toThrow(RangeError);
    expect(() => new MsgIdGenerator(1.5)).toThrow(RangeError);
  });

  test('a leased instance number is read at every id: ids follow a new lease, still increasing, and none is made while none is held', () => {
    const t = Date.parse('2026-11-21T12:00:00.000Z');
    let held: number | null = 900;
    const gen = new MsgIdGenerator(() => {
      if (held === null) throw new Error('no instance number held');
      return held;
    }, () => t);
    const first = gen.next();
    held = null;
    expect(() => gen.next()).toThrow('no instance number held');
    held = 3; // a lower number in the same millisecond: the id moves to the next millisecond to stay larger
    const second = gen.next();
    expect(decodeMsgId(first).instance).toBe(900);
    expect(decodeMsgId(second).instance).toBe(3);
    expect(BigInt(second) > BigInt(first)).toBe(true);
    held = 4096;
    expect(() => gen.next()).toThrow(RangeError);
  });
});
