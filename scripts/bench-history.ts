// What the msg_event triggers cost on the hot path: the same statements a mail goes through (insert, confirm
// batch, claim, consumed), run with and without the triggers on two fresh databases, several rounds each.
//
//   npx tsx scripts/bench-history.ts                 # 4000 mails x 3 rounds, 16 concurrent mails
//   BENCH_MAILS=20000 BENCH_CONCURRENCY=32 npx tsx scripts/bench-history.ts
//
// Uses DATABASE_URL's server (default mysql://root@127.0.0.1:3306); the two databases are dropped at the end.
import { randomBytes } from 'node:crypto';
import { createPool, dropDatabase, ensureDatabase, type Pool } from '../src/store/db';
import { migrate } from '../src/store/migrate';
import { MsgLogRepo } from '../src/store/msg-log-repo';

const SERVER = (process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/x').replace(/\/[^/]*$/, '');
const MAILS = Number(process.env.BENCH_MAILS ?? 4000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BATCH = 50; // confirms recorded per UPDATE, as the dispatcher's batcher does under load

interface Target {
  name: string;
  url: string;
  pool: Pool;
  repo: MsgLogRepo;
}

async function target(name: string, triggers: boolean): Promise<Target> {
  const url = `${SERVER}/mdbench_${name}_${randomBytes(3).toString('hex')}`;
  await ensureDatabase(url);
  const pool = createPool(url, CONCURRENCY + 2);
  await migrate(pool);
  if (!triggers) {
    await pool.query('DROP TRIGGER msg_log_event_insert');
    await pool.query('DROP TRIGGER msg_log_event_update');
  }
  return { name, url, pool, repo: new MsgLogRepo(pool, { publishGraceMs: 30_000, consumeDeadlineMs: 900_000, leaseMs: 120_000 }) };
}

/** One mail's life on the hot path, with confirms batched like the dispatcher's. */
async function run(t: Target, round: number): Promise<number> {
  let next = 0;
  const pending: { id: string; done: () => void }[] = [];
  const flush = async () => {
    const batch = pending.splice(0, BATCH);
    if (batch.length === 0) return;
    await t.repo.markDelivered(batch.map((b) => b.id), 0);
    for (const b of batch) b.done();
  };
  const flusher = setInterval(() => void flush(), 2);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      for (;;) {
        const i = next++;
        if (i >= MAILS) return;
        const id = `${round}${String(w).padStart(3, '0')}${String(i).padStart(9, '0')}`;
        await t.repo.insert({ msgId: id, msg: JSON.stringify({ msgId: id, subject: 's', content: 'c', tos: ['a@example.com'] }), exchange: 'e', routingKey: 'k' });
        await new Promise<void>((done) => {
          pending.push({ id, done });
          if (pending.length >= BATCH) void flush();
        });
        if (!(await t.repo.claim(id, `bench:${w}`))) throw new Error('claim failed');
        if (!(await t.repo.markConsumed(id, null))) throw new Error('consume failed');
      }
    }),
  );
  clearInterval(flusher);
  return MAILS / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  const withT = await target('with', true);
  const without = await target('without', false);
  const results: Record<string, number[]> = { with: [], without: [] };
  try {
    for (let r = 0; r < ROUNDS; r++) {
      // alternate the order, so neither side always runs on a warmer server
      for (const t of r % 2 ? [withT, without] : [without, withT]) results[t.name]!.push(await run(t, r + 1));
    }
    const [ev] = await withT.pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM msg_event');
    const [size] = await withT.pool.query<{ data: number; idx: number }[]>(
      "SELECT DATA_LENGTH AS data, INDEX_LENGTH AS idx FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'msg_event'",
    );
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    const w = median(results.with!);
    const wo = median(results.without!);
    const mails = MAILS * ROUNDS;
    console.log(`hot path (insert, confirm batch of ${BATCH}, claim, consumed), ${MAILS} mails x ${ROUNDS} rounds, ${CONCURRENCY} concurrent`);
    console.log(`  without msg_event triggers: ${results.without!.map((x) => x.toFixed(0)).join(', ')} mails/s (median ${wo.toFixed(0)})`);
    console.log(`  with msg_event triggers:    ${results.with!.map((x) => x.toFixed(0)).join(', ')} mails/s (median ${w.toFixed(0)})`);
    console.log(`  cost: ${(((wo - w) / wo) * 100).toFixed(1)}% of throughput; ${(Number(ev!.n) / mails).toFixed(2)} history rows per mail; ` +
      `~${Math.round((Number(size!.data) + Number(size!.idx)) / Number(ev!.n))} bytes per row with indexes (InnoDB estimate)`);
  } finally {
    for (const t of [withT, without]) {
      await t.pool.end().catch(() => undefined);
      await dropDatabase(t.url).catch(() => undefined);
    }
  }
}

void main();
