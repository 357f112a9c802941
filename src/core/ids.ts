// Snowflake ids for msg_id: time-ordered 64-bit integers, carried as decimal strings outside the database.
import { Snowflake } from '@sapphire/snowflake';

// 2024-01-01T00:00:00Z: ids stay short for decades.
export const SNOWFLAKE_EPOCH = 1_704_067_200_000n;
const MAX_INCREMENT = 4095n; // 12 bits

export class MsgIdGenerator {
  private readonly snowflake = new Snowflake(SNOWFLAKE_EPOCH);
  private readonly workerId: bigint;
  private readonly processId: bigint;
  private lastMs = 0n;
  private increment = 0n;

  /** workerId 0..31 tells app instances apart; processId comes from the pid. */
  constructor(
    workerId: number = Math.floor(Math.random() * 32),
    pid: number = process.pid,
    private readonly now: () => number = Date.now,
  ) {
    this.workerId = BigInt(workerId % 32);
    this.processId = BigInt(pid % 32);
  }

  /**
   * Strictly increasing within this generator. The library's counter wraps at 4096 without looking at the
   * clock, so the increment is kept here: reset each millisecond, and borrowed from the next one when spent.
   */
  next(): string {
    const ms = BigInt(this.now());
    if (ms > this.lastMs) {
      this.lastMs = ms;
      this.increment = 0n;
    } else if (this.increment < MAX_INCREMENT) {
      this.increment++;
    } else {
      this.lastMs++;
      this.increment = 0n;
    }
    return this.snowflake
      .generate({ timestamp: this.lastMs, increment: this.increment, workerId: this.workerId, processId: this.processId })
      .toString();
  }
}
