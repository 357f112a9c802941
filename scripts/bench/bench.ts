// npm run bench: end-to-end figures of the app, the SMTP stage alone and (where it is present) the BullMQ peer,
// measured side by side in one run on this machine, into one counting SMTP sink. Prints one JSON object.
//   npm run bench -- [--n 20000] [--conns 50] [--warmup 2000] [--runs 1] [--no-peer] [--backlog 100000] [--history 1000000] [--soak-minutes 10 (at half the measured peak, or SOAK_RATE)] [--cluster]
// --accept-only: the API role alone (ROLES=api, nothing sent): the accept rate, p50/p99 and CPU per request with no sending beside it.
// --schemes [--lost-mails 5]: RELIABILITY_SCHEME=msg-log and =delayed-check side by side with the peer (scripts/bench/schemes.ts).
// --cluster: the app on the three local RabbitMQ nodes of scripts/cluster.sh (started if down) instead of AMQP_URL.
// The queue type is the app's default (quorum) unless MQ_QUEUE_TYPE says otherwise.
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { backlogRun, historyRun } from './bench-rounds';
import { appLogSummary, type AppLogSummary, cpuMs, cpuSplit, freePort, peakRssMb, rssMb, rssProfile, waitFor, writesCounter } from './bench-util';
import { smtpStage } from './smtp-stage';
import { startPeer } from './peer';
import { schemesRun } from './schemes';
import { deleteTopology } from '../../src/broker/topology';
import { createPool, dropDatabase, ensureDatabase } from '../../src/store/db';

const ROOT = path.resolve(__dirname, '../..');

