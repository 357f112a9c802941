// The dashboard's data routes and the msg_event history behind them, against real RabbitMQ, MariaDB and SMTP.
import { isDeepStrictEqual } from 'node:util';
import { EventSource } from 'eventsource';
import request from 'supertest';
import { Status, statusName } from '../../src/core/status';
import { startFixture, type Fixture } from '../support/fixture';
import { rowOf } from '../support/services';
import { waitFor } from '../support/wait';

interface Step { kind: string; from: string | null; to: string; attempt: number; confirmMs: number | null; smtpMs: number | null; error: string | null }
interface Detail { mail: { msgId: string; status: string; why: string; tos: string[] }; timeline: Step[] }

describe('the dashboard API and the transition history', () => {
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

  beforeEach(() => {
    sink.mode = 'accept';
  });

  const send = async (tos = 'someone@example.com', fault?: string) => {
    const r = request(app.url).post('/mail/send').set('content-type', 'application/json');
    const res = await (fault ? r.set('x-dev-fault', fault) : r).send({ subject: 'dashboard test', content: 'hello', tos });
    expect(res.status).toBe(202);
    return (res.body as { msgId: string }).msgId;
  };
  const statusOf = async (id: string) => (await rowOf(db.pool, id))?.status;
  const untilStatus = (id: string, status: number, ms = 20_000) => waitFor(`status ${status} for ${id}`, async () => (await statusOf(id)) === status, ms);
  const detail = async (id: string) => {
    const res = await request(app.url).get(`/api/mails/${id}`).query({ tz: 'UTC' });
    expect(res.status).toBe(200);
    return res.body as Detail;
  };

  test('a consumed mail has a timeline of accepted, confirmed (with its confirm latency), claimed and consumed (with its SMTP latency)', async () => {
    const id = await send();
    await untilStatus(id, Status.consumed);
    const d = await detail(id);
    // the listener may claim its copy before the confirm is recorded (the confirms are batched)
    expect([['accepted', 'confirmed', 'claimed', 'consumed'], ['accepted', 'claimed', 'confirmed', 'consumed']]).toContainEqual(d.timeline.map((s) => s.kind));
    const confirmed = d.timeline.find((s) => s.kind === 'confirmed')!;
    expect(confirmed.confirmMs).toEqual(expect.any(Number));
    expect(confirmed.confirmMs!).toBeGreaterThanOrEqual(0);
    expect(d.timeline[3]!.smtpMs!).toBeGreaterThanOrEqual(0);
    expect(d.mail.why).toMatch(/^Consumed: the SMTP server accepted it at \d\d:\d\d:\d\d UTC\.$/);
  });

  test('the history is written by the guarded statement itself: an update that lost its race records nothing', async () => {
    const id = await send();
    await untilStatus(id, Status.consumed);
    const count = async () => Number((await db.pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM msg_event WHERE msg_id = ?', [id]))[0]!.n);
    expect(await count()).toBe(4);
    // a late confirm, a second consumption and a claim of a final row all match no row
    expect(await app.repo.markDelivered([id], 0)).toBe(0);
    expect(await app.repo.markConsumed(id, null)).toBe(false);
    expect(await app.repo.claim(id, 'someone-else')).toBe(false);
    expect(await count()).toBe(4);
    // an update that changes nothing the history cares about records nothing either
    await db.pool.query('UPDATE msg_log SET update_time = update_time WHERE msg_id = ?', [id]);
    expect(await count()).toBe(4);
  });

  test('scenario 3 in the timeline: two SMTP failures, re-publishes, then dead after 3 of 3 tries, explained in one sentence', async () => {
    const id = await send('someone@example.com', 'smtp-fail');
    await untilStatus(id, Status.dead, 30_000);
    const d = await detail(id);
    const kinds = d.timeline.map((s) => s.kind);
    expect(kinds.filter((k) => k === 'smtp_failed')).toHaveLength(2);
    expect(kinds.filter((k) => k === 'republished')).toHaveLength(2);
    expect(kinds.at(-1)).toBe('dead');
    expect(d.timeline.at(-1)).toMatchObject({ attempt: 3, error: expect.stringMatching(/^SMTP answered 451/), failure: { kind: 'smtp-transient', code: 451 } });
    expect(d.mail.why).toMatch(/^Dead after 3 of 3 tries: SMTP answered 451 at \d\d:\d\d:\d\d UTC\. A person can retry it\.$/);
  });

  test('a mail between tries says which SMTP answer it got, when, and when the next try is', async () => {
    const id = await send('someone@example.com', 'smtp-fail');
    await untilStatus(id, Status.consume_failed, 15_000);
    const { mail } = await detail(id);
    // it may already be on its next try when read; either sentence is about the 451
    expect(mail.why).toMatch(/^SMTP answered 451 at \d\d:\d\d:\d\d UTC; next try at \d\d:\d\d:\d\d UTC, try 2 of 3\.$|^(Published again|In the queue|A listener)/);
    await untilStatus(id, Status.dead, 30_000);
  });

  test('the mail list filters by status, searches by msgId prefix and by recipient, and pages newest first', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await send(`pager-${i}@list.example.com`));
    for (const id of ids) await untilStatus(id, Status.consumed);
    const page1 = await request(app.url).get('/api/mails').query({ q: 'list.example.com', limit: 3 });
    expect(page1.status).toBe(200);
    expect(page1.body.mails.map((m: { msgId: string }) => m.msgId)).toEqual([...ids].reverse().slice(0, 3));
    const page2 = await request(app.url).get('/api/mails').query({ q: 'LIST.example.com', limit: 3, before: page1.body.next });
    expect(page2.body.mails.map((m: { msgId: string }) => m.msgId)).toEqual([...ids].reverse().slice(3));
    expect(page2.body.next).toBeNull();
    const byId = await request(app.url).get('/api/mails').query({ q: ids[2]!.slice(0, 17) });
    expect(byId.body.mails.map((m: { msgId: string }) => m.msgId)).toContain(ids[2]);
    const exact = await request(app.url).get('/api/mails').query({ q: ids[2] });
    expect(exact.body.mails).toHaveLength(1);
    expect(exact.body.mails[0]).toMatchObject({ msgId: ids[2], status: 'consumed', tos: ['pager-2@list.example.com'], subject: 'dashboard test' });
    const dead = await request(app.url).get('/api/mails').query({ status: 'dead', q: 'list.example.com' });
    expect(dead.body.mails).toEqual([]);
    const consumed = await request(app.url).get('/api/mails').query({ status: 'consumed', q: 'list.example.com' });
    expect(consumed.body.mails).toHaveLength(5);
    // wildcards in a search are literal
    const wild = await request(app.url).get('/api/mails').query({ q: '%' });
    expect(wild.body.mails).toEqual([]);
  });

  test('bad list parameters are refused with the field named', async () => {
    for (const query of [{ status: 'lost' }, { limit: '0' }, { limit: '201' }, { before: 'abc' }, { q: 'x'.repeat(201) }]) {
      const res = await request(app.url).get('/api/mails').query(query);
      expect(res.status).toBe(400);
      expect(res.type).toBe('application/problem+json');
      expect(res.body.code).toBe('VALIDATION_FAILED');
    }
    expect((await request(app.url).get('/api/mails/123')).status).toBe(404);
    expect((await request(app.url).get('/api/mails/abc')).status).toBe(404);
  });

  test('bulk retry: a dry run only counts, a real run takes the dead mails matching the filter back to consumed', async () => {
    sink.mode = 'permfail';
    const ids = [await send('bulk-1@bulk.example.com'), await send('bulk-2@bulk.example.com'), await send('other@else.example.com')];
    for (const id of ids) await untilStatus(id, Status.dead);
    sink.mode = 'accept';
    const dry = await request(app.url).post('/api/mails/retry').send({ dryRun: true, q: 'bulk.example.com' });
    expect(dry.status).toBe(200);
    expect(dry.body).toEqual({ dryRun: true, matched: 2, retried: 0, skipped: 0, remaining: 2 });
    expect(await statusOf(ids[0]!)).toBe(Status.dead);
    const real = await request(app.url).post('/api/mails/retry').send({ dryRun: false, q: 'bulk.example.com' });
    expect(real.status).toBe(202);
    expect(real.body).toEqual({ dryRun: false, matched: 2, retried: 2, skipped: 0, remaining: 0 });
    await untilStatus(ids[0]!, Status.consumed);
    await untilStatus(ids[1]!, Status.consumed);
    expect(await statusOf(ids[2]!)).toBe(Status.dead);
    const d = await detail(ids[0]!);
    expect(d.timeline.map((s) => s.kind)).toContain('retried');
    // max bounds one request; the rest is reported as remaining
    const one = await request(app.url).post('/api/mails/retry').send({ dryRun: false, max: 1 });
    expect(one.status).toBe(202);
    expect(one.body.retried).toBe(1);
  });

  test('bulk retry refuses a bad body and is rate limited with a 429 problem and Retry-After', async () => {
    for (const body of [{}, { dryRun: 'yes' }, { dryRun: true, status: 'consumed' }, { dryRun: true, extra: 1 }, { dryRun: false, max: 0 }]) {
      const res = await request(app.url).post('/api/mails/retry').send(body);
      expect(res.status).toBe(400);
    }
    const text = await request(app.url).post('/api/mails/retry').set('content-type', 'text/plain').send('dryRun=false');
    expect(text.status).toBe(415);
    let limited: request.Response | null = null;
    for (let i = 0; i < 6 && !limited; i++) {
      const res = await request(app.url).post('/api/mails/retry').send({ dryRun: false, q: 'nobody.example.com' });
      if (res.status === 429) limited = res;
      else expect(res.status).toBe(202);
    }
    expect(limited).not.toBeNull();
    expect(limited!.type).toBe('application/problem+json');
    expect(limited!.body.code).toBe('RATE_LIMITED');
    expect(Number(limited!.headers['retry-after'])).toBeGreaterThan(0);
  });

  test('stats agree with msg_log: counts by status, backlog, and the last 15 minutes of throughput', async () => {
    await waitFor('no backlog', async () => Number((await db.pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM msg_log WHERE status IN (0,1,2,4)'))[0]!.n) === 0, 30_000);
    const inTable = async () => {
      const rows = await db.pool.query<{ status: number; n: number }[]>('SELECT status, COUNT(*) AS n FROM msg_log GROUP BY status');
      const expected: Record<string, number> = Object.fromEntries(Object.keys(Status).map((name) => [name, 0]));
      for (const r of rows) expected[statusName(Number(r.status))] = Number(r.n);
      return { rows, expected };
    };
    // /api/stats is cached for up to a second (src/observability/stats.ts): read it until it shows the table's counts
    const res = await waitFor('/api/stats showing the counts in msg_log', async () => {
      const r = await request(app.url).get('/api/stats');
      expect(r.status).toBe(200);
      return isDeepStrictEqual(r.body.counts, (await inTable()).expected) ? r : undefined;
    }, 10_000);
    const { rows, expected } = await inTable();
    expect(res.body.counts).toEqual(expected);
    expect(res.body.total).toBe(rows.reduce((a, r) => a + Number(r.n), 0));
    expect(res.body.backlog).toBe(0);
    expect(res.body.oldestPending).toBeNull();
    const buckets = res.body.throughput.buckets as { accepted: number; consumed: number; dead: number }[];
    expect(buckets).toHaveLength(90);
    expect(buckets.reduce((a, b) => a + b.accepted, 0)).toBe(res.body.total);
    const consumedEvents = Number((await db.pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM msg_event WHERE to_status = 3'))[0]!.n);
    expect(buckets.reduce((a, b) => a + b.consumed, 0)).toBe(consumedEvents);
    expect(res.body.queues).toEqual(expect.arrayContaining([expect.objectContaining({ queue: topology.queue, consumers: 1 })]));
  });

  test('the oldest pending mail and its age are shown while a mail waits', async () => {
    const id = await send('waiting@example.com', 'lose-publish');
    // read /api/stats (cached for up to a second) until it shows the mail as the oldest pending, over half a second old
    const res = await waitFor(`/api/stats showing ${id} pending over half a second`, async () => {
      const r = await request(app.url).get('/api/stats');
      return r.body.oldestPending?.msgId === id && r.body.oldestPending.ageSeconds > 0.5 ? r : undefined;
    }, 10_000);
    expect(res.body.oldestPending).toMatchObject({ msgId: id });
    expect(res.body.oldestPending.ageSeconds).toBeGreaterThan(0.5);
    expect(res.body.backlog).toBeGreaterThanOrEqual(1);
    await untilStatus(id, Status.consumed);
  });

  test('live updates: /api/events streams the stats as server-sent events and pushes a change', async () => {
    // A standard EventSource opens only on a 200 text/event-stream answer; anything else fails the connection.
    const source = new EventSource(`${app.url}/api/events`);
    const received: { total: number }[] = [];
    source.addEventListener('stats', (e) => received.push(JSON.parse(e.data) as { total: number }));
    try {
      await new Promise<void>((resolve, reject) => {
        source.onopen = () => resolve();
        source.onerror = (e) => reject(new Error(`the event stream did not open: ${e.code ?? ''} ${e.message ?? ''}`));
      });
      const nextStats = () => waitFor('a stats event', () => received.shift(), 20_000, 20);
      const first = await nextStats();
      const id = await send('live@example.com');
      let later = await nextStats();
      while (later.total === first.total) later = await nextStats();
      expect(later.total).toBe(first.total + 1);
      source.close();
      await untilStatus(id, Status.consumed);
    } finally {
      source.close();
    }
  });

  test('/api/info tells the page which dev faults the send form may offer, and whether to show the Webhooks panel', async () => {
    const res = await request(app.url).get('/api/info');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ maxTries: 3, devFaults: ['lose-publish', 'misroute', 'smtp-fail', 'smtp-reject', 'smtp-unknown'], bulkRetry: { maxPerRequest: 1000, perMinute: 5 }, webhooks: false, scheme: 'msg-log' });
  });

  test('the dashboard page and its assets are served from the app with a strict content security policy', async () => {
    const page = await request(app.url).get('/dashboard');
    expect(page.status).toBe(200);
    expect(page.type).toBe('text/html');
    expect(page.headers['content-security-policy']).toMatch(/default-src 'self'/);
    const again = await request(app.url).get('/dashboard').set('if-none-match', page.headers.etag!);
    expect(again.status).toBe(304);
    expect((await request(app.url).get('/dashboard/assets/app.js')).type).toBe('text/javascript');
    expect((await request(app.url).get('/dashboard/assets/webhooks.js')).type).toBe('text/javascript');
    expect((await request(app.url).get('/dashboard/assets/..%2Fpackage.json')).status).toBe(404);
    expect((await request(app.url).get('/dashboard/assets/nope.js')).status).toBe(404);
  });
});
