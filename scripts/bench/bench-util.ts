// Small helpers for the benchmark: ports, waiting, memory of a process, database write counters.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
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

/** The process's peak resident memory so far, in MB. */
export const peakRssMb = (pid: number) => Math.round(statusKb(pid, 'VmHWM') / 1024);
export const rssMb = (pid: number) => Math.round(statusKb(pid, 'VmRSS') / 1024);

/** Counts write statements and written rows on the server from now on (server-wide: run the bench on a quiet server). */
export async function writesCounter(serverUrl: string): Promise<() => Promise<{ statements: number; rows: number }>> {
  const t = parseDatabaseUrl(`${serverUrl}/mysql`);
  const read = async () => {
    const conn = await mariadb.createConnection({ host: t.host, port: t.port, user: t.user, password: t.password });
    try {
      const rows = await conn.query<{ Variable_name: string; Value: string }[]>(
        "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_insert','Com_update','Com_delete','Com_insert_select','Com_update_multi','Innodb_rows_inserted','Innodb_rows_updated','Innodb_rows_deleted')",
      );
      const v = Object.fromEntries(rows.map((r) => [r.Variable_name, Number(r.Value)]));
      const statements = (v.Com_insert ?? 0) + (v.Com_update ?? 0) + (v.Com_delete ?? 0) + (v.Com_insert_select ?? 0) + (v.Com_update_multi ?? 0);
      const written = (v.Innodb_rows_inserted ?? 0) + (v.Innodb_rows_updated ?? 0) + (v.Innodb_rows_deleted ?? 0);
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
