// What the firehose costs: N persistent messages published with confirms and consumed with acks, with tracing off,
// on with nothing bound to amq.rabbitmq.trace (a tracer that died and left it on), and on with a tracer's queue bound
// to publish.# and deliver.# and drained by another process (as `npm run trace` does), in turn, on a vhost of its own
// that it creates and deletes (so it traces nothing of anyone else's and nobody else's traffic pays for it), after an
// uncounted warm-up of a tenth as many. Prints the rates each way and their ratio to tracing off.
// See docs/performance.md, "Tracing one mail (firehose)".
//
//   npx tsx scripts/trace-cost.ts [--messages 20000] [--rounds 2] [--queue-type quorum|classic] [--size 400]
//                                 [--amqp-url amqp://guest:guest@127.0.0.1:5672] [--ctl rabbitmqctl]
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { connect, type ChannelModel } from 'amqplib';
import { defaultCtlCommand, makeCtl, withVhost, TRACE_EXCHANGE, type Ctl } from './trace';

type Mode = 'off' | 'on-unbound' | 'on-drained';
const MODES: Mode[] = ['off', 'on-unbound', 'on-drained'];
const MODE_TEXT: Record<Mode, string> = { off: 'tracing off', 'on-unbound': 'tracing on, nothing bound', 'on-drained': 'tracing on, drained' };

interface Run {
  mode: Mode;
  /** confirmed publishes per second (the publisher's view) */
  publishRate: number;
  /** messages per second from the first publish to the last ack */
  endToEndRate: number;
  /** trace events the tracer's queue received */
  events: number;
  /** after the last ack, how long the tracer took to drain its queue */
  drainLagMs: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The tracer, in a process of its own as `npm run trace` is: binds, drains, and reports how many events it got. */
async function startDrain(url: string): Promise<{ child: ChildProcess; count: () => Promise<{ events: number; lastAt: number }> }> {
  const child = fork(__filename, ['--drain', url], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`the drain process exited with ${code}`)));
  });
  const count = () =>
    new Promise<{ events: number; lastAt: number }>((resolve) => {
      child.once('message', (m) => resolve(m as { events: number; lastAt: number }));
      child.send('count');
    });
  return { child, count };
}

async function drainMain(url: string): Promise<void> {
  const c = await connect(url);
  const ch = await c.createChannel();
  const q = (await ch.assertQueue('', { exclusive: true, autoDelete: true })).queue;
  await ch.bindQueue(q, TRACE_EXCHANGE, 'publish.#');
  await ch.bindQueue(q, TRACE_EXCHANGE, 'deliver.#');
  let events = 0;
  let lastAt = 0;
  await ch.consume(q, () => {
    events++;
    lastAt = Date.now();
  }, { noAck: true });
  process.on('message', () => process.send!({ events, lastAt }));
  process.on('disconnect', () => void c.close().finally(() => process.exit(0)));
  process.send!('ready');
}

