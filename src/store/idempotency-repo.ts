// idempotency_key: one row per caller (scope) and Idempotency-Key, written in ONE transaction with the msg_log row
// it answers for. A concurrent duplicate from another process meets the uncommitted row's lock: it waits at most
// LOCK_WAIT_SECONDS, then gets 409; once the first commits, a duplicate finds the row and replays its msgId.
// The statements are IDEMPOTENCY_SQL in src/store/idempotency-sql.ts.
import { createHash } from 'node:crypto';
import type { PoolConnection } from 'mariadb';
import { AppError } from '../errors';
import { TUNING } from '../tuning';
import type { Pool } from './db';
import { IDEMPOTENCY_SQL, LOCK_WAIT_SECONDS } from './idempotency-sql';
import type { MsgLogRepo } from './msg-log-repo';
import { MS } from './sql';

export { IDEMPOTENCY_SQL, LOCK_WAIT_SECONDS };

export interface StoredKey {
  fingerprint: string;
  msgId: string;
  /** a batch's answer as it was given (JSON); null for one mail */
  result: string | null;
  expired: boolean;
}

const toStoredKey = (r: Record<string, unknown>): StoredKey => ({ fingerprint: String(r.fingerprint), msgId: String(r.msgId), result: r.result == null ? null : String(r.result), expired: Number(r.expired) === 1 });

export interface KeyRef {
  /** the caller: an API key's id, or `anonymous` */
  scope: string;
  /** sha256 of scope and Idempotency-Key (keyHashOf) */
  keyHash: string;
  fingerprint: string;
}

/** The primary key of a key row: the same Idempotency-Key from two API keys are two different keys. */
export function keyHashOf(scope: string, key: string): string {
  return createHash('sha256').update(`${scope}\u0000${key}`, 'utf8').digest('hex');
}

/** The key was already used with this same body: answer with its msgId, store and publish nothing. */
export class IdempotentReplay extends Error {
  override readonly name = 'IdempotentReplay';
  constructor(
    readonly msgId: string,
    readonly result: string | null = null,
  ) {
    super(`replay of mail ${msgId}`);
  }
}

type NewMsgRow = Parameters<MsgLogRepo['insert']>[0];

const LOCK_CODES = new Set(['ER_LOCK_WAIT_TIMEOUT', 'ER_LOCK_DEADLOCK', 'ER_LOCK_NOWAIT']);
const codeOf = (err: unknown) => (err as { code?: string } | null)?.code;

/** How the mail's row is written inside the key's transaction: a mail to send (the default), or a prepared one. */
export type MailWrite = (conn: PoolConnection, row: NewMsgRow) => Promise<void>;

export class IdempotencyRepo {
  constructor(
    private readonly pool: Pool,
    private readonly repo: MsgLogRepo,
    private readonly ttlMs: number,
  ) {}

  async find(keyHash: string): Promise<StoredKey | null> {
    const rows = await this.pool.query<Record<string, unknown>[]>(IDEMPOTENCY_SQL.find, [keyHash]);
    return rows[0] ? toStoredKey(rows[0]) : null;
  }

  /**
   * Inserts the key row and the msg_log row in one transaction. Throws IdempotentReplay (same body already
   * accepted), AppError IDEMPOTENCY_KEY_REUSED (different body) or IDEMPOTENCY_KEY_IN_USE (a twin still in flight).
   * A msg_log duplicate (an id collision) is rethrown as it is, so the caller retries with a fresh id.
   */
  async insertWithMail(key: KeyRef, row: NewMsgRow, write: MailWrite = (conn, r) => this.repo.insertOn(conn, r), result: string | null = null): Promise<void> {
    const conn = await this.pool.getConnection();
    try {
      await conn.query(IDEMPOTENCY_SQL.shortLockWait);
      for (let attempt = 1; ; attempt++) {
        await conn.beginTransaction();
        let stage: 'key' | 'mail' = 'key';
        try {
          await conn.query(IDEMPOTENCY_SQL.insert, [key.keyHash, key.scope, key.fingerprint, row.msgId, result, this.ttlMs * MS]);
          stage = 'mail';
          await write(conn, row);
          await conn.commit();
          return;
        } catch (err) {
          await conn.rollback().catch(() => undefined);
          if (stage === 'key' && LOCK_CODES.has(codeOf(err) ?? '')) throw new AppError('IDEMPOTENCY_KEY_IN_USE', 'a request with this Idempotency-Key is still in flight; retry once it has finished');
          // A duplicate msg_id (stage 'mail') goes back to the caller as it is: it retries with a fresh id.
          if (stage !== 'key' || codeOf(err) !== 'ER_DUP_ENTRY') throw err;
          if (attempt >= TUNING.duplicateKeyTries) throw new AppError('IDEMPOTENCY_KEY_IN_USE', 'this Idempotency-Key is contended; retry shortly');
          const existing = await this.findOn(conn, key);
          if (existing && !existing.expired) throw settle(existing, key.fingerprint);
          if (existing) await conn.query(IDEMPOTENCY_SQL.deleteExpiredOne, [key.keyHash]);
          // expired (now deleted) or rolled back by its owner: try again
        }
      }
    } finally {
      await conn.query(IDEMPOTENCY_SQL.defaultLockWait).catch(() => undefined);
      await conn.release();
    }
  }

  /** Deletes up to `limit` expired keys; returns how many. */
  async purgeExpired(limit: number = TUNING.idempotencyPurgeBatch): Promise<number> {
    const res = await this.pool.query(IDEMPOTENCY_SQL.purgeExpired, [limit]);
    return Number(res.affectedRows);
  }

  private async findOn(conn: PoolConnection, key: KeyRef): Promise<StoredKey | null> {
    const rows = await conn.query<Record<string, unknown>[]>(IDEMPOTENCY_SQL.find, [key.keyHash]);
    return rows[0] ? toStoredKey(rows[0]) : null;
  }
}

/** What an already stored key means for a request with `fingerprint`. */
export function settle(existing: StoredKey, fingerprint: string): IdempotentReplay | AppError {
  if (existing.fingerprint === fingerprint) return new IdempotentReplay(existing.msgId, existing.result);
  return new AppError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was already used with a different body; use a new key for a new mail');
}
