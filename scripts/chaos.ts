// npm run chaos: plays the fault scenarios that make sense against a RUNNING mail-dispatch deployment and prints
// the same figures as the fault suite (sent, consumed, dead, lost, duplicated, uncertain), so anyone can check
// their own setup. It starts its own SMTP sink; point the deployment's SMTP_URL at it. See docs/reliability.md.
//
//   BASE_URL            the API                                         (default http://127.0.0.1:8080)
//   DATABASE_URL        the deployment's database, to read msg_log      (default mysql://root@127.0.0.1:3306/mail_dispatch)
//   API_KEY             sent as "Authorization: Bearer $API_KEY"        (optional)
//   SINK_PORT, SINK_HOST  where the sink listens; the deployment needs SMTP_URL=smtp://<host>:<port>?ignoreTLS=true
//                       (default 2525 on 127.0.0.1; 0.0.0.0 when the deployment runs in a container)
//   AMQP_URL            the deployment's broker, for duplicate-delivery and poison (skipped when unset)
//   MQ_QUEUE            the deployment's queue, to find its parking queue <MQ_QUEUE>.parked (default mail.queue)
//   CHAOS_MAILS         mails per scenario (default 50)
//   CHAOS_BOUND_MS      how long rows may take to settle after a scenario (default 300000: the default backoff is 10 s, 20 s, ...)
//   CHAOS_SCENARIOS     comma-separated subset (default: all that can run)
//   CHAOS_BROKER_RESTART=1  also restart the broker with rabbitmqctl stop_app/start_app (the broker must be on this host)
//   CHAOS_SMTP_HANG=1   also play an SMTP server that never answers (takes the deployment's SMTP_TIMEOUT_MS per mail)
//   CHAOS_OUT           the summary file (default test-artifacts/chaos-summary.md)
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { connect } from 'amqplib';
import { Status } from '../src/core/status';
import { createPool, type Pool } from '../src/store/db';
import { FaultSink, type SinkAction } from '../test/support/fault-sink';
import { rabbitmqctl } from '../test/support/rabbit';
import { readRows, ScenarioRun, Traffic } from '../test/faults/harness';
import { sleep, waitFor } from '../test/support/wait';

/** waitFor's value, or undefined once it timed out: a scenario records a check that failed and goes on. */
const settled = <T>(wait: Promise<T>): Promise<T | undefined> => wait.catch(() => undefined);
import { formatTable, type ScenarioRecord } from '../test/faults/summary-format';

export interface ChaosOptions {
  baseUrl: string;
  databaseUrl: string;
  apiKey?: string;
  sinkPort: number;
  sinkHost: string;
  amqpUrl?: string;
  queue: string;
  mails: number;
  boundMs: number;
  scenarios?: string[];
  brokerRestart: boolean;
  smtpHang: boolean;
  out: string;
  /** wait after a scenario settles, for late copies */
  quietMs: number;
  /** where each scenario's JSON goes */
  resultsDir: string;
  log: (line: string) => void;
}

export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): ChaosOptions {
  const root = path.resolve(__dirname, '..');
  return {
    baseUrl: (env.BASE_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, ''),
    databaseUrl: env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/mail_dispatch',
    apiKey: env.API_KEY || undefined,
    sinkPort: Number(env.SINK_PORT ?? 2525),
    sinkHost: env.SINK_HOST ?? '127.0.0.1',
    amqpUrl: env.AMQP_URL || undefined,
    queue: env.MQ_QUEUE ?? 'mail.queue',
    mails: Number(env.CHAOS_MAILS ?? 50),
    boundMs: Number(env.CHAOS_BOUND_MS ?? 300_000),
    scenarios: env.CHAOS_SCENARIOS ? env.CHAOS_SCENARIOS.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
    brokerRestart: env.CHAOS_BROKER_RESTART === '1',
    smtpHang: env.CHAOS_SMTP_HANG === '1',
    out: env.CHAOS_OUT ?? path.join(root, 'test-artifacts', 'chaos-summary.md'),
    quietMs: 2000,
    resultsDir: path.join(root, 'test-artifacts', 'chaos'),
    log: (line) => process.stdout.write(`${line}\n`),
  };
}

