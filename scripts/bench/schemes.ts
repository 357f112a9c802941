// npm run bench -- --schemes [--n 20000] [--runs 1] [--lost-mails 5]: the two reliability schemes side by side with
// the peer, in one run on this machine, on the same sink and load as the normal side-by-side (bench.ts):
//   msg-log        RELIABILITY_SCHEME=msg-log (the default)
//   delayed-check  RELIABILITY_SCHEME=delayed-check, the callback role in the same process (as by default) but with
//                  CALLBACK_DATABASE_URL on a database of its own, so its statements are counted apart
//   peer           Express + BullMQ (where PEER_DIR holds it)
// and then, as a separate short phase with NODE_ENV=test (DEV_FAULTS is refused in production), the time from a lost
// publish (X-Dev-Fault: lose-publish) to the mail at the sink, at each scheme's default timings.
// How things are counted: scheme-counters.ts; what a run makes and undoes: scheme-setup.ts; the table and the JSON:
// scheme-report.ts.
import type { ChildProcess } from 'node:child_process';
import { cpuMs, peakRssMb, sleep, waitFor, type AppLogSummary } from './bench-util';
import {
  adminConnection, type Admin, brokerCounters, brokerFigures, checksAnswered, CHECK_DELAY_MS, consumedProbe, IDLE_SAMPLE_MS, metrics, minus,
  perMail, PUBLISH_GRACE_MS, r2, r3, redisCommands, type Scheme, SCHEMES, SETTLE_MS, userCounters,
} from './scheme-counters';
import { appEnv, arrivalSink, cleanup, deploy, started, stopApp } from './scheme-setup';
import { schemesReport } from './scheme-report';

export interface LoadResult {
  mails: number;
  non2xx: number;
  acceptPerSec: number;
  endToEndPerSec: number;
  sentWhileAccepting: number;
  afterAcceptPerSec: number;
  received: number;
  uniqueMessageIds: number;
  p50ms: number;
  p99ms: number;
}

export interface SchemesApp {
  url: string;
  proc: ChildProcess;
  log?: AppLogSummary;
  stop(): Promise<void>;
}

export interface SchemesDeps {
  /** mysql://root@host:port: the server, as an administrator */
  server: string;
  amqpUrl: string;
  n: number;
  warmup: number;
  runs: number;
  lostMails: number;
  auth: Record<string, string>;
  /** bench.ts's startApp on the shared sink: the image's command, NODE_ENV=production, env last */
  startApp(env: Record<string, string>): Promise<SchemesApp>;
  /** bench.ts's load on the shared sink */
  load(url: string, n: number, done?: () => Promise<boolean>): Promise<LoadResult>;
  /** the peer, when it is present and wanted */
  startPeer?: () => Promise<{ url: string; proc: ChildProcess; stop(): Promise<void> }>;
  smtpStageMailsPerSec: number;
  /** the shared sink's process, stopped if the run is interrupted */
  sink?: ChildProcess;
}

const running = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;

// ---------------------------------------------------------------------------------------------- one scheme, one burst