async function oneRun(url: string, ctl: Ctl, vhost: string, n: number, size: number, queueType: string, mode: Mode): Promise<Run> {
  const tag = randomBytes(3).toString('hex');
  const exchange = `cost.${tag}.exchange`;
  const queue = `cost.${tag}.queue`;
  const pub: ChannelModel = await connect(url);
  const sub: ChannelModel = await connect(url);
  let drain: Awaited<ReturnType<typeof startDrain>> | null = null;
  try {
    const admin = await pub.createChannel();
    await admin.assertExchange(exchange, 'direct', { durable: true });
    await admin.assertQueue(queue, { durable: true, arguments: queueType === 'quorum' ? { 'x-queue-type': 'quorum' } : {} });
    await admin.bindQueue(queue, exchange, 'k');
    if (mode === 'on-drained') drain = await startDrain(url);
    if (mode !== 'off') await ctl('trace_on', '-p', vhost);

    const body = Buffer.alloc(size, 'x');
    const sch = await sub.createChannel();
    await sch.prefetch(500);
    let consumed = 0;
    let lastAckAt = 0;
    const allConsumed = new Promise<void>((resolve) => {
      void sch.consume(queue, (m) => {
        if (!m) return;
        sch.ack(m);
        if (++consumed === n) {
          lastAckAt = Date.now();
          resolve();
        }
      });
    });

    const pch = await pub.createConfirmChannel();
    const t0 = Date.now();
    const WINDOW = 500;
    for (let sent = 0; sent < n; ) {
      const batch = Math.min(WINDOW, n - sent);
      for (let i = 0; i < batch; i++, sent++) pch.publish(exchange, 'k', body, { persistent: true, messageId: `m${sent}`, contentType: 'application/json' });
      await pch.waitForConfirms();
    }
    const publishedAt = Date.now();
    await allConsumed;
    const t1 = lastAckAt;

    let events = 0;
    let drainLagMs = 0;
    if (drain) {
      // every publish and every delivery: 2n events (wait at most 60 s for the tracer to catch up)
      const until = Date.now() + 60_000;
      let c = await drain.count();
      while (c.events < 2 * n && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 50));
        c = await drain.count();
      }
      events = c.events;
      drainLagMs = Math.max(0, c.lastAt - t1);
    }
    if (mode !== 'off') await ctl('trace_off', '-p', vhost);
    await admin.deleteQueue(queue);
    await admin.deleteExchange(exchange);
    return { mode, publishRate: n / ((publishedAt - t0) / 1000), endToEndRate: n / ((t1 - t0) / 1000), events, drainLagMs };
  } finally {
    if (drain) {
      drain.child.disconnect();
      await new Promise((r) => drain!.child.once('exit', r));
    }
    await sub.close().catch(() => undefined);
    await pub.close().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      messages: { type: 'string', default: '20000' },
      rounds: { type: 'string', default: '2' },
      'queue-type': { type: 'string', default: 'quorum' },
      size: { type: 'string', default: '400' },
      'amqp-url': { type: 'string', default: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672' },
      ctl: { type: 'string' },
    },
  });
  const n = Number(values.messages);
  const rounds = Number(values.rounds);
  const size = Number(values.size);
  const queueType = values['queue-type']!;
  if (!['quorum', 'classic'].includes(queueType)) throw new Error('--queue-type is quorum or classic');
  const ctl = makeCtl(values.ctl ?? defaultCtlCommand());
  const base = values['amqp-url']!.split(',')[0]!.trim();
  const user = decodeURIComponent(new URL(base).username || 'guest');
  const vhost = `trace-cost-${randomBytes(3).toString('hex')}`;
  await ctl('add_vhost', vhost);
  const runs: Run[] = [];
  try {
    await ctl('set_permissions', '-p', vhost, user, '.*', '.*', '.*');
    const url = withVhost(base, vhost);
    console.log(`# ${n} persistent messages of ${size} bytes, ${queueType} queue, confirms in windows of 500, prefetch 500; vhost ${vhost}; ${rounds} round(s) of ${MODES.map((m) => MODE_TEXT[m]).join(', ')}`);
    await oneRun(url, ctl, vhost, Math.max(1, Math.round(n / 10)), size, queueType, 'off'); // warm-up, not counted
    for (let r = 0; r < rounds; r++) {
      for (const mode of MODES) {
        const run = await oneRun(url, ctl, vhost, n, size, queueType, mode);
        runs.push(run);
        console.log(
          `round ${r + 1} ${MODE_TEXT[mode].padEnd(25)}: published ${Math.round(run.publishRate)} /s, end to end ${Math.round(run.endToEndRate)} /s` +
            (mode === 'on-drained' ? `, ${run.events} trace events (of ${2 * n}), the tracer done ${run.drainLagMs} ms after the last ack` : ''),
        );
      }
    }
  } finally {
    await ctl('trace_off', '-p', vhost).catch(() => undefined);
    await ctl('delete_vhost', vhost).catch((err: Error) => console.error(`could not delete vhost ${vhost}: ${err.message}`));
  }
  const med = (mode: Mode, f: (r: Run) => number) => median(runs.filter((r) => r.mode === mode).map(f));
  const e2eOff = med('off', (r) => r.endToEndRate);
  const pubOff = med('off', (r) => r.publishRate);
  for (const mode of MODES) {
    const e2e = med(mode, (r) => r.endToEndRate);
    const pub = med(mode, (r) => r.publishRate);
    console.log(
      `median ${MODE_TEXT[mode].padEnd(25)}: published ${Math.round(pub)} /s (${(pub / pubOff).toFixed(2)}×), end to end ${Math.round(e2e)} /s (${(e2e / e2eOff).toFixed(2)}×)`,
    );
  }
}

const drainAt = process.argv.indexOf('--drain');
(drainAt >= 0 ? drainMain(process.argv[drainAt + 1]!) : main()).catch((err: Error) => {
  console.error(`trace-cost: ${err.message}`);
  process.exitCode = 1;
});
