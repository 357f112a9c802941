// The product applies prisma/migrations itself where Prisma's schema engine cannot be downloaded:
// prove the result is what schema.prisma describes, and that Prisma's own bookkeeping is kept.
import { get_dmmf } from '@prisma/prisma-schema-wasm';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { MIGRATIONS_DIR, migrate, readMigrations } from '../../src/store/migrate';
import { createPrisma } from '../../src/store/prisma';
import { parseDatabaseUrl } from '../../src/store/db';
import { createTestDb, type TestDb } from '../support/services';

interface DmmfField { name: string; dbName: string | null; kind: string; type: string; isRequired: boolean; isId: boolean; nativeType: [string, string[]] | null; hasDefaultValue: boolean }
interface DmmfIndex { model: string; type: string; dbName?: string; fields: { name: string }[] }
interface Dmmf { datamodel: { models: { name: string; dbName: string | null; fields: DmmfField[]; primaryKey: { fields: string[] } | null }[]; indexes: DmmfIndex[] } }

const schema = readFileSync(path.resolve(__dirname, '../../prisma/schema.prisma'), 'utf8');
const dmmf = JSON.parse(get_dmmf(JSON.stringify({ prismaSchema: [['schema.prisma', schema]] }))) as Dmmf;

/** The MySQL column type Prisma Migrate creates for a field. */
function expectedColumnType(f: DmmfField): string {
  const [native, args] = f.nativeType ?? [null, []];
  if (native === 'VarChar') return `varchar(${args[0]})`;
  if (native === 'Text') return 'text';
  if (native === 'DateTime' || (!native && f.type === 'DateTime')) return `datetime(${args[0] ?? 3})`;
  if (!native && f.type === 'Int') return 'int(11)';
  if (!native && f.type === 'BigInt') return 'bigint(20)';
  if (native === 'UnsignedBigInt') return 'bigint(20) unsigned';
  if (native === 'TinyInt') return 'tinyint(4)';
  if (!native && f.type === 'String') return 'varchar(191)';
  throw new Error(`no mapping for ${f.name}: ${f.type} ${native}`);
}

describe('migrations applied by the product', () => {
  let db: TestDb;

  beforeAll(async () => {
    db = await createTestDb();
  });

  afterAll(async () => {
    await db?.drop();
  });

  test('every model in schema.prisma exists as a table with exactly its columns, types, nullability and indexes', async () => {
    const dbName = parseDatabaseUrl(db.url).database;
    for (const model of dmmf.datamodel.models) {
      const table = model.dbName ?? model.name;
      const columns = await db.pool.query<{ COLUMN_NAME: string; COLUMN_TYPE: string; IS_NULLABLE: string; COLUMN_KEY: string }[]>(
        'SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
        [dbName, table],
      );
      const scalars = model.fields.filter((f) => f.kind === 'scalar');
      expect(columns.map((c) => c.COLUMN_NAME).sort()).toEqual(scalars.map((f) => f.dbName ?? f.name).sort());
      for (const f of scalars) {
        const col = columns.find((c) => c.COLUMN_NAME === (f.dbName ?? f.name))!;
        expect({ column: col.COLUMN_NAME, type: col.COLUMN_TYPE, nullable: col.IS_NULLABLE === 'YES', primary: col.COLUMN_KEY === 'PRI' }).toEqual({
          column: f.dbName ?? f.name,
          type: expectedColumnType(f),
          nullable: !f.isRequired,
          primary: f.isId || (model.primaryKey?.fields ?? []).includes(f.name),
        });
      }
      const stats = await db.pool.query<{ INDEX_NAME: string; COLUMN_NAME: string; SEQ_IN_INDEX: number }[]>(
        'SELECT INDEX_NAME, COLUMN_NAME, SEQ_IN_INDEX FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX',
        [dbName, table],
      );
      const actual = new Map<string, string[]>();
      for (const s of stats) actual.set(s.INDEX_NAME, [...(actual.get(s.INDEX_NAME) ?? []), s.COLUMN_NAME]);
      const dbNameOf = (field: string) => model.fields.find((f) => f.name === field)!.dbName ?? field;
      const expected = new Map<string, string[]>();
      for (const idx of dmmf.datamodel.indexes.filter((i) => i.model === model.name)) {
        expected.set(idx.type === 'id' ? 'PRIMARY' : idx.dbName!, idx.fields.map((f) => dbNameOf(f.name)));
      }
      expect(Object.fromEntries(actual)).toEqual(Object.fromEntries(expected));
    }
  });

  test('applied migrations are recorded in _prisma_migrations the way Prisma Migrate records them', async () => {
    const files = await readMigrations(MIGRATIONS_DIR);
    const rows = await db.pool.query<{ migration_name: string; checksum: string; finished_at: Date | null; applied_steps_count: number }[]>(
      'SELECT migration_name, checksum, finished_at, applied_steps_count FROM _prisma_migrations ORDER BY migration_name',
    );
    expect(rows.map((r) => r.migration_name)).toEqual(files.map((f) => f.name));
    expect(rows.map((r) => r.checksum)).toEqual(files.map((f) => f.checksum));
    expect(rows.every((r) => r.finished_at instanceof Date && r.applied_steps_count > 0)).toBe(true);
  });

  test('migrating again applies nothing, and several processes migrating at once apply each migration once', async () => {
    expect(await migrate(db.pool)).toEqual([]);
    const fresh = await createTestDb().catch((e) => Promise.reject(e));
    try {
      // every table the migrations made (msg_log and those of later migrations), so they can all run again
      const tables = await fresh.pool.query<{ t: string }[]>("SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME <> '_prisma_migrations'");
      for (const { t } of tables) await fresh.pool.query(`DROP TABLE \`${t}\``);
      await fresh.pool.query('DELETE FROM _prisma_migrations');
      const results = await Promise.all([migrate(fresh.pool), migrate(fresh.pool), migrate(fresh.pool)]);
      expect(results.flat()).toEqual((await readMigrations()).map((m) => m.name));
    } finally {
      await fresh.drop();
    }
  });

  test('Prisma Client reads and writes the migrated table with the generated types', async () => {
    const prisma = createPrisma(db.pool, parseDatabaseUrl(db.url).database);
    await prisma.msgLog.create({ data: { msgId: '42', msg: '{}', exchange: 'e', routingKey: 'k', nextTryTime: new Date('2030-01-02T03:04:05.678Z') } });
    const row = await prisma.msgLog.findUnique({ where: { msgId: '42' } });
    expect(row).toMatchObject({ msgId: '42', status: 0, tryCount: 0, lastError: null });
    expect(row?.nextTryTime?.toISOString()).toBe('2030-01-02T03:04:05.678Z');
    const raw = await db.pool.query<{ t: string }[]>("SELECT DATE_FORMAT(next_try_time, '%Y-%m-%d %H:%i:%s.%f') AS t FROM msg_log WHERE msg_id = '42'");
    expect(raw[0]!.t).toBe('2030-01-02 03:04:05.678000');
  });
});