async function runScheme(d: SchemesDeps, admin: Admin, scheme: Scheme) {
  const scope = cleanup.mark();
  const total = d.warmup + d.n;
  try {
    const dep = await deploy(d, admin, scheme, scheme === 'msg-log' ? 'ml' : 'dc', true);
    const users = [dep.producer.user, ...(dep.callback ? [dep.callback.user] : [])];
    const app = await started(d, appEnv(scheme, dep));
    await d.load(app.url, d.warmup);
    if (scheme === 'delayed-check') await checksAnswered(d, admin, dep, Date.now(), d.warmup);
    // idle: what the background polls cost, and whether anybody else publishes into the broker meanwhile
    const idleB0 = brokerCounters();
    const idle0 = await userCounters(admin, users);
    const idleCpu0 = cpuMs(app.proc.pid!);
    await sleep(IDLE_SAMPLE_MS);
    const idle1 = await userCounters(admin, users);
    const idleCpu = cpuMs(app.proc.pid!) - idleCpu0;
    const idleB1 = brokerCounters();
    const m0 = await metrics(app.url, d.auth); // a scrape reads the database: outside both samples

    const probe = await consumedProbe(dep.producer.rootUrl, total);
    const b0 = brokerCounters();
    const c0 = await userCounters(admin, users);
    const cpu0 = cpuMs(app.proc.pid!);
    const t0 = Date.now();
    let result: LoadResult;
    try {
      result = await d.load(app.url, d.n, probe.done);
    } finally {
      await probe.close();
    }
    const cMid = await userCounters(admin, users);
    const cpuBurst = cpuMs(app.proc.pid!) - cpu0;
    if (scheme === 'delayed-check') await checksAnswered(d, admin, dep, Date.now(), total);
    await sleep(SETTLE_MS);
    const c1 = await userCounters(admin, users);
    const cpu = cpuMs(app.proc.pid!) - cpu0;
    const windowMs = Date.now() - t0;
    const b1 = brokerCounters();
    const m1 = await metrics(app.url, d.auth);
    const counters = Object.fromEntries(Object.entries(m1).map(([k, v]) => [k, v - (m0[k] ?? 0)]));

    const db = (user: string) => perMail(minus(c1[user]!, c0[user]!), windowMs, minus(idle1[user]!, idle0[user]!), IDLE_SAMPLE_MS, d.n, minus(cMid[user]!, c0[user]!));
    const measured = {
      scheme,
      ...result,
      windowSeconds: r2(windowMs / 1000),
      /** from the first request to the last mail consumed, as the side-by-side measures it */
      cpuMsPerMail: r3(cpuBurst / d.n),
      /** over the whole window (with delayed-check, the checks coming due), raw and net of the idle rate */
      cpuMsPerMailWindow: r3(cpu / d.n),
      cpuMsPerMailWindowNetOfIdle: r3((cpu - (idleCpu * windowMs) / IDLE_SAMPLE_MS) / d.n),
      idleCpuMsPerSec: r2(idleCpu / (IDLE_SAMPLE_MS / 1000)),
      peakRssMb: peakRssMb(app.proc.pid!),
      db: { producer: db(dep.producer.user), callback: dep.callback ? db(dep.callback.user) : undefined },
      broker: brokerFigures(scheme, d.n, [idleB0, idleB1], [b0, b1], counters),
      /** the app's counters over the window (checks by verdict, resend requests by action, re-deliveries) */
      appCounters: counters,
    };
    await stopApp(app);
    const log = app.log;
    return { ...measured, logComplete: log ? log.unparseable === 0 && log.mailsAccepted === total && log.mailsConsumed === total && log.mailsWithoutBoth === 0 && log.last === 'mail dispatch stopped' : undefined };
  } finally {
    await cleanup.run(scope);
  }
}

async function runPeer(d: SchemesDeps) {
  const scope = cleanup.mark();
  try {
    const p = await d.startPeer!();
    cleanup.add('stop the peer', async () => {
      if (running(p.proc)) await p.stop();
    });
    await d.load(p.url, d.warmup);
    const r0 = await redisCommands();
    const cpu0 = cpuMs(p.proc.pid!);
    const result = await d.load(p.url, d.n);
    const r1 = await redisCommands();
    return {
      scheme: 'peer' as const,
      ...result,
      cpuMsPerMail: r3((cpuMs(p.proc.pid!) - cpu0) / d.n),
      peakRssMb: peakRssMb(p.proc.pid!),
      redisCommandsPerMail: r0 !== null && r1 !== null ? r2((r1 - r0) / d.n) : null,
    };
  } finally {
    await cleanup.run(scope);
  }
}

// ---------------------------------------------------------------------------------------------- a lost publish

