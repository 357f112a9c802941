// Every statement on the suppression list (src/core/suppression.ts says which refusals put an address on it).

const rows = (n: number, one: string) => Array.from({ length: n }, () => one).join(', ');

export const SUPPRESSION_SQL = {
  /**
   * Addresses refused as unknown, in the transaction of the send's outcome. An address lifted before is suppressed
   * again from now (create_time is assigned first, while lifted_time still says whether it was lifted).
   * Args per row: address, reason, msgId.
   */
  upsert: (n: number) => `INSERT INTO suppression (address, reason, msg_id, create_time, lifted_time, change_time)
    VALUES ${rows(n, '(?, ?, ?, UTC_TIMESTAMP(3), NULL, UTC_TIMESTAMP(3))')}
    ON DUPLICATE KEY UPDATE
      create_time = IF(lifted_time IS NULL, create_time, VALUES(create_time)),
      reason = VALUES(reason), msg_id = VALUES(msg_id), lifted_time = NULL, change_time = VALUES(change_time)`,

  /** A person lifts an address: the row stays, lifted, so every process's copy of the list sees it go. Args: address. */
  lift: `UPDATE suppression SET lifted_time = UTC_TIMESTAMP(3), change_time = UTC_TIMESTAMP(3) WHERE address = ? AND lifted_time IS NULL`,

  /** Suppressed addresses in address order, after a cursor, optionally starting with a prefix. Args: after, prefix, limit. */
  list: `SELECT address, reason, msg_id AS msgId, create_time AS createTime FROM suppression
    WHERE lifted_time IS NULL AND address > ? AND address LIKE CONCAT(?, '%') ORDER BY address LIMIT ?`,

  /** One address. Args: address. */
  find: `SELECT address, reason, msg_id AS msgId, create_time AS createTime FROM suppression WHERE address = ? AND lifted_time IS NULL`,

  /** Suppressed addresses now. */
  count: `SELECT COUNT(*) AS n FROM suppression WHERE lifted_time IS NULL`,

  /**
   * Changes (suppressed or lifted) from a time on, in (change_time, address) order, the order of the index (InnoDB
   * keeps the primary key in it). Args: since, since, afterAddress, limit.
   */
  changes: `SELECT address, lifted_time IS NULL AS active, change_time AS changeTime FROM suppression FORCE INDEX (idx_suppression_change_time)
    WHERE change_time > ? OR (change_time = ? AND address > ?) ORDER BY change_time, address LIMIT ?`,

  /** The database's clock, so the copies read changes by its time, not the process's. */
  now: `SELECT UTC_TIMESTAMP(3) AS now`,
} as const;