/** docker/Dockerfile's CMD, `["node", ...flags, "dist/main.js"]`: the app is started with exactly its flags. */
function imageCommand(): string[] {
  const cmd = /^CMD\s+(\[.*\])\s*$/m.exec(readFileSync(path.join(ROOT, 'docker/Dockerfile'), 'utf8'))?.[1];
  const args = cmd ? (JSON.parse(cmd) as string[]) : [];
  if (args[0] !== 'node' || args.at(-1) !== 'dist/main.js') throw new Error('docker/Dockerfile has no CMD ["node", ..., "dist/main.js"] to start the app as the image does');
  return [...args.slice(1, -1), path.join(ROOT, 'dist/main.js')];
}
const { values: opt } = parseArgs({
  options: {
    n: { type: 'string', default: '20000' },
    conns: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '2000' },
    'no-peer': { type: 'boolean', default: false },
    backlog: { type: 'string' },
    history: { type: 'string' },
    'soak-minutes': { type: 'string' },
    runs: { type: 'string', default: '1' },
    cluster: { type: 'boolean', default: false },
    'accept-only': { type: 'boolean', default: false },
    schemes: { type: 'boolean', default: false },
    'lost-mails': { type: 'string', default: '5' },
  },
});
const N = Number(opt.n);
const CONNS = Number(opt.conns);
const RUNS = Math.max(1, Number(opt.runs));
const SERVER = (process.env.BENCH_DATABASE_SERVER_URL ?? 'mysql://root@127.0.0.1:3306').replace(/\/$/, '');
const AMQP_URL = opt.cluster ? clusterUrls() : (process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');

/** With --cluster, the Erlang VMs of the three nodes (scripts/cluster.sh writes their pid files), each counted. */
function clusterNodePids(): Record<string, number> {
  if (!opt.cluster) return {};
  const dir = path.join(os.tmpdir(), 'mail-dispatch-cluster');
  return Object.fromEntries([1, 2, 3].map((n) => [`rabbitmq${n}`, Number(readFileSync(path.join(dir, `node${n}`, `node${n}.pid`), 'utf8').trim())]));
}

/** The local cluster's AMQP_URL list (scripts/cluster.sh up: starts what is down, prints the list). */
function clusterUrls(): string {
  const up = spawnSync('bash', [path.join(__dirname, '..', 'cluster.sh'), 'up'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const line = /^AMQP_URL=(.+)$/m.exec(up.stdout ?? '');
  if (up.status !== 0 || !line) throw new Error('scripts/cluster.sh up failed');
  return line[1]!.trim();
}
// The app runs as in production, so it needs an API key; the peer ignores the header.
const API_KEY = `bench_${randomBytes(24).toString('hex')}`;
const AUTH = { authorization: `Bearer ${API_KEY}` };
const BODY = JSON.stringify({ subject: 'load test', content: 'x'.repeat(200), tos: 'someone@example.com' });

interface Sink {
  smtpPort: number;
  count(): Promise<{ received: number; uniqueMessageIds: number }>;
  reset(): Promise<void>;
  proc: ChildProcess;
}

async function startSink(): Promise<Sink> {
  const smtpPort = await freePort();
  const httpPort = await freePort();
  const proc = fork(path.join(__dirname, 'sink.mjs'), { env: { ...process.env, SINK_SMTP_PORT: String(smtpPort), SINK_HTTP_PORT: String(httpPort) }, stdio: 'ignore' });
  await new Promise((r) => proc.once('message', r));
  const base = `http://127.0.0.1:${httpPort}`;
  return {
    smtpPort,
    proc,
    count: async () => (await (await fetch(`${base}/count`)).json()) as { received: number; uniqueMessageIds: number },
    reset: async () => void (await fetch(`${base}/reset`, { method: 'POST' })),
  };
}

interface App {
  url: string;
  proc: ChildProcess;
  dbUrl: string;
  /** what the app logged, from its stdout as the collector wrote it: there once stop() has resolved */
  log?: AppLogSummary;
  logCollectorPid: number | undefined;
  stop(): Promise<void>;
}

/**
 * The app's stdout as a container runtime takes it: a FIFO drained by a process of its own (`cat`, here, into a
 * file; containerd's shim there), so the app writes into a real pipe that can fill up, at the default log level.
 */
function logCollector(name: string) {
  const fifo = path.join(os.tmpdir(), `${name}.stdout`);
  const file = path.join(os.tmpdir(), `${name}.log`);
  if (spawnSync('mkfifo', [fifo]).status !== 0) throw new Error('mkfifo failed');
  const proc = spawn('sh', ['-c', 'exec cat "$0" > "$1"', fifo, file], { stdio: 'ignore' });
  const fd = openSync(fifo, 'w'); // returns once cat has it open for reading
  const exited = new Promise((r) => proc.once('exit', r));
  return {
    fd,
    pid: proc.pid,
    /** after the app has exited: cat reads to the end of the pipe; what it wrote is summed up and removed */
    done: async () => {
      await exited;
      rmSync(fifo, { force: true });
      try {
        return await appLogSummary(file);
      } finally {
        rmSync(file, { force: true });
      }
    },
  };
}

async function startApp(sink: Sink, env: Record<string, string> = {}): Promise<App> {
  const port = await freePort();
  const name = `mail_bench_${Date.now().toString(36)}`;
  // what the app really uses (a round may bring its own database and names), so stop() removes exactly that
  const dbUrl = env.DATABASE_URL ?? `${SERVER}/${name}`;
  const setting = (k: string) => env[k] ?? process.env[k];
  // with RELIABILITY_SCHEME=delayed-check, its delay queue too (named after CHECK_DELAY_MS, src/config.ts's default)
  const checkDelayMs = setting('RELIABILITY_SCHEME') === 'delayed-check' ? Number(setting('CHECK_DELAY_MS') || 30_000) : undefined;
  const topology = { exchange: env.MQ_EXCHANGE ?? `${name}.exchange`, queue: env.MQ_QUEUE ?? `${name}.queue`, routingKey: env.MQ_ROUTING_KEY ?? `${name}.key`, checkDelayMs };
  // The compiled app, as it runs in production (docker/Dockerfile's CMD; one process: what /proc shows for this pid is
  // all of it), at the default log level: every mail logs 'mail accepted' and 'mail consumed' into the pipe.
  const log = logCollector(name);
  const proc = spawn(process.execPath, imageCommand(), {
    cwd: ROOT,
    env: {
      // the image sets no LOG_LEVEL: the shell's, if any, is not passed on
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'LOG_LEVEL')),
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: dbUrl,
      AMQP_URL,
      SMTP_URL: `smtp://127.0.0.1:${sink.smtpPort}?ignoreTLS=true`,
      MQ_EXCHANGE: topology.exchange,
      MQ_QUEUE: topology.queue,
      MQ_ROUTING_KEY: topology.routingKey,
      API_KEYS: `sha256:${createHash('sha256').update(API_KEY).digest('hex')}`,
      // Every benchmark mail goes to one address: the per-recipient limit would refuse all but the first thousand.
      RATE_LIMIT_PER_RECIPIENT: '0',
      ...env,
    },
    stdio: ['ignore', log.fd, 'inherit'],
  });
  closeSync(log.fd); // the app holds the pipe's only writing end: cat ends when the app does
  const url = `http://127.0.0.1:${port}`;
  await waitFor('the app to be ready', async () => (await fetch(`${url}/ready`, { headers: AUTH }).catch(() => null))?.status === 200, 60_000).catch(async (err) => {
    proc.kill('SIGKILL'); // an app that never got ready is not left running
    await log.done().catch(() => undefined);
    throw err;
  });
  const app: App = {
    url,
    proc,
    dbUrl,
    logCollectorPid: log.pid,
    stop: async () => {
      // an app that already exited (a signal to the whole group) has nothing to wait for
      if (proc.exitCode === null && proc.signalCode === null) {
        const exit = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exit;
      }
      app.log = await log.done();
      await dropDatabase(dbUrl).catch(() => undefined);
      await deleteTopology(AMQP_URL, topology).catch(() => undefined);
    },
  };
  return app;
}

/** Posts n mails over `conns` connections; resolves with autocannon's result and when the last answer came. */
async function post(url: string, n: number) {
  let lastResponse = Date.now();
  // autocannon settles on its next one-second tick: the accept time ends at the last answer instead
  const r = await autocannon({ url: `${url}/mail/send`, method: 'POST', connections: CONNS, amount: n, headers: { 'content-type': 'application/json', ...AUTH }, body: BODY, setupClient: (client) => client.on('response', () => (lastResponse = Date.now())) });
  return { r, lastResponse };
}

/** Posts n mails over `conns` connections, then waits until the sink has them all. */
async function load(url: string, n: number, sink: Sink, done?: () => Promise<boolean>) {
  await sink.reset();
  const t0 = Date.now();
  // The sink's count is sampled through the burst: how much was sent while the API was busy, and how fast the rest went.
  const samples: { at: number; received: number }[] = [];
  const sampler = setInterval(() => void sink.count().then((c) => samples.push({ at: Date.now(), received: c.received })), 100);
  const { r, lastResponse } = await post(url, n);
  clearInterval(sampler);
  const acceptedMs = lastResponse - t0;
  const sentWhileAccepting = samples.filter((s) => s.at <= lastResponse).pop()?.received ?? 0;
  await waitFor('every mail at the sink', async () => (await sink.count()).received >= n && (!done || (await done())), 600_000, 20);
  const totalMs = Date.now() - t0;
  const c = await sink.count();
  return {
    mails: n,
    non2xx: r.non2xx + r.errors,
    acceptPerSec: Math.round(n / (acceptedMs / 1000)),
    endToEndPerSec: Math.round(c.received / (totalMs / 1000)),
    sentWhileAccepting,
    afterAcceptPerSec: Math.round((c.received - sentWhileAccepting) / (Math.max(1, totalMs - acceptedMs) / 1000)),
    received: c.received,
    uniqueMessageIds: c.uniqueMessageIds,
    p50ms: r.latency.p50,
    p99ms: r.latency.p99,
  };
}

async function consumedAll(dbUrl: string, n: number): Promise<() => Promise<boolean>> {
  const pool = createPool(dbUrl, 1);
  return async () => {
    const rows = await pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM msg_log WHERE status = 3');
    const ok = Number(rows[0]!.n) >= n;
    if (ok) await pool.end();
    return ok;
  };
}

async function benchApp(sink: Sink) {
  const app = await startApp(sink);
  let measured;
  try {
    await load(app.url, Number(opt.warmup), sink);
    const writes = await writesCounter(SERVER);
    const before = await consumedAll(app.dbUrl, Number(opt.warmup) + N);
    const cpu0 = cpuMs(app.proc.pid!);
    const processes = { app: app.proc.pid, sink: sink.proc.pid, loadGenerator: process.pid, logCollector: app.logCollectorPid, ...clusterNodePids() };
    const split = cpuSplit(processes, opt.cluster ? { mariadb: 'mariadbd' } : { mariadb: 'mariadbd', rabbitmq: 'beam.smp' });
    const result = await load(app.url, N, sink, before);
    const cpuMsPerMail = Number(((cpuMs(app.proc.pid!) - cpu0) / N).toFixed(3));
    const w = await writes();
    measured = { ...result, cpuMsPerMail, cpuMsPerMailByProcess: split(N), dbStatementsPerMail: Number((w.statements / N).toFixed(2)), dbRowWritesPerMail: Number((w.rows / N).toFixed(2)), peakRssMb: peakRssMb(app.proc.pid!) };
  } finally {
    await app.stop();
  }
  // Every mail of the warm-up and the burst left both of its lines, whole, each with its msgId, and nothing logged
  // before the exit was lost: the main thread's last line, logged right before it exits, is there and last.
  const mails = Number(opt.warmup) + N;
  const log = app.log!;
  const complete = log.unparseable === 0 && log.mailsAccepted === mails && log.mailsConsumed === mails && log.mailsWithoutBoth === 0 && log.last === 'mail dispatch stopped';
  return { ...measured, log: { ...log, complete } };
}

/**
 * The API role alone (ROLES=api: the mails wait in the queue, none is sent): what accepting a mail costs the machine
 * (the app, MariaDB's insert, RabbitMQ's persistent publish, the load generator) and how fast the API answers with
 * nothing sent beside it. The peer has no such mode (its worker runs in its API's process).
 */
async function acceptOnly(sink: Sink) {
  const app = await startApp(sink, { ROLES: 'api' });
  try {
    await post(app.url, Number(opt.warmup));
    const split = cpuSplit({ app: app.proc.pid, loadGenerator: process.pid }, { mariadb: 'mariadbd', rabbitmq: 'beam.smp' });
    const t0 = Date.now();
    const { r, lastResponse } = await post(app.url, N);
    return { mails: N, non2xx: r.non2xx + r.errors, acceptPerSec: Math.round(N / ((lastResponse - t0) / 1000)), p50ms: r.latency.p50, p99ms: r.latency.p99, cpuMsPerMailByProcess: split(N), peakRssMb: peakRssMb(app.proc.pid!) };
  } finally {
    await app.stop();
  }
}

/** A steady load for `minutes`: memory must stay flat, and the app must keep up (the sink holds nearly every accepted mail when the load stops). */
async function soak(sink: Sink, minutes: number, ratePerSec: number) {
  const app = await startApp(sink);
  const rss: number[] = [];
  try {
    await sink.reset();
    const sampler = setInterval(() => rss.push(rssMb(app.proc.pid!)), 10_000);
    const r = await autocannon({ url: `${app.url}/mail/send`, method: 'POST', connections: 10, overallRate: ratePerSec, duration: minutes * 60, headers: { 'content-type': 'application/json', ...AUTH }, body: BODY });
    clearInterval(sampler);
    const accepted = r['2xx'];
    const atSinkWhenLoadEnded = (await sink.count()).received;
    const t0 = Date.now();
    await waitFor('every accepted mail at the sink', async () => (await sink.count()).received >= accepted, 300_000, 50);
    return {
      minutes,
      ratePerSec,
      accepted,
      acceptedPerSec: Math.round(accepted / (minutes * 60)),
      rejected: r.non2xx + r.errors,
      p50ms: r.latency.p50,
      p99ms: r.latency.p99,
      atSinkWhenLoadEnded,
      drainAfterLoadMs: Date.now() - t0,
      ...rssProfile(rss),
      peakRssMb: peakRssMb(app.proc.pid!),
    };
  } finally {
    await app.stop();
  }
}

const phases = (r: { acceptPerSec: number; endToEndPerSec: number; sentWhileAccepting: number; afterAcceptPerSec: number }) => ({
  acceptPerSec: r.acceptPerSec,
  endToEndPerSec: r.endToEndPerSec,
  sentWhileAccepting: r.sentWhileAccepting,
  afterAcceptPerSec: r.afterAcceptPerSec,
});

const median = (xs: (number | undefined)[]) => {
  const v = xs.filter((x): x is number => x !== undefined).sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)] : undefined;
};

