// Snowflake ids for msg_id: time-ordered 64-bit integers, carried as decimal strings outside the database.
// Layout: 42 bits of milliseconds since 2024-01-01, 10 bits of instance number (0..1023: @sapphire/snowflake's 5-bit
// workerId over its 5-bit processId), 12 bits of sequence. Two processes never share an instance number: each leases
// one in the database (src/store/instance-leases.ts), or SNOWFLAKE_WORKER_ID pins one.
import { Snowflake } from '@sapphire/snowflake';

// 2024-01-01T00:00:00Z: ids stay short for decades.
export const SNOWFLAKE_EPOCH = 1_704_067_200_000n;
/** 10 bits: instance numbers are 0..1023 */
export const INSTANCE_COUNT = 1024;
const MAX_INCREMENT = 4095n; // 12 bits

/** The parts of a msg id. */
export interface MsgIdParts {
  /** ms since the Unix epoch */
  timestamp: bigint;
  instance: number;
  increment: bigint;
}

const codec = new Snowflake(SNOWFLAKE_EPOCH);

export function decodeMsgId(id: string): MsgIdParts {
  const p = codec.deconstruct(id);
  return { timestamp: p.timestamp, instance: Number((p.workerId << 5n) | p.processId), increment: p.increment };
}

function checkInstance(instance: number): number {
  if (!Number.isInteger(instance) || instance < 0 || instance >= INSTANCE_COUNT) {
    throw new RangeError(`an instance number is an integer from 0 to ${INSTANCE_COUNT - 1}, not ${instance}`);
  }
  return instance;
}

export class MsgIdGenerator {
  private readonly instanceNow: () => number;
  private lastInstance = -1;
  private lastMs = 0n;
  private increment = 0n;

  /**
   * `instance`: this process's instance number (0..1023), or where it is leased, a function that answers the one held
   * now and throws while none may be used (the id is then not made: the caller answers 503).
   */
  constructor(
    instance: number | (() => number),
    private readonly now: () => number = Date.now,
  ) {
    if (typeof instance === 'function') {
      this.instanceNow = instance;
    } else {
      const fixed = checkInstance(instance);
      this.instanceNow = () => fixed;
    }
  }

  /**
   * Strictly increasing within this generator. The library's counter wraps at 4096 without looking at the
   * clock, so the increment is kept here: reset each millisecond, and borrowed from the next one when spent. When the
   * instance number changes (a lease lost and another taken), the next id moves to a later millisecond, so ids still increase.
   */
  next(): string {
    const instance = checkInstance(this.instanceNow());
    const ms = BigInt(this.now());
    if (ms > this.lastMs) {
      this.lastMs = ms;
      this.increment = 0n;
    } else if (this.increment < MAX_INCREMENT && instance === this.lastInstance) {
      this.increment++;
    } else {
      this.lastMs++;
      this.increment = 0n;
    }
    this.lastInstance = instance;
    return codec
      .generate({ timestamp: this.lastMs, increment: this.increment, workerId: BigInt(instance >> 5), processId: BigInt(instance & 31) })
      .toString();
  }
}
