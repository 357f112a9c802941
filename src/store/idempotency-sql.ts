// Every statement the product runs against idempotency_key (src/store/idempotency-repo.ts runs them). A key row is
// written in the same transaction as the msg_log row it answers for (SQL.insert); all times are the database's.

/** InnoDB's minimum (seconds): how long a duplicate waits for an in-flight twin before answering 409. */
export const LOCK_WAIT_SECONDS = 1;

export const IDEMPOTENCY_SQL = {
  /** Args: keyHash, scope, fingerprint, msgId, result (a batch's answer, or NULL), ttlUs. */
  insert: `INSERT INTO idempotency_key (key_hash, scope, fingerprint, msg_id, result, create_time, expire_time)
    VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND)`,

  /** Args: keyHash. */
  find: `SELECT fingerprint, msg_id AS msgId, result, (expire_time <= UTC_TIMESTAMP(3)) AS expired
    FROM idempotency_key WHERE key_hash = ?`,

  /** An expired key may be used again. Args: keyHash. */
  deleteExpiredOne: `DELETE FROM idempotency_key WHERE key_hash = ? AND expire_time <= UTC_TIMESTAMP(3)`,

  /** Bounded, so a purge never holds locks for long. Args: limit. */
  purgeExpired: `DELETE FROM idempotency_key WHERE expire_time <= UTC_TIMESTAMP(3) LIMIT ?`,

  /** For the connection of one keyed insert: a duplicate waits for its twin's row lock at most LOCK_WAIT_SECONDS. */
  shortLockWait: `SET SESSION innodb_lock_wait_timeout = ${LOCK_WAIT_SECONDS}`,

  /** Before the connection goes back to the pool. */
  defaultLockWait: `SET SESSION innodb_lock_wait_timeout = DEFAULT`,
} as const;