/** The app, then (where it is present) the peer, on the same sink, mails and connections. */
async function sideBySide(sink: Sink, stage: { mailsPerSec: number }) {
  const app = await benchApp(sink);
  const peerDir = process.env.PEER_DIR ?? path.resolve(ROOT, '../shared/peer');
  let peer: (Awaited<ReturnType<typeof load>> & { cpuMsPerMail: number; cpuMsPerMailByProcess: Record<string, number>; peakRssMb: number }) | undefined;
  if (!opt['no-peer'] && existsSync(path.join(peerDir, 'bullmq-app.mjs'))) {
    const p = await startPeer(peerDir, sink.smtpPort);
    try {
      await load(p.url, Number(opt.warmup), sink);
      const cpu0 = cpuMs(p.proc.pid!);
      const split = cpuSplit({ peer: p.proc.pid, sink: sink.proc.pid, loadGenerator: process.pid }, { redis: 'redis-server' });
      const result = await load(p.url, N, sink);
      peer = { ...result, cpuMsPerMail: Number(((cpuMs(p.proc.pid!) - cpu0) / N).toFixed(3)), cpuMsPerMailByProcess: split(N), peakRssMb: peakRssMb(p.proc.pid!) };
    } finally {
      await p.stop();
    }
  }
  const ratios = peer ? { endToEndVsPeer: Number((app.endToEndPerSec / peer.endToEndPerSec).toFixed(2)), p99VsPeer: Number((app.p99ms / peer.p99ms).toFixed(2)) } : undefined;
  return { app, peer, ratios, endToEndVsSmtpStage: Number((app.endToEndPerSec / stage.mailsPerSec).toFixed(2)) };
}

