// What every fault scenario shares: HTTP traffic with its 202s recorded, the msg_log rows, the wait for rows to
// settle after the faults heal, and the end of a scenario (checker, figures line, result file for the summary).
// Used by test/faults/*.fault.test.ts and by scripts/chaos.ts.
import { connect, type ConfirmChannel } from 'amqplib';
import { loadConfig } from '../../src/config';
import { encodeMailMessage } from '../../src/core/mail-message';
import type { Pool } from '../../src/store/db';
import { FINAL } from '../../src/core/status';
import { Fixture, type FixtureOptions } from '../support/fixture';
import { insertRows } from '../support/seed-rows';
import { AMQP_URL } from '../support/services';
import { sleep } from '../support/wait';
import { check, formatLine, type CheckCopy, type CheckResult, type CheckRow } from './checker';
import { writeResult, type ScenarioCheck, type ScenarioRecord } from './summary-format';

/** The timings a user runs (the configuration's defaults), as environment strings: a scenario names what it changes. */
const DEFAULTS = loadConfig({ NODE_ENV: 'test' });
export const PRODUCTION: Record<string, string> = Object.fromEntries(
  (['REDELIVERY_CRON', 'CONFIRM_TIMEOUT_MS', 'PUBLISH_GRACE_MS', 'BACKOFF_BASE_MS', 'BACKOFF_MAX_MS', 'CONSUME_DEADLINE_MS', 'SMTP_TIMEOUT_MS', 'LEASE_MS', 'MQ_PREFETCH', 'MAX_TRIES', 'SMTP_POOL_SIZE'] as const).map((k) => [k, String(DEFAULTS[k])]),
);


/**
 * A scenario's world (test/support/fixture.ts): its own database and broker names, the fault sink, and no app until
 * the scenario starts its own. `beforeAll(() => fx.setup())`, `afterAll(() => fx.stop())`.
 */
export const scenarioFixture = (options: Omit<FixtureOptions<'fault'>, 'sink'> = {}): Fixture<'fault'> =>
  new Fixture({ sink: 'fault', app: false, dbPrefix: 'mdfault', ...options });

// ---------------------------------------------------------------- traffic

export interface TrafficOptions {
  /** requests in flight at once */
  concurrency?: number;
  /** per request */
  timeoutMs?: number;
  subject?: (i: number) => string;
  to?: string;
  /** `Authorization: Bearer <apiKey>` on every request (API keys are optional on the server) */
  apiKey?: string;
  headers?: (i: number) => Record<string, string>;
  /** pause between the requests of one worker */
  pauseMs?: number;
}

export interface RequestOutcome {
  i: number;
  status: number | 'error' | 'timeout';
  msgId?: string;
  /** when the request started (epoch ms) */
  at: number;
  ms: number;
  code?: string;
}

/**
 * POSTs `n` mails in the background, `concurrency` at a time. `accepted` holds the msgIds of the 202s as they
 * come; `reach(k)` waits for k answers of any kind; `done` resolves when every request has an answer.
 */
export class Traffic {
  readonly accepted: string[] = [];
  readonly outcomes: RequestOutcome[] = [];
  readonly done: Promise<void>;
  private next = 0;
  private target: () => string;
  stopped = false;
  private paused = false;

  constructor(
    target: string | (() => string),
    readonly n: number,
    private readonly opts: TrafficOptions = {},
  ) {
    this.target = typeof target === 'string' ? () => target : target;
    const workers = Array.from({ length: Math.min(opts.concurrency ?? 20, n) }, () => this.worker());
    this.done = Promise.all(workers).then(() => undefined);
  }

  /** Sends the requests not yet started to another base URL (an app restarted elsewhere). */
  retarget(target: string | (() => string)): void {
    this.target = typeof target === 'string' ? () => target : target;
  }

  /** Stops starting new requests. */
  stop(): void {
    this.stopped = true;
  }

  /** Holds the requests not yet started (the ones in flight carry on) until resume(). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  /** Requests started and not yet answered. */
  get inFlight(): number {
    return Math.min(this.next, this.n) - this.outcomes.length;
  }

  get answered(): number {
    return this.outcomes.length;
  }

  count(status: RequestOutcome['status']): number {
    return this.outcomes.filter((o) => o.status === status).length;
  }

  /** Status -> count, e.g. { "202": 290, "503": 10 }. */
  get statuses(): Record<string, number> {
    const m: Record<string, number> = {};
    for (const o of this.outcomes) m[String(o.status)] = (m[String(o.status)] ?? 0) + 1;
    return m;
  }