interface Ctx {
  o: ChaosOptions;
  sink: FaultSink;
  pool: Pool;
  run: string;
  /** per-scenario SMTP behaviour, chosen by the scenario name in the subject */
  rules: Map<string, (attempt: number) => SinkAction>;
}

interface Scenario {
  name: string;
  fault: string;
  needs?: (o: ChaosOptions) => string | null;
  play: (ctx: Ctx, sc: ScenarioRun) => Promise<{ accepted: string[] }>;
}

const subject = (ctx: Ctx, scenario: string) => (i: number) => `chaos ${scenario} ${ctx.run} ${i}`;

async function traffic(ctx: Ctx, scenario: string, n = ctx.o.mails): Promise<Traffic> {
  const t = new Traffic(ctx.o.baseUrl, n, { concurrency: 5, apiKey: ctx.o.apiKey, subject: subject(ctx, scenario), to: 'chaos@example.com', timeoutMs: 20_000 });
  await t.done;
  return t;
}

async function bodies(ctx: Ctx, ids: readonly string[]): Promise<{ msgId: string; exchange: string; routingKey: string; body: Buffer }[]> {
  if (!ids.length) return [];
  const rows = await ctx.pool.query<{ msg_id: string; msg: string; exchange: string; routing_key: string }[]>(
    `SELECT msg_id, msg, exchange, routing_key FROM msg_log WHERE msg_id IN (${ids.map(() => '?').join(',')})`,
    ids,
  );
  return rows.map((r) => ({ msgId: String(r.msg_id), exchange: r.exchange, routingKey: r.routing_key, body: Buffer.from(r.msg) }));
}