async function main(): Promise<void> {
  if (spawnSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'inherit' }).status !== 0) throw new Error('npm run build failed');
  const out: Record<string, unknown> = {
    machine: { cores: require('node:os').cpus().length, node: process.version },
    broker: { nodes: AMQP_URL.split(',').length, queueType: process.env.MQ_QUEUE_TYPE ?? 'quorum' },
    n: N,
    connections: CONNS,
  };
  if (opt.history || opt['accept-only']) {
    if (opt.history) out.history = await historyRun(SERVER, Number(opt.history));
    else {
      const sink = await startSink();
      try {
        out.acceptOnly = [];
        for (let i = 0; i < RUNS; i++) (out.acceptOnly as unknown[]).push(await acceptOnly(sink));
      } finally {
        sink.proc.kill();
      }
    }
    console.log(JSON.stringify(out, null, 2));
    return;
  }
  const sink = await startSink();
  try {
    out.smtpStage = await smtpStage(sink.smtpPort, opt.backlog ? Number(opt.backlog) : N, sink);
    if (opt.backlog) {
      const dbUrl = `${SERVER}/mail_bench_backlog_${Date.now().toString(36)}`;
      await ensureDatabase(dbUrl);
      out.backlog = await backlogRun({ dbUrl, rows: Number(opt.backlog), sink, startApp: (env) => startApp(sink, { ...env, DATABASE_URL: dbUrl }) });
      const ratio = (out.backlog as { mailsPerSec: number }).mailsPerSec / (out.smtpStage as { mailsPerSec: number }).mailsPerSec;
      out.backlogVsSmtpStage = Number(ratio.toFixed(2));
    } else if (opt.schemes) {
      if (opt.cluster) throw new Error('--schemes counts broker messages on the local node only: not with --cluster');
      const peerDir = process.env.PEER_DIR ?? path.resolve(ROOT, '../shared/peer');
      out.schemes = await schemesRun({
        server: SERVER,
        amqpUrl: AMQP_URL,
        n: N,
        warmup: Number(opt.warmup),
        runs: RUNS,
        lostMails: Number(opt['lost-mails']),
        auth: AUTH,
        startApp: (env) => startApp(sink, env),
        load: (url, n, done) => load(url, n, sink, done),
        startPeer: !opt['no-peer'] && existsSync(path.join(peerDir, 'bullmq-app.mjs')) ? () => startPeer(peerDir, sink.smtpPort) : undefined,
        smtpStageMailsPerSec: (out.smtpStage as { mailsPerSec: number }).mailsPerSec,
        sink: sink.proc,
      });
    } else if (opt['soak-minutes']) {
      // Half the peak of this machine as it is now, unless SOAK_RATE says otherwise: a fixed rate overloads a slow day.
      const peak = process.env.SOAK_RATE ? undefined : (await benchApp(sink)).endToEndPerSec;
      if (peak) out.peakEndToEndPerSec = peak;
      out.soak = await soak(sink, Number(opt['soak-minutes']), process.env.SOAK_RATE ? Number(process.env.SOAK_RATE) : Math.round(peak! / 2));
    } else {
      // One side-by-side pair per run; with --runs N the ratios' medians are what to quote (single runs are noisy).
      const runs = [];
      for (let i = 0; i < RUNS; i++) runs.push(await sideBySide(sink, out.smtpStage as { mailsPerSec: number }));
      Object.assign(out, runs[0]);
      if (RUNS > 1) {
        out.runs = runs.map((r) => ({ ratios: r.ratios, endToEndVsSmtpStage: r.endToEndVsSmtpStage, appP99ms: r.app.p99ms, peerP99ms: r.peer?.p99ms, appCpuMsPerMail: r.app.cpuMsPerMail, peerCpuMsPerMail: r.peer?.cpuMsPerMail, appPeakRssMb: r.app.peakRssMb, appLogComplete: r.app.log.complete, app: phases(r.app), peer: r.peer && phases(r.peer) }));
        out.medians = {
          endToEndVsPeer: median(runs.map((r) => r.ratios?.endToEndVsPeer)),
          p99VsPeer: median(runs.map((r) => r.ratios?.p99VsPeer)),
          endToEndVsSmtpStage: median(runs.map((r) => r.endToEndVsSmtpStage)),
          appPeakRssMb: median(runs.map((r) => r.app.peakRssMb)),
        };
      }
    }
  } finally {
    sink.proc.kill();
  }
  // --schemes: its table is printed above; the results on one line, to paste from
  console.log(opt.schemes ? JSON.stringify(out) : JSON.stringify(out, null, 2));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
