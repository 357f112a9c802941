// How `npm run bench -- --schemes` (schemes.ts) counts things:
// - database statements, per database: each database is used by a MariaDB user of its own, made for the run, and the
//   server's user statistics (userstat=ON for the run, put back after; information_schema.USER_STATISTICS:
//   SELECT_COMMANDS, UPDATE_COMMANDS = insert/update/delete, OTHER_COMMANDS = begin/commit/set...) give its statements,
//   rows written and CPU. Exact: nobody else uses those users (the bench's own probes run as root). performance_schema
//   is OFF on this server (it can only be turned on at its start), so its digests are not available.
// - broker messages: RabbitMQ's global counters (rabbit_global_counters, read through `rabbitmqctl eval`; the
//   management plugin is not enabled here): messages published into the broker by clients (amqp091
//   messages_received_total) and messages the broker dead-lettered because their TTL ran out (the check messages'
//   delay queue). Server-wide: a broker used by others meanwhile inflates them. So they are checked against what the
//   app's own counters (/metrics: confirmations, checks by verdict, resend requests, re-deliveries) account for, and a
//   run where they differ by more than 2% is flagged in the table (broker.quiet=false in the JSON); an idle sample
//   before each burst also shows whether anybody else was publishing (broker.idlePublishesPerSec).
// - the window: from just before the burst until every mail is consumed (and, for delayed-check, until every check of
//   the burst came due and was answered: CHECK_DELAY_MS later). Background polls (the due publisher, webhooks, the
//   suppression list, the job) run all along; their rate is sampled idle for IDLE_SAMPLE_MS before the burst, and the
//   statements per mail are given raw and net of that idle rate over the window (the table shows the net ones; the
//   idle rate is steady, ~18 statements/s here). The app's CPU per mail in the table is over the burst only (as the
//   side-by-side measures it): its idle CPU varies too much (30-160 ms/s here) to subtract over a 30-second wait.
// - the app's counters (/metrics) are scraped right before the window and at its end, never inside an idle sample:
//   a scrape reads the database as the app's user.
// - the peer: Redis's total_commands_processed (server-wide) over its burst.
import { TUNING } from '../../src/tuning';
import { spawnSync } from 'node:child_process';
import { createConnection } from 'node:net';
import * as mariadb from 'mariadb';
import { connectAny } from '../../src/broker/amqp-urls';
import { checkDelayQueue, checkQueue, resendQueue, type TopologyNames } from '../../src/broker/topology';
import { parseDatabaseUrl } from '../../src/store/db';
import { sleep, waitFor } from './bench-util';

export type Scheme = 'msg-log' | 'delayed-check';
/** in the order the table shows them */
export const SCHEMES: Scheme[] = ['msg-log', 'delayed-check'];
export const IDLE_SAMPLE_MS = 10_000; // one period of the job's 10-second cron
export const SETTLE_MS = 2_000;
const envMs = (k: string, def: number) => (process.env[k] ? Number(process.env[k]) : def);
/** the app's defaults unless the shell sets them (startApp passes the shell's environment on) */
export const CHECK_DELAY_MS = envMs('CHECK_DELAY_MS', 30_000);
export const PUBLISH_GRACE_MS = envMs('PUBLISH_GRACE_MS', 30_000);

export const r2 = (x: number) => Number(x.toFixed(2));
export const r3 = (x: number) => Number(x.toFixed(3));

// ---------------------------------------------------------------------------------------------- the database server

export type Admin = mariadb.Connection;

export async function adminConnection(server: string): Promise<Admin> {
  const t = parseDatabaseUrl(`${server}/mysql`);
  return mariadb.createConnection({ host: t.host, port: t.port, user: t.user, password: t.password, bigIntAsNumber: true });
}

interface UserCounters {
  selects: number;
  writes: number;
  others: number;
  rowsWritten: number;
  cpuMs: number;
}

export async function userCounters(admin: Admin, users: string[]): Promise<Record<string, UserCounters>> {
  const rows = await admin.query<{ USER: string; SELECT_COMMANDS: number; UPDATE_COMMANDS: number; OTHER_COMMANDS: number; ROWS_INSERTED: number; ROWS_UPDATED: number; ROWS_DELETED: number; CPU_TIME: number }[]>(
    `SELECT USER, SELECT_COMMANDS, UPDATE_COMMANDS, OTHER_COMMANDS, ROWS_INSERTED, ROWS_UPDATED, ROWS_DELETED, CPU_TIME
       FROM information_schema.USER_STATISTICS WHERE USER IN (?)`,
    [users],
  );
  const zero: UserCounters = { selects: 0, writes: 0, others: 0, rowsWritten: 0, cpuMs: 0 };
  const out: Record<string, UserCounters> = Object.fromEntries(users.map((u) => [u, { ...zero }]));
  for (const r of rows) {
    out[r.USER] = {
      selects: Number(r.SELECT_COMMANDS),
      writes: Number(r.UPDATE_COMMANDS),
      others: Number(r.OTHER_COMMANDS),
      rowsWritten: Number(r.ROWS_INSERTED) + Number(r.ROWS_UPDATED) + Number(r.ROWS_DELETED),
      cpuMs: Number(r.CPU_TIME) * 1000,
    };
  }
  return out;
}

