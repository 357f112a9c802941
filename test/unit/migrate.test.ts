import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MIGRATIONS_DIR, readMigrations, splitStatements } from '../../src/store/migrate';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('splitStatements', () => {
  test('splits on a semicolon at the end of a line', () => {
    expect(splitStatements('CREATE TABLE a (x INT);\nCREATE TABLE b (y INT);\n')).toEqual(['CREATE TABLE a (x INT)', 'CREATE TABLE b (y INT)']);
  });

  test('keeps a multi-line statement together', () => {
    const sql = 'CREATE TABLE a (\n  x INT,\n  y INT\n);\n';
    expect(splitStatements(sql)).toEqual(['CREATE TABLE a (\n  x INT,\n  y INT\n)']);
  });

  test('removes whole-line -- comments, as Prisma writes them above each statement', () => {
    const sql = '-- CreateTable\nCREATE TABLE a (x INT);\n\n-- CreateIndex\nCREATE INDEX i ON a(x);\n';
    expect(splitStatements(sql)).toEqual(['CREATE TABLE a (x INT)', 'CREATE INDEX i ON a(x)']);
  });

  test('does not split on a semicolon in the middle of a line', () => {
    expect(splitStatements("INSERT INTO t VALUES ('a;b');\n")).toEqual(["INSERT INTO t VALUES ('a;b')"]);
  });

  test('tolerates trailing spaces after the semicolon and a last statement without one', () => {
    expect(splitStatements('SELECT 1;   \nSELECT 2')).toEqual(['SELECT 1', 'SELECT 2']);
  });

  test('handles Windows line endings', () => {
    expect(splitStatements('SELECT 1;\r\nSELECT 2;\r\n')).toEqual(['SELECT 1', 'SELECT 2']);
  });

  test.each([[''], ['   \n\n'], ['-- only a comment\n'], [';\n;\n']])('gives no statements for %p', (sql) => {
    expect(splitStatements(sql)).toEqual([]);
  });
});

describe('readMigrations on the real prisma/migrations folder', () => {
  test('MIGRATIONS_DIR points at prisma/migrations of this project', () => {
    expect(MIGRATIONS_DIR).toBe(path.resolve(__dirname, '../../prisma/migrations'));
  });

  test('returns one migration per folder, sorted by name, ignoring migration_lock.toml', async () => {
    const folders = readdirSync(MIGRATIONS_DIR, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    const migrations = await readMigrations();
    expect(migrations.length).toBeGreaterThan(0);
    expect(migrations.map((m) => m.name)).toEqual([...folders].sort());
    expect(migrations.map((m) => m.name)).not.toContain('migration_lock.toml');
  });

  test('each checksum is the sha256 hex of the migration.sql content', async () => {
    for (const m of await readMigrations()) {
      const content = readFileSync(path.join(MIGRATIONS_DIR, m.name, 'migration.sql'), 'utf8');
      expect(m.sql).toBe(content);
      expect(m.checksum).toMatch(/^[0-9a-f]{64}$/);
      expect(m.checksum).toBe(sha256(content));
    }
  });

  test('the first (init) migration creates msg_log with its primary key and the due-row index', async () => {
    const [init] = await readMigrations();
    expect(init!.name).toMatch(/^\d{14}_init$/);
    const statements = splitStatements(init!.sql);
    const create = statements.find((s) => /^CREATE TABLE `msg_log`/.test(s));
    expect(create).toBeDefined();
    expect(create).toMatch(/PRIMARY KEY \(`msg_id`\)/);
    expect(create).toMatch(/`next_try_time`/);
    for (const column of ['msg_id', 'msg', 'status', 'try_count', 'next_try_time', 'lease_until', 'lease_owner', 'last_error']) {
      expect(create).toContain(`\`${column}\``);
    }
  });
});

describe('readMigrations on a folder of its own', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'migrations-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('sorts folders by name whatever order they were created in, and skips loose files', async () => {
    for (const name of ['20260301000000_c', '20260101000000_a', '20260201000000_b']) {
      mkdirSync(path.join(dir, name));
      writeFileSync(path.join(dir, name, 'migration.sql'), `-- ${name}\nSELECT 1;\n`);
    }
    writeFileSync(path.join(dir, 'migration_lock.toml'), 'provider = "mysql"\n');
    const migrations = await readMigrations(dir);
    expect(migrations.map((m) => m.name)).toEqual(['20260101000000_a', '20260201000000_b', '20260301000000_c']);
    expect(migrations[0]!.checksum).toBe(sha256('-- 20260101000000_a\nSELECT 1;\n'));
  });

  test('a one-byte edit changes the checksum', async () => {
    mkdirSync(path.join(dir, '1_x'));
    writeFileSync(path.join(dir, '1_x', 'migration.sql'), 'SELECT 1;\n');
    const before = (await readMigrations(dir))[0]!.checksum;
    writeFileSync(path.join(dir, '1_x', 'migration.sql'), 'SELECT 2;\n');
    const after = (await readMigrations(dir))[0]!.checksum;
    expect(after).not.toBe(before);
  });

  test('a folder without migration.sql is an error, not a silently skipped migration', async () => {
    mkdirSync(path.join(dir, '1_empty'));
    await expect(readMigrations(dir)).rejects.toThrow(/ENOENT/);
  });
});