  async reach(k: number, timeoutMs = 60_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.outcomes.length < Math.min(k, this.n)) {
      if (Date.now() > until) throw new Error(`traffic: ${this.outcomes.length} answers after ${timeoutMs} ms, waiting for ${k}`);
      await sleep(5);
    }
  }

  private async worker(): Promise<void> {
    for (;;) {
      while (this.paused && !this.stopped) await sleep(10);
      if (this.stopped) return;
      const i = this.next++;
      if (i >= this.n) return;
      this.outcomes.push(await this.one(i));
      if (this.opts.pauseMs) await sleep(this.opts.pauseMs);
    }
  }

  private async one(i: number): Promise<RequestOutcome> {
    const started = Date.now();
    const o = this.opts;
    const body = JSON.stringify({ subject: o.subject?.(i) ?? `fault mail ${i}`, content: `mail ${i} of a fault scenario`, tos: o.to ?? 'someone@example.com' });
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}), ...(o.headers?.(i) ?? {}) };
    try {
      const res = await fetch(`${this.target()}/mail/send`, { method: 'POST', headers, body, signal: AbortSignal.timeout(o.timeoutMs ?? 15_000) });
      const json = (await res.json().catch(() => ({}))) as { msgId?: string; code?: string };
      if (res.status === 202 && json.msgId) this.accepted.push(json.msgId);
      return { i, status: res.status, msgId: json.msgId, code: json.code, at: started, ms: Date.now() - started };
    } catch (err) {
      const timeout = (err as Error).name === 'TimeoutError';
      return { i, status: timeout ? 'timeout' : 'error', at: started, ms: Date.now() - started };
    }
  }
}

/** Sends `n` mails and waits for every answer. */
export async function postMails(baseUrl: string, n: number, opts: TrafficOptions = {}): Promise<Traffic> {
  const t = new Traffic(baseUrl, n, opts);
  await t.done;
  return t;
}

// ---------------------------------------------------------------- database

/** The rows to check: the given msgIds, or the whole table (a scenario's own database). */
export async function readRows(pool: Pool, ids?: readonly string[]): Promise<CheckRow[]> {
  const cols = 'SELECT msg_id, status, try_count, uncertain_count, last_error FROM msg_log';
  if (!ids) return pool.query<CheckRow[]>(cols);
  const out: CheckRow[] = [];
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    if (chunk.length) out.push(...(await pool.query<CheckRow[]>(`${cols} WHERE msg_id IN (${chunk.map(() => '?').join(',')})`, chunk)));
  }
  return out;
}

export async function countByStatus(pool: Pool, ids?: readonly string[]): Promise<Record<number, number>> {
  const rows = await readRows(pool, ids);
  const m: Record<number, number> = {};
  for (const r of rows) m[Number(r.status)] = (m[Number(r.status)] ?? 0) + 1;
  return m;
}

/** Rows not yet final (consumed or dead). */
export async function pendingCount(pool: Pool, ids?: readonly string[]): Promise<number> {
  if (!ids) {
    const r = await pool.query<{ n: number }[]>(`SELECT COUNT(*) AS n FROM msg_log WHERE status NOT IN (${FINAL.join(',')})`);
    return Number(r[0]!.n);
  }
  const rows = await readRows(pool, ids);
  return ids.length - rows.filter((r) => (FINAL as readonly number[]).includes(Number(r.status))).length;
}

/** Waits until every row is final, or the bound passes; true when settled. */
export async function waitSettled(pool: Pool, boundMs: number, ids?: readonly string[]): Promise<{ settled: boolean; ms: number }> {
  const started = Date.now();
  for (;;) {
    const pending = await pendingCount(pool, ids).catch(() => Number.POSITIVE_INFINITY);
    if (pending === 0) return { settled: true, ms: Date.now() - started };
    if (Date.now() - started > boundMs) return { settled: false, ms: Date.now() - started };
    await sleep(200);
  }
}

// ---------------------------------------------------------------- the end of a scenario

export interface FinishInput {
  accepted: readonly string[];
  /** the sink's copies, or a function giving them once settled */
  sink: readonly CheckCopy[] | (() => readonly CheckCopy[]);
  pool: Pool;
  /** ms to let the rows settle after the faults healed */
  boundMs: number;
  /** check only these rows instead of the whole table (chaos, against a shared table) */
  onlyIds?: readonly string[];
  /** extra wait once settled, for any late duplicate still in a queue */
  quietMs?: number;
  /** msgIds whose mail reached the relay's RCPT or DATA (e.g. `() => sink.triedMsgIds()`), or a function giving them once
   *  settled; when given, the checker flags dead rows that were never tried (deadNeverTried) */
  tried?: ReadonlySet<string> | (() => ReadonlySet<string>);
}

/** One scenario: its name, its fault, its own checks; `finish` runs the checker and records the figures. */
export class ScenarioRun {
  readonly started = Date.now();
  readonly checks: ScenarioCheck[] = [];

  constructor(
    readonly name: string,
    readonly fault: string,
    private readonly resultsDir?: string,
  ) {}

  /** A scenario-specific check; recorded whether or not it held. Returns `ok`. */
  expect(what: string, ok: boolean, detail?: string | number): boolean {
    this.checks.push({ what, ok, ...(detail !== undefined ? { detail: String(detail) } : {}) });
    return ok;
  }