export const minus = (a: UserCounters, b: UserCounters): UserCounters => ({ selects: a.selects - b.selects, writes: a.writes - b.writes, others: a.others - b.others, rowsWritten: a.rowsWritten - b.rowsWritten, cpuMs: a.cpuMs - b.cpuMs });
const statements = (c: UserCounters) => c.selects + c.writes + c.others;

/** One database's figures over the window, per mail; `idle` counted over idleMs, scaled to the window for the net figure. */
export function perMail(window: UserCounters, windowMs: number, idle: UserCounters, idleMs: number, mails: number, burst: UserCounters) {
  const scale = windowMs / idleMs;
  return {
    /** from the first request to the last mail consumed, raw (as the side-by-side counts) */
    burstStatementsPerMail: r2(statements(burst) / mails),
    burstWriteStatementsPerMail: r2(burst.writes / mails),
    statementsPerMail: r2(statements(window) / mails),
    statementsPerMailNetOfIdle: r2((statements(window) - statements(idle) * scale) / mails),
    writeStatementsPerMail: r2(window.writes / mails),
    writeStatementsPerMailNetOfIdle: r2((window.writes - idle.writes * scale) / mails),
    selectsPerMail: r2(window.selects / mails),
    otherStatementsPerMail: r2(window.others / mails),
    rowWritesPerMail: r2(window.rowsWritten / mails),
    dbCpuMsPerMail: r3(window.cpuMs / mails),
    idleStatementsPerSec: r2(statements(idle) / (idleMs / 1000)),
  };
}