const SCENARIOS: Scenario[] = [
  {
    name: 'baseline',
    fault: 'none: the deployment and the sink as they are',
    play: async (ctx, sc) => {
      const t = await traffic(ctx, 'baseline');
      sc.expect('every request answered 202', t.count(202) === t.n, JSON.stringify(t.statuses));
      return { accepted: t.accepted };
    },
  },
  {
    name: 'smtp-4xx',
    fault: 'the SMTP server answers 451 to the first attempt of every mail',
    play: async (ctx, sc) => {
      ctx.rules.set('smtp-4xx', (attempt) => (attempt === 1 ? 'tempfail' : 'accept'));
      const t = await traffic(ctx, 'smtp-4xx');
      sc.expect('every request answered 202', t.count(202) === t.n, JSON.stringify(t.statuses));
      return { accepted: t.accepted };
    },
  },
  {
    name: 'smtp-5xx',
    fault: 'the SMTP server answers 550 to every mail',
    play: async (ctx, sc) => {
      ctx.rules.set('smtp-5xx', () => 'permfail');
      const t = await traffic(ctx, 'smtp-5xx');
      const dead = await settled(waitFor('every mail dead', async () => (await readRows(ctx.pool, t.accepted)).every((r) => Number(r.status) === Status.dead), 60_000, 500));
      sc.expect('every mail dead at once (within 60 s)', !!dead);
      await sleep(2000);
      const attempts = t.accepted.map((id) => ctx.sink.attemptsFor(id).length);
      sc.expect('exactly one attempt per mail (no retry after a 5xx)', attempts.every((n) => n === 1), `attempts: ${[...new Set(attempts)].join(',')}`);
      return { accepted: t.accepted };
    },
  },
  {
    name: 'smtp-drop-after-data',
    fault: 'the SMTP connection drops after DATA (mail kept, no reply) on the first attempt of every mail',
    play: async (ctx, sc) => {
      ctx.rules.set('smtp-drop-after-data', (attempt) => (attempt === 1 ? 'drop-after-data' : 'accept'));
      const t = await traffic(ctx, 'smtp-drop-after-data');
      sc.expect('every request answered 202', t.count(202) === t.n, JSON.stringify(t.statuses));
      return { accepted: t.accepted };
    },
  },
  {
    name: 'smtp-hang',
    fault: 'the SMTP server never answers the first attempt of every mail (the client timeout fires)',
    needs: (o) => (o.smtpHang ? null : 'set CHAOS_SMTP_HANG=1 (takes the deployment’s SMTP_TIMEOUT_MS per mail)'),
    play: async (ctx, sc) => {
      ctx.rules.set('smtp-hang', (attempt) => (attempt === 1 ? 'hang' : 'accept'));
      const t = await traffic(ctx, 'smtp-hang', Math.min(ctx.o.mails, 10));
      sc.expect('every request answered 202', t.count(202) === t.n, JSON.stringify(t.statuses));
      return { accepted: t.accepted };
    },
  },
  {
    name: 'duplicate-delivery',
    fault: 'every message published twice more to the deployment’s exchange',
    needs: (o) => (o.amqpUrl ? null : 'set AMQP_URL'),
    play: async (ctx, sc) => {
      const t = await traffic(ctx, 'duplicate-delivery');
      const conn = await connect(ctx.o.amqpUrl!);
      try {
        const ch = await conn.createConfirmChannel();
        for (const m of await bodies(ctx, t.accepted)) {
          for (let k = 0; k < 2; k++) ch.publish(m.exchange, m.routingKey, m.body, { persistent: true, messageId: m.msgId, contentType: 'application/json' });
        }
        await ch.waitForConfirms();
      } finally {
        await conn.close().catch(() => undefined);
      }
      sc.expect('every request answered 202', t.count(202) === t.n, JSON.stringify(t.statuses));
      return { accepted: t.accepted };
    },
  },
  {
    name: 'poison',
    fault: 'messages that can never be mails (not JSON, not a mail, unknown msgId) on the deployment’s exchange',
    needs: (o) => (o.amqpUrl ? null : 'set AMQP_URL'),
    play: async (ctx, sc) => {
      const t = await traffic(ctx, 'poison', Math.min(ctx.o.mails, 20));
      const [target] = await bodies(ctx, t.accepted.slice(0, 1));
      if (!target) throw new Error('no accepted mail to learn the exchange from');
      const marker = `chaos-poison-${ctx.run}`;
      const poison = [`${marker} not json`, JSON.stringify({ marker, hello: 1 }), JSON.stringify({ msgId: `9${Date.now()}`, subject: marker, content: 'c', tos: ['a@example.com'] })];
      const conn = await connect(ctx.o.amqpUrl!);
      try {
        const ch = await conn.createConfirmChannel();
        for (const p of poison) ch.publish(target.exchange, target.routingKey, Buffer.from(p), { persistent: true });
        await ch.waitForConfirms();
        // Look at the parking queue without taking anything away: unacked gets go back when the channel closes.
        const parkedQueue = `${ctx.o.queue}.parked`;
        const found = new Map<string, string>();
        await settled(waitFor('each poison message parked', async () => {
          const look = await conn.createChannel();
          look.on('error', () => undefined);
          try {
            const { messageCount } = await look.checkQueue(parkedQueue);
            for (let k = 0; k < Math.min(messageCount, 5000); k++) {
              const m = await look.get(parkedQueue, { noAck: false });
              if (!m) break;
              const body = m.content.toString();
              if (poison.includes(body)) found.set(body, String(m.properties.headers?.['x-park-reason'] ?? ''));
            }
          } finally {
            await look.close().catch(() => undefined);
          }
          return found.size === poison.length;
        }, 60_000, 2000));
        sc.expect(`each poison message parked on ${parkedQueue} with a reason`, found.size === poison.length && [...found.values()].every(Boolean), `${found.size} of ${poison.length}: ${[...found.values()].join('; ')}`);
      } finally {
        await conn.close().catch(() => undefined);
      }
      return { accepted: t.accepted };
    },
  },
  {
    name: 'broker-restart',
    fault: 'rabbitmqctl stop_app, 5 s down, start_app, while mails are accepted',
    needs: (o) => (o.brokerRestart ? null : 'set CHAOS_BROKER_RESTART=1 (restarts the broker on this host for everyone)'),
    play: async (ctx, sc) => {
      const t = new Traffic(ctx.o.baseUrl, ctx.o.mails * 4, { concurrency: 5, pauseMs: 20, apiKey: ctx.o.apiKey, subject: subject(ctx, 'broker-restart'), timeoutMs: 20_000 });
      await t.reach(ctx.o.mails);
      try {
        await rabbitmqctl('stop_app');
        await sleep(5000);
      } finally {
        await rabbitmqctl('start_app');
      }
      await t.done;
      sc.expect('every request answered 202', t.count(202) === t.n, JSON.stringify(t.statuses));
      return { accepted: t.accepted };
    },
  },
];

