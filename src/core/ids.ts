// Snowflake ids for msg_id: time-ordered 64-bit integers, carried as decimal strings outside the database.
import { Snowflake } from '@sapphire/snowflake';

// 2024-01-01T00:00:00Z: ids stay short for decades.
export const SNOWFLAKE_EPOCH = 1_704_067_200_000n;

export class MsgIdGenerator {
  private readonly snowflake = new Snowflake(SNOWFLAKE_EPOCH);
  private readonly workerId: bigint;
  private readonly processId: bigint;

  /** workerId 0..31 tells app instances apart; processId comes from the pid. */
  constructor(workerId: number = Math.floor(Math.random() * 32), pid: number = process.pid) {
    this.workerId = BigInt(workerId % 32);
    this.processId = BigInt(pid % 32);
  }

  next(): string {
    return this.snowflake.generate({ workerId: this.workerId, processId: this.processId }).toString();
  }
}
