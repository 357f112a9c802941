// --backlog: drain N due rows (as after a long broker outage); --history: one re-delivery round over N finished rows.
import type { ChildProcess } from 'node:child_process';
import { planRedelivery } from '../../src/core/retry';
import { createPool, dropDatabase, ensureDatabase } from '../../src/store/db';
import { migrate } from '../../src/store/migrate';
import { MsgLogRepo } from '../../src/store/msg-log-repo';
import { peakRssMb, rssMb, rssProfile, waitFor } from './bench-util';

/** Inserts rows server-side from MariaDB's sequence engine: a million rows in seconds, with valid mail JSON. */
async function seed(pool: ReturnType<typeof createPool>, rows: number, status: number, nextTry: string, names: { exchange: string; routingKey: string }) {
  for (let from = 1; from <= rows; from += 100_000) {
    const to = Math.min(rows, from + 99_999);
    await pool.query(
      `INSERT INTO msg_log (msg_id, msg, exchange, routing_key, status, try_count, next_try_time, create_time, update_time)
       SELECT CAST(1000000000000 + seq AS CHAR),
              CONCAT('{"msgId":"', 1000000000000 + seq, '","subject":"backlog","content":"${'x'.repeat(200)}","tos":["someone@example.com"]}'),
              ?, ?, ?, 1, ${nextTry}, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)
       FROM seq_${from}_to_${to}`,
      [names.exchange, names.routingKey, status],
    );
  }
}

export async function backlogRun(o: {
  dbUrl: string;
  rows: number;
  sink: { reset(): Promise<void>; count(): Promise<{ received: number }> };
  startApp: (env: Record<string, string>) => Promise<{ proc: ChildProcess; stop(): Promise<void> }>;
}) {
  const pool = createPool(o.dbUrl, 2, undefined, 0); // seeding 100,000 rows in one statement takes longer than a request may
  const name = o.dbUrl.split('/').pop()!;
  const names = { exchange: `${name}.exchange`, queue: `${name}.queue`, routingKey: `${name}.key` };
  try {
    await migrate(pool);
    await seed(pool, o.rows, 4, 'UTC_TIMESTAMP(3) - INTERVAL 1 MINUTE', names);
    await o.sink.reset();
    const t0 = Date.now();
    const app = await o.startApp({ REDELIVERY_CRON: '*/1 * * * * *', MQ_EXCHANGE: names.exchange, MQ_QUEUE: names.queue, MQ_ROUTING_KEY: names.routingKey });
    const rss: number[] = [];
    const sampler = setInterval(() => rss.push(rssMb(app.proc.pid!)), 1000);
    try {
      await waitFor('the backlog to drain', async () => (await o.sink.count()).received >= o.rows, 1_800_000, 200);
      await waitFor('every row consumed', async () => Number((await pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM msg_log WHERE status <> 3'))[0]!.n) === 0, 60_000, 200);
      const ms = Date.now() - t0;
      clearInterval(sampler);
      return { rows: o.rows, seconds: Number((ms / 1000).toFixed(1)), mailsPerSec: Math.round(o.rows / (ms / 1000)), peakRssMb: peakRssMb(app.proc.pid!), ...rssProfile(rss) };
    } finally {
      clearInterval(sampler);
      await app.stop();
    }
  } finally {
    await pool.end();
    await dropDatabase(o.dbUrl).catch(() => undefined);
  }
}

export async function historyRun(serverUrl: string, rows: number) {
  const dbUrl = `${serverUrl}/mail_bench_history_${Date.now().toString(36)}`;
  await ensureDatabase(dbUrl);
  const pool = createPool(dbUrl, 2, undefined, 0);
  try {
    await migrate(pool);
    await seed(pool, rows, 3, 'NULL', { exchange: 'e', routingKey: 'k' });
    await pool.query('ANALYZE TABLE msg_log');
    const repo = new MsgLogRepo(pool, { publishGraceMs: 30_000, consumeDeadlineMs: 900_000, leaseMs: 120_000 });
    const times: number[] = [];
    for (let i = 0; i < 25; i++) {
      const t0 = performance.now();
      const round = await repo.claimDue(500, (row) => planRedelivery(row, 3));
      times.push(performance.now() - t0);
      if (round.republish.length + round.dead.length !== 0) throw new Error('rows were due in a table of finished rows');
    }
    times.sort((a, b) => a - b);
    return { finishedRows: rows, roundMsMedian: Number(times[12]!.toFixed(2)), roundMsMax: Number(times.at(-1)!.toFixed(2)) };
  } finally {
    await pool.end();
    await dropDatabase(dbUrl).catch(() => undefined);
  }
}
