// /metrics scraped as Prometheus would, and every number checked against msg_log and msg_event; /ready with SMTP.
import request from 'supertest';
import { Status } from '../../src/core/status';
import { SmtpSink } from '../support/smtp-sink';
import { startFixture, type Fixture } from '../support/fixture';
import { rowOf, uniqueTopology } from '../support/services';
import { waitFor } from '../support/wait';

const NAMES = ['sending', 'delivered', 'delivery_failed', 'consumed', 'consume_failed', 'dead'];

/** Parses the text format into "name{a="b",c="d"}" -> value, labels sorted. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels = (m[3] ?? '').match(/[a-zA-Z_]+="[^"]*"/g) ?? [];
    out.set(`${m[1]}{${labels.sort().join(',')}}`, Number(m[4]));
  }
  return out;
}

describe('/metrics against msg_log', () => {
  let f: Fixture;
  let db: Fixture['db'];
  let sink: Fixture['sink'];
  let app: Fixture['app'];
  let topology: Fixture['topology'];

  beforeAll(async () => {
    f = await startFixture({ env: { DEV_FAULTS: 'true' } });
    ({ db, sink, app, topology } = f);
  });

  afterAll(() => f?.stop());

  const send = async (fault?: string) => {
    const r = request(app.url).post('/mail/send').set('content-type', 'application/json');
    const res = await (fault ? r.set('x-dev-fault', fault) : r).send({ subject: 'metrics', content: 'c', tos: 'm@example.com' });
    expect(res.status).toBe(202);
    return (res.body as { msgId: string }).msgId;
  };
  const count = async (sql: string, args: unknown[] = []) => Number((await db.pool.query<{ n: number }[]>(sql, args))[0]!.n);
  const scrape = async () => {
    const res = await request(app.url).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    return parse(res.text);
  };

  test('after a run of sends, failures, re-deliveries and a retry, every number agrees with the table and its history', async () => {
    const ok = await Promise.all(Array.from({ length: 20 }, () => send()));
    await waitFor('sent', async () => (await count('SELECT COUNT(*) AS n FROM msg_log WHERE status = 3')) === ok.length, 20_000);
    sink.mode = 'permfail';
    const rejected = [await send(), await send()];
    await waitFor('refused', async () => (await count('SELECT COUNT(*) AS n FROM msg_log WHERE status = 5')) === 2, 20_000);
    sink.mode = 'tempfail';
    const failing = await send();
    await waitFor('dead after 3 tries', async () => (await rowOf(db.pool, failing))?.status === Status.dead, 30_000);
    expect((await rowOf(db.pool, failing))?.try_count).toBe(3);
    sink.mode = 'accept';
    const lost = await send('lose-publish');
    await waitFor('re-delivered', async () => (await rowOf(db.pool, lost))?.status === Status.consumed, 20_000);
    // a person retries one dead mail, and this time the server takes it
    expect((await request(app.url).post(`/mail/${rejected[0]}/retry`)).status).toBe(202);
    await waitFor('retried', async () => (await rowOf(db.pool, rejected[0]!))?.status === Status.consumed);
    // the stats the gauges read, and the queue depth, are cached for up to a second (src/observability/stats.ts,
    // queue-probe.ts): scrape until the gauges show the table's counts and the empty queue
    const inTable = async () => Promise.all(NAMES.map((_, code) => count('SELECT COUNT(*) AS n FROM msg_log WHERE status = ?', [code])));
    const m = await waitFor('the mail_messages gauges at the counts in msg_log, and the queue empty', async () => {
      const s = await scrape();
      const rows = await inTable();
      return NAMES.every((name, code) => s.get(`mail_messages{status="${name}"}`) === rows[code]) && s.get(`mail_queue_messages{queue="${topology.queue}"}`) === 0 ? s : undefined;
    }, 10_000);
    for (const [code, name] of NAMES.entries()) {
      const rows = await count('SELECT COUNT(*) AS n FROM msg_log WHERE status = ?', [code]);
      expect({ name, gauge: m.get(`mail_messages{status="${name}"}`) }).toEqual({ name, gauge: rows });
      // every transition this instance made is one history row that is not a claim
      const events = await count('SELECT COUNT(*) AS n FROM msg_event WHERE to_status = ? AND lease <> 1', [code]);
      expect({ name, transitions: m.get(`mail_transitions_total{to_status="${name}"}`) }).toEqual({ name, transitions: events });
    }
    expect(m.get('mail_messages{status="consumed"}')).toBe(ok.length + 2);
    expect(m.get('mail_messages{status="dead"}')).toBe(2);
    for (const name of ['sending', 'delivered', 'delivery_failed', 'consume_failed']) expect(m.get(`mail_backlog{status="${name}"}`)).toBe(0);
    expect(m.get('mail_backlog_due{}')).toBe(0);
    expect(m.get('mail_oldest_pending_age_seconds{}')).toBe(0);

    // latencies: one SMTP observation per send the sink saw, one per refusal; one confirm per publish
    expect(m.get('mail_smtp_send_seconds_count{outcome="accepted"}')).toBe(sink.received.length);
    expect(m.get('mail_smtp_send_seconds_count{outcome="bounced"}')).toBe(2);
    expect(m.get('mail_smtp_send_seconds_count{outcome="deferred"}')).toBe(3);
    // and per recipient (one each here)
    expect(m.get('mail_recipients_total{state="accepted"}')).toBe(sink.received.length);
    expect(m.get('mail_recipients_total{state="bounced"}')).toBe(2);
    expect(m.get('mail_recipients_total{state="deferred"}')).toBe(3);
    expect(m.get('mail_relay_up{}')).toBe(1);
    const confirmed = await count('SELECT COUNT(*) AS n FROM msg_event WHERE from_status = 0 AND to_status = 1');
    expect(m.get('mail_publish_confirm_seconds_count{outcome="ack"}')!).toBeGreaterThanOrEqual(confirmed);
    expect(m.get('mail_publish_confirm_seconds_bucket{le="+Inf",outcome="ack"}')).toBe(m.get('mail_publish_confirm_seconds_count{outcome="ack"}'));

    // the job: rounds ran, and what it re-published is what the history shows it re-published
    const republished = await count('SELECT COUNT(*) AS n FROM msg_event WHERE to_status = 0 AND from_status IN (0, 1, 2, 4) AND lease <> 1');
    expect(m.get('mail_redelivered_total{}')).toBe(republished);
    expect(republished).toBeGreaterThanOrEqual(3); // the lost publish once, the failing mail twice
    expect(m.get('mail_transitions_total{to_status="sending"}')).toBe(ok.length + 4 + republished + 1);
    expect(m.get('mail_redelivery_rounds_total{result="ran"}')!).toBeGreaterThan(0);
    expect(m.get('mail_redelivery_round_seconds_count{}')).toBe(m.get('mail_redelivery_rounds_total{result="ran"}'));
    expect(m.get('mail_manual_retries_total{}')).toBe(1);
    expect(m.get('mail_dead_total{by="listener"}')).toBe(3); // two refusals and the third 451

    // the broker: the queue is empty and has this instance's consumer
    expect(m.get(`mail_queue_messages{queue="${topology.queue}"}`)).toBe(0);
    expect(m.get(`mail_queue_consumers{queue="${topology.queue}"}`)).toBe(1);
    expect(m.get(`mail_queue_messages{queue="${topology.queue}.parked"}`)).toBe(0);
    for (const d of ['database', 'broker', 'smtp']) expect(m.get(`mail_dependency_up{dependency="${d}"}`)).toBe(1);
    expect(m.get('http_requests_total{method="POST",route="/mail/send",status="202"}')).toBe(ok.length + 4);
    expect(m.get('http_requests_total{method="POST",route="/mail/:msgId/retry",status="202"}')).toBe(1);
    expect(m.has('process_cpu_seconds_total{}')).toBe(true);
  });

  test('a backlog shows in the gauges while it waits: backlog by status, due rows and the oldest pending age', async () => {
    const id = await send('lose-publish');
    // scrape (the gauges' stats are cached for up to a second) until the pending mail shows, over a second old
    const m = await waitFor('the pending mail in the gauges, over a second old', async () => {
      const s = await scrape();
      return s.get('mail_backlog{status="sending"}') === 1 && s.get('mail_oldest_pending_age_seconds{}')! > 1 ? s : undefined;
    }, 10_000);
    expect(m.get('mail_backlog{status="sending"}')).toBe(1);
    expect(m.get('mail_oldest_pending_age_seconds{}')!).toBeGreaterThan(1);
    expect(m.get('mail_oldest_pending_age_seconds{}')!).toBeLessThan(10);
    await waitFor('consumed', async () => (await rowOf(db.pool, id))?.status === Status.consumed, 20_000);
  });

  test('/ready checks the database, the broker and SMTP', async () => {
    const res = await request(app.url).get('/ready');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ready', checks: { database: true, broker: true, smtp: true } });
    expect((await request(app.url).get('/health')).body).toEqual({ status: 'ok' });
  });

  test('/ready stays 200 when the SMTP server does not answer (mails wait in RabbitMQ), and names SMTP as down', async () => {
    const dead = await new SmtpSink().start();
    await dead.stop();
    // broker names of its own, so that its listener takes nothing from the queue of the app above
    const app2 = await f.startApp({ roles: 'api,listener', smtpUrl: dead.url, topology: uniqueTopology() });
    const res = await request(app2.url).get('/ready');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ready', checks: { database: true, broker: true, smtp: false } });
  });
});
