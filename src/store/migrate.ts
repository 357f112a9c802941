// Applies prisma/migrations the way `prisma migrate deploy` does, and records them in _prisma_migrations
// the way Prisma does, so either tool can take over. Used where Prisma's schema engine cannot be downloaded.
import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { TUNING } from '../tuning';
import type { Pool } from './db';

export const MIGRATIONS_DIR = path.resolve(__dirname, '../../prisma/migrations');

// The table exactly as Prisma Migrate creates it on MySQL.
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             DATETIME(3),
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          DATETIME(3),
    started_at              DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    applied_steps_count     INTEGER UNSIGNED NOT NULL DEFAULT 0
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`;

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(path.join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

/** Splits a migration script into statements (Prisma's generated SQL: `;` at the end of a line). */
export function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter((s) => s.length > 0);
}

/** Applies the migrations not yet applied; several processes may start at once, so it takes a named lock. */
export async function migrate(pool: Pool, dir = MIGRATIONS_DIR): Promise<string[]> {
  const conn = await pool.getConnection();
  try {
    const [lock] = await conn.query<{ ok: number }[]>(`SELECT GET_LOCK('mail_dispatch_migrate', ${TUNING.migrationLockWaitS}) AS ok`);
    if (Number(lock?.ok) !== 1) throw new Error(`could not take the migration lock within ${TUNING.migrationLockWaitS} s`);
    try {
      await conn.query(CREATE_MIGRATIONS_TABLE);
      const rows = await conn.query<{ migration_name: string; checksum: string }[]>(
        'SELECT migration_name, checksum FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
      );
      const done = new Map(rows.map((r) => [r.migration_name, r.checksum]));
      const applied: string[] = [];
      for (const m of await readMigrations(dir)) {
        const seen = done.get(m.name);
        if (seen !== undefined) {
          if (seen !== m.checksum) throw new Error(`migration ${m.name} was edited after it was applied (checksum differs)`);
          continue;
        }
        const id = randomUUID();
        await conn.query('INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at) VALUES (?, ?, ?, UTC_TIMESTAMP(3))', [id, m.checksum, m.name]);
        const statements = splitStatements(m.sql);
        for (const statement of statements) await conn.query(statement);
        await conn.query('UPDATE _prisma_migrations SET finished_at = UTC_TIMESTAMP(3), applied_steps_count = ? WHERE id = ?', [statements.length, id]);
        applied.push(m.name);
      }
      return applied;
    } finally {
      await conn.query("SELECT RELEASE_LOCK('mail_dispatch_migrate')");
    }
  } finally {
    await conn.release();
  }
}
