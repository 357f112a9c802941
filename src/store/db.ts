// The MariaDB/MySQL connection pool: one pool, shared by the raw SQL of the hot path and by Prisma Client.
import * as mariadb from 'mariadb';
import { TUNING } from '../tuning';

export type Pool = mariadb.Pool;

export interface DbTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

export function parseDatabaseUrl(url: string): DbTarget {
  const u = new URL(url);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_$-]{1,64}$/.test(database)) throw new Error('DATABASE_URL must name a database, e.g. mysql://root@127.0.0.1:3306/mail_dispatch');
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username || 'root'),
    password: decodeURIComponent(u.password),
    database,
  };
}

export function createPool(
  url: string,
  connectionLimit: number,
  onBackgroundError: (err: Error) => void = () => undefined,
  socketTimeoutMs: number = TUNING.dbSocketTimeoutMs,
): Pool {
  const t = parseDatabaseUrl(url);
  const pool = mariadb.createPool({
    host: t.host,
    port: t.port,
    user: t.user,
    password: t.password,
    database: t.database,
    connectionLimit,
    // No per-session setup: every time the product writes is UTC_TIMESTAMP(3) (+ INTERVAL), so DATETIME holds UTC
    // whatever the server's or the app's time zone, and Prisma reads DATETIME as UTC. (An initSql would also open a
    // window in which a socket error during connect is thrown outside any promise by the driver.)
    connectTimeout: TUNING.dbAcquireTimeoutMs,
    acquireTimeout: TUNING.dbAcquireTimeoutMs,
    socketTimeout: socketTimeoutMs,
    // The pool grows to connectionLimit on demand and shrinks to one when idle (a fixed pool let the socket timeout
    // cut its idle connections, each cut a warning in MariaDB's error log).
    minimumIdle: 1,
    idleTimeout: TUNING.dbIdleTimeoutS,
    insertIdAsNumber: true,
    bigIntAsNumber: true,
  });
  // The pool reconnects in the background while the database is away; without a listener its 'error' would crash the process.
  (pool as unknown as NodeJS.EventEmitter).on('error', onBackgroundError);
  return pool;
}

/** Creates the database named in the URL when it is missing (a newcomer's first start). */
export async function ensureDatabase(url: string): Promise<void> {
  const t = parseDatabaseUrl(url);
  const conn = await mariadb.createConnection({ host: t.host, port: t.port, user: t.user, password: t.password, connectTimeout: TUNING.dbCreateConnectTimeoutMs });
  try {
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${t.database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await conn.end();
  }
}

/** Drops a database; for tests and tools that made their own. */
export async function dropDatabase(url: string): Promise<void> {
  const t = parseDatabaseUrl(url);
  const conn = await mariadb.createConnection({ host: t.host, port: t.port, user: t.user, password: t.password });
  try {
    await conn.query(`DROP DATABASE IF EXISTS \`${t.database}\``);
  } finally {
    await conn.end();
  }
}

/**
 * Runs `work` in one transaction on a connection of its own: committed when it resolves, rolled back when it throws.
 * `readCommitted`: only the rows taken are locked (no gap locks), so racing instances skip to the next ones.
 */
export async function inTransaction<T>(pool: Pool, work: (conn: mariadb.PoolConnection) => Promise<T>, opts: { readCommitted?: boolean } = {}): Promise<T> {
  const conn = await pool.getConnection();
  try {
    if (opts.readCommitted) await conn.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
    return await transactionOn(conn, work);
  } finally {
    await conn.release();
  }
}

/**
 * One statement with many rows' values, all or nothing: on MariaDB one bulk command (atomic by itself); on MySQL,
 * whose server has no bulk command (the connector sends one statement per row), inside a transaction.
 */
export async function batchAtomically(pool: Pool, sql: string, values: unknown[][]): Promise<void> {
  const conn = await pool.getConnection();
  try {
    if (conn.info?.isMariaDB()) await conn.batch(sql, values);
    else await transactionOn(conn, (c) => c.batch(sql, values));
  } finally {
    await conn.release();
  }
}

async function transactionOn<T>(conn: mariadb.PoolConnection, work: (conn: mariadb.PoolConnection) => Promise<T>): Promise<T> {
  await conn.beginTransaction();
  try {
    const result = await work(conn);
    await conn.commit();
    return result;
  } catch (err) {
    await conn.rollback().catch(() => undefined);
    throw err;
  }
}