export async function runChaos(o: ChaosOptions): Promise<{ records: ScenarioRecord[]; skipped: { name: string; why: string }[]; ok: boolean }> {
  const run = randomBytes(3).toString('hex');
  const sink = await new FaultSink({ port: o.sinkPort, host: o.sinkHost }).start();
  const pool = createPool(o.databaseUrl, 2);
  const ctx: Ctx = { o, sink, pool, run, rules: new Map() };
  sink.decide = ({ subject: s, attempt }) => {
    const m = /^chaos (\S+) /.exec(s ?? '');
    return m ? ctx.rules.get(m[1]!)?.(attempt) : undefined;
  };
  const records: ScenarioRecord[] = [];
  const skipped: { name: string; why: string }[] = [];
  try {
    const health = await fetch(`${o.baseUrl}/ready`, { headers: o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {} }).catch((err: Error) => err);
    if (health instanceof Error || health.status !== 200) throw new Error(`${o.baseUrl}/ready did not answer 200 (${health instanceof Error ? health.message : health.status}): is the deployment running?`);
    // Preflight: the deployment must send to this sink.
    const probe = new Traffic(o.baseUrl, 1, { apiKey: o.apiKey, subject: () => `chaos preflight ${run}` });
    await probe.done;
    if (!probe.accepted.length) throw new Error(`POST ${o.baseUrl}/mail/send did not answer 202: ${JSON.stringify(probe.outcomes[0])}${o.apiKey ? '' : ' (set API_KEY if the deployment requires one)'}`);
    const arrived = await settled(waitFor('the preflight mail at the chaos sink', () => sink.countFor(probe.accepted[0]!) > 0, 60_000, 200));
    if (!arrived) throw new Error(`the preflight mail did not reach the chaos sink within 60 s: start the deployment with SMTP_URL=smtp://${o.sinkHost === '0.0.0.0' ? '<this host>' : o.sinkHost}:${sink.port}?ignoreTLS=true`);
    o.log(`chaos run ${run}: ${o.baseUrl}, sink on ${o.sinkHost}:${sink.port}, ${o.mails} mails per scenario`);

    for (const s of SCENARIOS) {
      if (o.scenarios && !o.scenarios.includes(s.name)) continue;
      const why = s.needs?.(o) ?? null;
      if (why) {
        skipped.push({ name: s.name, why });
        continue;
      }
      const sc = new ScenarioRun(s.name, s.fault, o.resultsDir);
      const { accepted } = await s.play(ctx, sc);
      const mine = new Set(accepted);
      const copies = () => sink.received.filter((m) => mine.has(m.msgId ?? ''));
      const record = sc.record(await sc.settle({ accepted, sink: copies, pool, boundMs: o.boundMs, onlyIds: accepted, quietMs: o.quietMs }));
      records.push(record);
    }
  } finally {
    await pool.end().catch(() => undefined);
    await sink.stop();
  }
  const table = formatTable(records);
  const skippedText = skipped.length ? `\nNot played: ${skipped.map((s) => `${s.name} (${s.why})`).join('; ')}.\n` : '';
  const doc = `# mail-dispatch chaos run ${run}\n\n${new Date().toISOString()} against ${o.baseUrl}\n\n${table}${skippedText}`;
  mkdirSync(path.dirname(o.out), { recursive: true });
  writeFileSync(o.out, doc);
  o.log(`\n${table}${skippedText}\n(written to ${path.relative(process.cwd(), o.out)})`);
  return { records, skipped, ok: records.length > 0 && records.every((r) => r.ok) };
}

if (require.main === module) {
  runChaos(optionsFromEnv()).then(
    (r) => process.exit(r.ok ? 0 : 1),
    (err: Error) => {
      process.stderr.write(`chaos: ${err.message}\n`);
      process.exit(2);
    },
  );
}
