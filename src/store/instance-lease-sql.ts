// Every statement the product runs against instance_lease (src/store/instance-leases.ts runs them). A row is an
// instance number (0..1023) some instance holds until expires_at; all times are the database's, UTC_TIMESTAMP(3).

export const INSTANCE_LEASE_SQL = {
  /** Every row, and whether its lease has run out. */
  list: `SELECT worker_id AS workerId, owner, (expires_at <= UTC_TIMESTAMP(3)) AS expired FROM instance_lease ORDER BY worker_id`,

  /**
   * Takes one number: inserts it when nobody ever held it (or its holder released it), or takes the row over when its
   * lease has run out; a live row is left exactly as it is. Args: workerId, owner, leaseUs.
   *
   * Why this is safe with any number of concurrent takers: the primary key admits one row per number, and on a
   * duplicate InnoDB takes the existing row's exclusive lock and evaluates the assignments against its latest committed
   * version (a locking read, not a snapshot). Two takers of one number are thus serialized on that row: the first to
   * hold the lock finds it expired (or inserts it) and sets a future expires_at; the second then finds a live lease and
   * changes nothing. UTC_TIMESTAMP(3) is fixed for the statement, and the assignments run left to right, so
   * expires_at is assigned last and every IF sees the old one. Whether this taker won is read back by its owner,
   * which is unique per take (the affected-rows count cannot tell "inserted" from "left alone" with FOUND_ROWS).
   */
  take: `INSERT INTO instance_lease (worker_id, owner, acquired_at, expires_at)
    VALUES (?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND)
    ON DUPLICATE KEY UPDATE
      owner = IF(expires_at <= UTC_TIMESTAMP(3), VALUES(owner), owner),
      acquired_at = IF(expires_at <= UTC_TIMESTAMP(3), VALUES(acquired_at), acquired_at),
      expires_at = IF(expires_at <= UTC_TIMESTAMP(3), VALUES(expires_at), expires_at)`,

  /** Who holds a number now. Args: workerId. */
  ownerOf: `SELECT owner FROM instance_lease WHERE worker_id = ?`,

  /**
   * The heartbeat: by its holder only. A lease that ran out but that nobody took over is still renewed: nobody else
   * has made an id with the number since. No row matched means it was taken over. Args: leaseUs, workerId, owner.
   */
  renew: `UPDATE instance_lease SET expires_at = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND WHERE worker_id = ? AND owner = ?`,

  /** At stop: by its holder only, so a number taken over meanwhile stays with its new holder. Args: workerId, owner. */
  release: `DELETE FROM instance_lease WHERE worker_id = ? AND owner = ?`,
} as const;