async function lostPublish(d: SchemesDeps, admin: Admin, scheme: Scheme) {
  const scope = cleanup.mark();
  try {
    const sink = await arrivalSink();
    cleanup.add('close the arrival sink', () => sink.close());
    // the callback's table in the app's own database, as by default
    const dep = await deploy(d, admin, scheme, scheme === 'msg-log' ? 'lml' : 'ldc', false);
    const app = await started(d, appEnv(scheme, dep, { NODE_ENV: 'test', DEV_FAULTS: 'true', SMTP_URL: `smtp://127.0.0.1:${sink.port}?ignoreTLS=true` }));
    // spread over one period of the job's 10-second cron, so the mails meet it at different points
    const spacingMs = Math.round(10_000 / d.lostMails);
    const accepted: { msgId: string; at: number }[] = [];
    for (let i = 0; i < d.lostMails; i++) {
      if (i) await sleep(spacingMs);
      const res = await fetch(`${app.url}/mail/send`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-dev-fault': 'lose-publish', ...d.auth },
        body: JSON.stringify({ subject: `lost publish ${i}`, content: 'x'.repeat(200), tos: 'someone@example.com' }),
      });
      const at = Date.now();
      const body = (await res.json()) as { msgId?: string };
      if (res.status !== 202 || !body.msgId) throw new Error(`${scheme}: a lose-publish mail was refused: ${res.status} ${JSON.stringify(body)}`);
      accepted.push({ msgId: body.msgId, at });
    }
    const expectMs = scheme === 'msg-log' ? PUBLISH_GRACE_MS + 10_000 : CHECK_DELAY_MS;
    await waitFor(`the ${scheme} lost publishes at the sink`, async () => accepted.every((a) => sink.arrivals.has(a.msgId)), expectMs + 120_000, 100);
    const seconds = accepted.map((a) => (sink.arrivals.get(a.msgId)! - a.at) / 1000).sort((a, b) => a - b);
    const counters = await metrics(app.url, d.auth);
    return {
      scheme,
      nodeEnv: 'test',
      timings: scheme === 'msg-log' ? { PUBLISH_GRACE_MS, REDELIVERY_CRON: process.env.REDELIVERY_CRON ?? 'default (every 10 s)' } : { CHECK_DELAY_MS },
      mails: seconds.length,
      medianSeconds: r2(seconds[Math.floor((seconds.length - 1) / 2)]!),
      minSeconds: r2(seconds[0]!),
      maxSeconds: r2(seconds.at(-1)!),
      seconds: seconds.map(r2),
      appCounters: counters,
    };
  } finally {
    await cleanup.run(scope);
  }
}

// ---------------------------------------------------------------------------------------------- the whole run

export type SchemeResult = Awaited<ReturnType<typeof runScheme>>;
export type PeerResult = Awaited<ReturnType<typeof runPeer>>;
export type LostResult = Awaited<ReturnType<typeof lostPublish>>;
export type Run = Partial<Record<Scheme, SchemeResult>> & { peer?: PeerResult };

export async function schemesRun(d: SchemesDeps) {
  const admin = await adminConnection(d.server);
  // Interrupted: what was made is undone (the apps, their databases, users and queues, userstat), then exit.
  // tsx relays a signal the whole group already got: the second one must not end the process before the cleanup.
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`${signal}: cleaning up`);
    void cleanup.run().finally(() => {
      d.sink?.kill();
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    // counted from the first statement of each bench user on; put back as found at the end (another bench running
    // at the same time would lose its counts: run one at a time)
    const userstat = Number((await admin.query<{ v: number }[]>('SELECT @@GLOBAL.userstat AS v'))[0]!.v);
    if (!userstat) {
      cleanup.add('userstat back off', () => admin.query('SET GLOBAL userstat = 0'));
      await admin.query('SET GLOBAL userstat = 1');
    }
    const runs: Run[] = [];
    for (let i = 0; i < d.runs; i++) {
      const run: Run = {};
      // the two schemes take turns at going first, so neither always meets the machine as the other left it
      for (const scheme of i % 2 ? [...SCHEMES].reverse() : SCHEMES) {
        console.error(`run ${i + 1}/${d.runs}: ${scheme}`);
        run[scheme] = await runScheme(d, admin, scheme);
      }
      if (d.startPeer) {
        console.error(`run ${i + 1}/${d.runs}: peer`);
        run.peer = await runPeer(d);
      }
      runs.push(run);
    }
    const lost: Partial<Record<Scheme, LostResult>> = {};
    if (d.lostMails > 0) {
      for (const scheme of SCHEMES) {
        console.error(`lost publishes: ${scheme} (NODE_ENV=test, DEV_FAULTS=true)`);
        lost[scheme] = await lostPublish(d, admin, scheme);
      }
    }
    return schemesReport(d, runs, lost);
  } finally {
    await cleanup.run();
    await admin.end().catch(() => undefined);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