/** Rows consumed in msg_log, counted as the administrator (not as the app's user, whose statements are measured). */
export async function consumedProbe(rootUrl: string, n: number): Promise<{ done: () => Promise<boolean>; close: () => Promise<void> }> {
  const t = parseDatabaseUrl(rootUrl);
  const conn = await mariadb.createConnection({ host: t.host, port: t.port, user: t.user, password: t.password, database: t.database });
  return {
    done: async () => Number((await conn.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM msg_log WHERE status = 3'))[0]!.n) >= n,
    close: () => conn.end(),
  };
}

// ---------------------------------------------------------------------------------------------- the broker

interface BrokerCounters {
  received: number;
  routed: number;
  deadLettered: number;
}

type BrokerReading = BrokerCounters | { error: string };

// The amqp091 counters (publishes into the broker, as clients made them) and every dead-lettering by expiry.
const BROKER_EXPR = [
  'M = rabbit_global_counters:overview(),',
  'P = maps:get([{protocol,amqp091}], M),',
  'D = lists:sum([maps:get(messages_dead_lettered_expired_total, V, 0) || {K, V} <- maps:to_list(M), lists:keymember(dead_letter_strategy, 1, K)]),',
  '{maps:get(messages_received_total, P), maps:get(messages_routed_total, P), D}.',
].join(' ');

/** The broker's global counters now (rabbitmqctl eval on the local node), or why they could not be read. */
export function brokerCounters(): BrokerReading {
  const r = spawnSync('rabbitmqctl', ['eval', BROKER_EXPR], { encoding: 'utf8', timeout: 30_000 });
  const m = /\{(\d+),(\d+),(\d+)\}/.exec(r.stdout ?? '');
  if (r.status !== 0 || !m) return { error: `rabbitmqctl eval failed: ${(r.error?.message ?? r.stderr ?? r.stdout ?? '').trim().split('\n')[0]}` };
  return { received: Number(m[1]), routed: Number(m[2]), deadLettered: Number(m[3]) };
}

const isCounters = (c: BrokerReading): c is BrokerCounters => !('error' in c);

/**
 * The broker's figures per mail over a window of `n` new mails (and its idle sample before), with the cross-check:
 * quiet when they agree within 2% with what the app's own counters over the window (`counters`) account for.
 */
export function brokerFigures(scheme: Scheme, n: number, [idleB0, idleB1]: [BrokerReading, BrokerReading], [b0, b1]: [BrokerReading, BrokerReading], counters: Record<string, number>) {
  const expected = appAccounting(scheme, n, counters);
  return isCounters(b0) && isCounters(b1)
    ? {
        publishesPerMail: r2((b1.received - b0.received) / n),
        routedPerMail: r2((b1.routed - b0.routed) / n),
        deadLetteredPerMail: r2((b1.deadLettered - b0.deadLettered) / n),
        idlePublishesPerSec: isCounters(idleB0) && isCounters(idleB1) ? r2((idleB1.received - idleB0.received) / (IDLE_SAMPLE_MS / 1000)) : null,
        // what the app's own counters account for; more at the broker means others published meanwhile
        appAccountedPublishesPerMail: r2(expected.publishes / n),
        appAccountedPublishesPerMailMax: r2(expected.publishesMax / n),
        appAccountedDeadLetteredPerMail: r2(expected.deadLettered / n),
        quiet: b1.received - b0.received >= 0.98 * expected.publishes && b1.received - b0.received <= 1.02 * expected.publishesMax && Math.abs(b1.deadLettered - b0.deadLettered - expected.deadLettered) <= 0.02 * n,
      }
    : { error: (isCounters(b0) ? b1 : b0) as { error: string } };
}

/** Messages ready in each queue (a passive declare each; a queue that is missing counts as empty). */
async function queueDepths(amqpUrl: string, queues: string[]): Promise<number[]> {
  const { model } = await connectAny(amqpUrl, 'bench schemes probe');
  model.on('error', () => undefined);
  try {
    const out: number[] = [];
    for (const q of queues) {
      const ch = await model.createChannel();
      ch.on('error', () => undefined);
      out.push(await ch.checkQueue(q).then((r) => r.messageCount, () => 0));
      await ch.close().catch(() => undefined);
    }
    return out;
  } finally {
    await model.close().catch(() => undefined);
  }
}

/**
 * Every check published so far came due and was answered: CHECK_DELAY_MS after `since` (the last publish), the delay,
 * check and resend queues are empty twice a second apart, and the callback recorded a confirmation for every mail.
 */
export async function checksAnswered(d: { amqpUrl: string }, admin: Admin, dep: { names: TopologyNames; callback?: { database: string } }, since: number, mails: number): Promise<void> {
  await sleep(Math.max(0, since + CHECK_DELAY_MS - Date.now()));
  const queues = [checkDelayQueue(dep.names), checkQueue(dep.names), resendQueue(dep.names)];
  let quiet = 0;
  await waitFor(
    "every check come due and answered",
    async () => {
      const depths = await queueDepths(d.amqpUrl, queues);
      const rows = await admin.query<{ n: number }[]>(`SELECT COUNT(*) AS n FROM \`${dep.callback!.database}\`.callback_confirmation`);
      quiet = depths.every((x) => x === 0) && Number(rows[0]!.n) >= mails ? quiet + 1 : 0;
      return quiet >= 2;
    },
    CHECK_DELAY_MS + 300_000,
    1_000,
  );
}


// ---------------------------------------------------------------------------------------------- the app's own counters

/** Counters from the app's /metrics (a scrape reads the database as the app's user: never inside a counted sample). */
export async function metrics(url: string, auth: Record<string, string>): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`, { headers: auth })).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(mail_(?:checks|confirmations|resend_requests|redelivered|dead)_total(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/**
 * The publishes (and expiries) the app's own counters account for over a window of `n` new mails: each mail once;
 * with delayed-check its check too, each resend request, each recheck, and a resend or a job's re-delivery publishes
 * a mail with its check; the listener's confirmations travel many to a message (TUNING.callback.receiptBatch), so
 * they add between one message per full batch and one per confirmation: a range. A cross-check of the broker's
 * server-wide counters, not a measurement.
 */
function appAccounting(scheme: Scheme, n: number, c: Record<string, number>) {
  const get = (k: string) => c[k] ?? 0;
  const redelivered = get('mail_redelivered_total');
  if (scheme === 'msg-log') return { publishes: n + redelivered, publishesMax: n + redelivered, deadLettered: 0 };
  const resent = get('mail_resend_requests_total{action="resend"}');
  const rechecks = get('mail_resend_requests_total{action="recheck"}');
  const checks = n + resent + redelivered + rechecks;
  const base = 2 * (n + resent + redelivered) + rechecks + get('mail_checks_total{verdict="resend"}');
  const confirmations = get('mail_confirmations_total');
  return { publishes: base + Math.ceil(confirmations / TUNING.callback.receiptBatch.maxItems), publishesMax: base + confirmations, deadLettered: checks };
}

// ---------------------------------------------------------------------------------------------- the peer

/** Redis's total_commands_processed (server-wide), or null when it does not answer. */
export function redisCommands(host = '127.0.0.1', port = 6379): Promise<number | null> {
  return new Promise((resolve) => {
    let buf = '';
    const s = createConnection({ host, port }, () => s.write('INFO stats\r\n'));
    s.setTimeout(3_000, () => (s.destroy(), resolve(null)));
    s.on('error', () => resolve(null));
    s.on('data', (d) => {
      buf += d.toString();
      const m = /total_commands_processed:(\d+)/.exec(buf);
      if (m) {
        s.end();
        resolve(Number(m[1]));
      }
    });
  });
}