  /** Waits for the rows to settle (bounded), then runs the checker; records nothing yet. */
  async settle(input: FinishInput): Promise<CheckResult> {
    const settle = await waitSettled(input.pool, input.boundMs, input.onlyIds);
    this.expect(`every row final within ${Math.round(input.boundMs / 1000)} s of the heal`, settle.settled, settle.settled ? `${(settle.ms / 1000).toFixed(1)} s` : 'not settled');
    await sleep(input.quietMs ?? 1000);
    const rows = await readRows(input.pool, input.onlyIds);
    const sink = typeof input.sink === 'function' ? input.sink() : input.sink;
    const tried = typeof input.tried === 'function' ? input.tried() : input.tried;
    return check({ accepted: input.accepted, sink, rows, ...(tried ? { tried } : {}) });
  }

  /** settle(), then record the figures. */
  async finish(input: FinishInput): Promise<ScenarioRecord> {
    return this.record(await this.settle(input));
  }

  record(result: CheckResult): ScenarioRecord {
    const ms = Date.now() - this.started;
    const ok = result.ok && this.checks.every((c) => c.ok);
    const record: ScenarioRecord = { scenario: this.name, fault: this.fault, result, ms, ok, checks: this.checks, line: formatLine(this.name, result, ms), at: new Date().toISOString() };
    writeResult(record, this.resultsDir);
    const failed = this.checks.filter((c) => !c.ok).map((c) => `\n    ✗ ${c.what}${c.detail ? ` (${c.detail})` : ''}`);
    const ex = Object.entries(result.examples).filter(([, v]) => v.length).map(([k, v]) => `\n    ${k}: ${v.join(', ')}`);
    process.stdout.write(`\n${record.line}${ok ? '' : '  <-- FAIL'}${failed.join('')}${ex.join('')}\n`);
    return record;
  }
}

/** Jest: fails with every broken invariant and check named, so one failure message says it all. */
export function assertScenario(record: ScenarioRecord): void {
  const problems: string[] = [];
  const r = record.result;
  if (r.lost) problems.push(`lost ${r.lost} (missing rows ${r.missingRows}, not final ${r.pending}; e.g. ${r.examples.lost.join(', ')})`);
  if (r.duplicated) problems.push(`duplicated ${r.duplicated} (e.g. ${r.examples.duplicated.join(', ')})`);
  if (r.recipientDuplicated) problems.push(`recipient duplicated ${r.recipientDuplicated} (e.g. ${r.examples.recipientDuplicated.join(', ')})`);
  if (r.deadNeverTried) problems.push(`dead never tried ${r.deadNeverTried} (e.g. ${r.examples.deadNeverTried.join(', ')})`);
  if (r.consumedWithoutMail) problems.push(`consumed without mail ${r.consumedWithoutMail} (e.g. ${r.examples.consumedWithoutMail.join(', ')})`);
  if (r.unexpectedMail) problems.push(`unexpected mail ${r.unexpectedMail}`);
  if (r.messageIdMismatch) problems.push(`Message-ID mismatch ${r.messageIdMismatch}`);
  for (const c of record.checks) if (!c.ok) problems.push(`${c.what}${c.detail ? ` (${c.detail})` : ''}`);
  if (problems.length) throw new Error(`${record.line}\n  - ${problems.join('\n  - ')}`);
}

// ---------------------------------------------------------------- rows and messages made by the scenario itself

let seedSeq = 0;

/**
 * Inserts rows directly, as the API would have (or as a table with history holds them; test/support/seed-rows.ts),
 * and returns their msgIds and message bodies. `dueInMs` sets next_try_time relative to now (negative: already due).
 */
export async function seedRows(
  pool: Pool,
  topology: { exchange: string; routingKey: string },
  n: number,
  opts: { status?: number; tryCount?: number; dueInMs?: number; subject?: (i: number) => string } = {},
): Promise<{ msgId: string; body: Buffer }[]> {
  const out: { msgId: string; body: Buffer }[] = [];
  const base = BigInt(Date.now()) * 1_000_000n + BigInt(++seedSeq) * 10_000n;
  for (let i = 0; i < n; i += 200) {
    const chunk = Array.from({ length: Math.min(200, n - i) }, (_, k) => {
      const msgId = String(base + BigInt(i + k));
      const msg = encodeMailMessage({ msgId, subject: opts.subject?.(i + k) ?? `seeded mail ${i + k}`, content: 'seeded', tos: ['someone@example.com'] });
      out.push({ msgId, body: Buffer.from(msg) });
      return { msgId, msg };
    });
    await insertRows(pool, topology, chunk, { status: opts.status, tryCount: opts.tryCount, dueInMs: opts.dueInMs ?? 3_600_000 });
  }
  return out;
}

/** A confirm channel of the scenario's own, to publish raw messages (copies, poison) the way another producer would. */
export async function rawPublisher(amqpUrl = AMQP_URL): Promise<{ publish: (exchange: string, key: string, body: Buffer, msgId?: string) => Promise<void>; channel: ConfirmChannel; close: () => Promise<void> }> {
  const conn = await connect(amqpUrl);
  const channel = await conn.createConfirmChannel();
  return {
    channel,
    publish: (exchange, key, body, msgId) =>
      new Promise<void>((resolve, reject) => {
        channel.publish(exchange, key, body, { persistent: true, messageId: msgId, contentType: 'application/json' }, (err: unknown) => (err ? reject(err) : resolve()));
      }),
    close: async () => {
      await conn.close().catch(() => undefined);
    },
  };
}
