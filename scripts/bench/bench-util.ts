// Small helpers for the benchmark: ports, waiting, memory of a process, database write counters, the app's log.
import { spawnSync } from 'node:child_process';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import * as mariadb from 'mariadb';
import { parseDatabaseUrl } from '../../src/store/db';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

function statusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** CPU time (user + system) the process has used so far, in ms. */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (100 Hz)
}

/** The pid of a running server found by its executable's name (MariaDB, RabbitMQ's Erlang VM), if it runs here. */
function pidOf(name: string): number | undefined {
  const r = spawnSync('pgrep', ['-o', '-x', name], { encoding: 'utf8' });
  const pid = Number(r.stdout.trim().split('\n')[0]);
  return pid > 0 ? pid : undefined;
}

/** CPU ms per mail of each process taking part, from now on: where the machine's time goes. */
export function cpuSplit(pids: Record<string, number | undefined>, servers: Record<string, string>): (mails: number) => Record<string, number> {
  const all: Record<string, number | undefined> = { ...pids };
  for (const [label, exe] of Object.entries(servers)) all[label] = pidOf(exe);
  const start = Object.fromEntries(Object.entries(all).flatMap(([k, pid]) => (pid ? [[k, cpuMs(pid)]] : [])));
  return (mails) => Object.fromEntries(Object.entries(start).map(([k, t0]) => [k, Number(((cpuMs(all[k]!) - t0) / mails).toFixed(3))]));
}

/** The process's peak resident memory so far, in MB. */
export const peakRssMb = (pid: number) => Math.round(statusKb(pid, 'VmHWM') / 1024);
export const rssMb = (pid: number) => Math.round(statusKb(pid, 'VmRSS') / 1024);

/** RSS samples summed up by half and by quarter: the first quarter holds the start-up ramp, so flat means the last three agree. */
export function rssProfile(rss: number[]) {
  const avg = (a: number[]) => Math.round(a.reduce((x, y) => x + y, 0) / Math.max(1, a.length));
  const part = (i: number, of: number) => rss.slice(Math.floor((i * rss.length) / of), Math.floor(((i + 1) * rss.length) / of));
  return { rssMbFirstHalf: avg(part(0, 2)), rssMbSecondHalf: avg(part(1, 2)), rssMbByQuarter: [0, 1, 2, 3].map((q) => avg(part(q, 4))), rssMbMax: Math.max(...rss) };
}

/** Counts write statements and written rows on the server from now on (server-wide: run the bench on a quiet server). */
export async function writesCounter(serverUrl: string): Promise<() => Promise<{ statements: number; rows: number }>> {
  const t = parseDatabaseUrl(`${serverUrl}/mysql`);
  const read = async () => {
    const conn = await mariadb.createConnection({ host: t.host, port: t.port, user: t.user, password: t.password });
    try {
      const rows = await conn.query<{ Variable_name: string; Value: string }[]>(
        "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_insert','Com_update','Com_delete','Com_insert_select','Com_update_multi','Handler_write','Handler_update','Handler_delete')",
      );
      const v = Object.fromEntries(rows.map((r) => [r.Variable_name, Number(r.Value)]));
      const statements = (v.Com_insert ?? 0) + (v.Com_update ?? 0) + (v.Com_delete ?? 0) + (v.Com_insert_select ?? 0) + (v.Com_update_multi ?? 0);
      const written = (v.Handler_write ?? 0) + (v.Handler_update ?? 0) + (v.Handler_delete ?? 0);
      return { statements, rows: written };
    } finally {
      await conn.end();
    }
  };
  const start = await read();
  return async () => {
    const end = await read();
    return { statements: end.statements - start.statements, rows: end.rows - start.rows };
  };
}

export interface AppLogSummary {
  lines: number;
  mb: number;
  /** lines that are not one JSON object each: two writes mixed inside a line, or a line cut */
  unparseable: number;
  /** lines at each level name */
  byLevel: Record<string, number>;
  /** distinct msgIds with a 'mail accepted' line, and with a 'mail consumed' line */
  mailsAccepted: number;
  mailsConsumed: number;
  /** msgIds with one of the two lines and not the other */
  mailsWithoutBoth: number;
  /** the message of the last line: 'mail dispatch stopped' when nothing logged before the exit was lost */
  last: string | undefined;
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** Reads a pino log file (one JSON object a line) and counts what a mail's life left in it. */
export async function appLogSummary(file: string): Promise<AppLogSummary> {
  const s: AppLogSummary = { lines: 0, mb: Number((statSync(file).size / 1048576).toFixed(1)), unparseable: 0, byLevel: {}, mailsAccepted: 0, mailsConsumed: 0, mailsWithoutBoth: 0, last: undefined };
  const accepted = new Set<string>();
  const consumed = new Set<string>();
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    if (!line) continue;
    s.lines++;
    let l: { level?: number; msg?: string; msgId?: string };
    try {
      l = JSON.parse(line) as typeof l;
    } catch {
      s.unparseable++;
      continue;
    }
    const level = LEVELS[l.level ?? 0] ?? String(l.level);
    s.byLevel[level] = (s.byLevel[level] ?? 0) + 1;
    if (l.msg === 'mail accepted' && l.msgId) accepted.add(l.msgId);
    if (l.msg === 'mail consumed' && l.msgId) consumed.add(l.msgId);
    s.last = l.msg;
  }
  s.mailsAccepted = accepted.size;
  s.mailsConsumed = consumed.size;
  for (const id of accepted) if (!consumed.has(id)) s.mailsWithoutBoth++;
  for (const id of consumed) if (!accepted.has(id)) s.mailsWithoutBoth++;
  return s;
}
