// Signed webhooks against the real database: event rows written as the outcome transactions write them
// (WEBHOOK_SQL.insertEvents), delivered by WebhookJob to a receiver of our own that verifies every signature, with the
// dashboard's routes on an app of the fixture (the API role, with the development receiver on).
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { parseSecret, sign, verify } from '../../src/core/signature';
import { webhookEvent, type WebhookEventRow, type WebhookEventType } from '../../src/core/webhook-event';
import { WebhookJob, type WebhookAttempt } from '../../src/jobs/webhook-job';
import { WebhookRepo } from '../../src/store/webhook-repo';
import { WEBHOOK_SQL } from '../../src/store/webhook-sql';
import { startFixture, type Fixture } from '../support/fixture';
import { API_KEYS, KEY_A } from '../support/security';
import { testLogger } from '../support/services';
import { waitFor } from '../support/wait';

const SECRET_TEXT = `whsec_${Buffer.alloc(32, 42).toString('base64')}`;
const SECRET = parseSecret(SECRET_TEXT);
const RETRY = { maxTries: 3, backoff: { baseMs: 100, maxMs: 400, factor: 2, jitter: 0 } };

interface Received {
  id: string;
  timestamp: number;
  signature: string;
  contentType: string;
  body: string;
  verified: boolean;
  at: number;
}

/** A port nothing listens on (fetch itself refuses some ports, 9 among them, so a made-up one would not do). */
async function closedPort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** A webhook receiver: verifies every signature, records what it got, answers as `answer` says (by id and try). */
class Receiver {
  received: Received[] = [];
  answer: (id: string, nth: number) => number | 'hang' = () => 204;
  delayMs = 0;
  private server!: Server;
  private readonly hanging: ServerResponse[] = [];

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const h = req.headers as Record<string, string>;
        const id = h['webhook-id'] ?? '';
        const nth = this.countOf(id);
        this.received.push({ id, timestamp: Number(h['webhook-timestamp']), signature: h['webhook-signature'] ?? '', contentType: h['content-type'] ?? '', body, verified: verify(SECRET, h, body), at: Date.now() });
        const answer = this.answer(id, nth);
        if (answer === 'hang') this.hanging.push(res); // no answer at all: the POST must time out
        else setTimeout(() => res.writeHead(answer).end(), this.delayMs);
      });
    });
    this.server.listen(0, '127.0.0.1');
    await new Promise((r) => this.server.once('listening', r));
    return this;
  }
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }
  countOf(id: string): number {
    return this.received.filter((r) => r.id === id).length;
  }
  reset(): void {
    this.received = [];
    this.answer = () => 204;
    this.delayMs = 0;
  }
  stop(): Promise<void> {
    for (const res of this.hanging) res.end();
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

describe('signed webhooks: every outcome event delivered at least once, signed, with retries', () => {
  let f: Fixture<'none'>;
  let receiver: Receiver;
  const jobs: WebhookJob[] = [];
  const auth = { authorization: `Bearer ${KEY_A}` };
  let serial = 0;

  /** A job of our own (the app runs only the API), over the fixture's database. */
  const jobFor = (url: string, timeoutMs = 2_000) => {
    const job = new WebhookJob({ repo: new WebhookRepo(f.db.pool), url, secret: SECRET, timeoutMs, retry: RETRY, logger: testLogger() });
    jobs.push(job);
    return job;
  };
  const event = (type: WebhookEventType, recipient: string, msgId = String(7_300_000_000_000_000 + ++serial)) =>
    webhookEvent({ type, mail: { msgId, tags: ['welcome'], metadata: { userId: '42' } }, recipient, tryCount: 1, failure: type === 'delivered' ? null : { kind: type === 'deferred' ? 'smtp-transient' : 'smtp-permanent', code: type === 'deferred' ? 451 : 550, recipient } });
  const insert = (events: WebhookEventRow[]) => f.db.pool.query(WEBHOOK_SQL.insertEvents(events.length), events.flatMap((e) => [e.eventId, e.msgId, e.type, e.recipient, e.payload]));
  const rowOf = async (eventId: string) =>
    (await f.db.pool.query<{ state: number; tries: number; nextTryTime: Date | null; lastError: string | null }[]>('SELECT state, tries, next_try_time AS nextTryTime, last_error AS lastError FROM webhook_event WHERE event_id = ?', [eventId]))[0]!;
  const countIn = async (state: number) => Number((await f.db.pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM webhook_event WHERE state = ?', [state]))[0]!.n);
  const attemptsOf = (job: WebhookJob) => {
    const seen: WebhookAttempt[] = [];
    job.on('attempt', (a) => seen.push(a));
    return seen;
  };

  beforeAll(async () => {
    receiver = await new Receiver().start();
    f = await startFixture({ roles: 'api', sink: 'none', env: { API_KEYS, DEV_FAULTS: 'true', WEBHOOK_SECRET: SECRET_TEXT } });
  });

  afterEach(async () => {
    await Promise.all(jobs.splice(0).map((j) => j.stop()));
    await f.db.pool.query('DELETE FROM webhook_event');
    receiver.reset();
  });

  afterAll(async () => {
    await f?.stop();
    await receiver?.stop();
  });

  test('each event reaches the receiver once, within two seconds of its row, with the Standard Webhooks headers and the stored body as it is', async () => {
    const events = [event('delivered', 'a@example.com'), event('deferred', 'b@example.org'), event('bounced', 'c@example.net')];
    await insert(events);
    const written = Date.now();
    jobFor(receiver.url).start();
    await waitFor('three events received', () => receiver.received.length >= 3, 10_000, 20);
    expect(Math.max(...receiver.received.map((r) => r.at)) - written).toBeLessThan(2_000);
    await waitFor('all three marked delivered', async () => (await countIn(1)) === 3);
    for (const e of events) {
      const got = receiver.received.filter((r) => r.id === e.eventId);
      expect(got).toHaveLength(1);
      expect(got[0]).toMatchObject({ verified: true, contentType: 'application/json', body: e.payload });
      expect(got[0]!.signature).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
      expect(Math.abs(got[0]!.timestamp - Date.now() / 1000)).toBeLessThan(10);
      expect(JSON.parse(got[0]!.body)).toMatchObject({ type: e.type, msgId: e.msgId, recipient: e.recipient, tags: ['welcome'], metadata: { userId: '42' } });
      expect(await rowOf(e.eventId)).toMatchObject({ state: 1, tries: 0, nextTryTime: null });
    }
    expect(JSON.parse(receiver.received.find((r) => r.id === events[2]!.eventId)!.body).failure).toMatchObject({ kind: 'smtp-permanent', code: 550 });
    // a round after they were delivered finds nothing due and sends nothing again
    expect(await jobFor(receiver.url).runOnce()).toBe(0);
    expect(receiver.received).toHaveLength(3);
  });

  test('a receiver that answers 500 twice and then 200 gets the event on the third try, with the same webhook-id each time: two tries counted, then delivered', async () => {
    const e = event('bounced', 'd@example.com');
    receiver.answer = (_id, nth) => (nth < 2 ? 500 : 200);
    await insert([e]);
    const job = jobFor(receiver.url);
    const attempts = attemptsOf(job);
    job.start();
    await waitFor('delivered on the third try', async () => (await rowOf(e.eventId)).state === 1);
    expect(receiver.received.map((r) => [r.id, r.verified])).toEqual([[e.eventId, true], [e.eventId, true], [e.eventId, true]]);
    expect(await rowOf(e.eventId)).toMatchObject({ state: 1, tries: 2, nextTryTime: null });
    expect(JSON.parse((await rowOf(e.eventId)).lastError!)).toEqual({ kind: 'http-status', status: 500 });
    expect(attempts.map((a) => a.outcome)).toEqual(['retry', 'retry', 'delivered']);
  });

  test('a receiver that is down leaves the event pending with a try counted and the reason as data; after MAX_TRIES it is failed, listed, retried by a person and then delivered', async () => {
    const e = event('dead', 'e@example.com');
    await insert([e]);
    const down = jobFor(`http://127.0.0.1:${await closedPort()}/hooks`);
    expect(await down.runOnce()).toBe(1);
    const first = await rowOf(e.eventId);
    expect(first).toMatchObject({ state: 0, tries: 1 });
    expect(first.nextTryTime).not.toBeNull();
    expect(JSON.parse(first.lastError!)).toEqual({ kind: 'unreachable', code: 'ECONNREFUSED' });
    down.start();
    await waitFor('failed after MAX_TRIES', async () => (await rowOf(e.eventId)).state === 2);
    expect(await rowOf(e.eventId)).toMatchObject({ state: 2, tries: RETRY.maxTries, nextTryTime: null });
    await down.stop();

    const api = () => request(f.app.url);
    const failed = await api().get('/webhooks/events?state=failed').set(auth).expect(200);
    expect(failed.body).toMatchObject({ state: 'failed', counts: { pending: 0, failed: 1 } });
    expect(failed.body.events).toEqual([
      expect.objectContaining({ id: e.eventId, msgId: e.msgId, type: 'dead', recipient: 'e@example.com', state: 'failed', tries: 3, nextTryTime: null, lastError: 'could not reach the receiver (ECONNREFUSED)', failure: { kind: 'unreachable', code: 'ECONNREFUSED' } }),
    ]);
    expect((await api().get('/webhooks/events?state=pending').set(auth).expect(200)).body.events).toEqual([]);
    expect((await api().get('/webhooks/events?state=delivered').set(auth)).status).toBe(400);
    expect((await api().get('/metrics').set(auth)).text).toContain('mail_webhook_events{state="failed"} 1');

    // the retry is a state-changing route: the API key and the same-origin guard stand in front of it
    const retry = () => api().post(`/webhooks/events/${encodeURIComponent(e.eventId)}/retry`);
    expect((await retry()).status).toBe(401);
    expect((await retry().set(auth).set('origin', 'https://evil.example')).status).toBe(403);
    expect((await rowOf(e.eventId)).state).toBe(2);
    expect((await retry().set(auth).expect(200)).body).toEqual({ id: e.eventId, state: 'pending' });
    expect(await rowOf(e.eventId)).toMatchObject({ state: 0, tries: 0 });
    const again = await retry().set(auth);
    expect([again.status, again.body.code]).toEqual([409, 'WEBHOOK_EVENT_NOT_FAILED']);
    const unknown = await api().post('/webhooks/events/no-such-event/retry').set(auth);
    expect([unknown.status, unknown.body.code]).toEqual([404, 'WEBHOOK_EVENT_NOT_FOUND']);

    jobFor(receiver.url).start();
    await waitFor('delivered after the retry', async () => (await rowOf(e.eventId)).state === 1);
    expect(receiver.received.map((r) => [r.id, r.verified])).toEqual([[e.eventId, true]]);
  });

  test('after a receiver\'s outage a person retries every failed event at once, and each is then delivered once', async () => {
    const events = Array.from({ length: 30 }, (_, i) => event('delivered', `outage${i}@example.com`));
    await insert(events);
    const down = jobFor(`http://127.0.0.1:${await closedPort()}/hooks`);
    down.start();
    await waitFor('all failed', async () => (await countIn(2)) === 30);
    await down.stop();
    const retried = await request(f.app.url).post('/webhooks/events/retry').set(auth).expect(200);
    expect(retried.body).toEqual({ retried: 30, left: 0 });
    expect(await countIn(2)).toBe(0);
    jobFor(receiver.url).start();
    await waitFor('30 delivered', async () => (await countIn(1)) >= 30);
    const ids = receiver.received.map((r) => r.id).filter((id) => events.some((e) => e.eventId === id));
    expect(ids.sort()).toEqual(events.map((e) => e.eventId).sort());
  });

  test('two job instances over 200 events deliver each exactly once, sharing the work', async () => {
    const events = Array.from({ length: 200 }, (_, i) => event(i % 2 ? 'delivered' : 'bounced', `user${i}@example.com`));
    await insert(events);
    receiver.delayMs = 5; // batches take a while, so both instances are at work at once
    const [one, two] = [jobFor(receiver.url), jobFor(receiver.url)];
    const [byOne, byTwo] = [attemptsOf(one), attemptsOf(two)];
    one.start();
    two.start();
    await waitFor('200 delivered', async () => (await countIn(1)) === 200, 30_000);
    const ids = receiver.received.map((r) => r.id);
    expect(ids).toHaveLength(200);
    expect(new Set(ids)).toEqual(new Set(events.map((e) => e.eventId)));
    expect(receiver.received.every((r) => r.verified)).toBe(true);
    expect(byOne.length + byTwo.length).toBe(200);
    expect([...byOne, ...byTwo].every((a) => a.outcome === 'delivered')).toBe(true);
    expect(byOne.length).toBeGreaterThan(0);
    expect(byTwo.length).toBeGreaterThan(0);
  });

  test('a receiver that never answers is timed out: the round ends, and the try is counted with the timeout as data', async () => {
    const e = event('deferred', 'f@example.com');
    receiver.answer = () => 'hang';
    await insert([e]);
    const started = Date.now();
    expect(await jobFor(receiver.url, 300).runOnce()).toBe(1);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(receiver.countOf(e.eventId)).toBe(1);
    const row = await rowOf(e.eventId);
    expect(row).toMatchObject({ state: 0, tries: 1 });
    expect(JSON.parse(row.lastError!)).toEqual({ kind: 'timeout', ms: 300 });
  });

  test('an app whose job role has WEBHOOK_URL delivers the events itself and counts them in mail_webhook_deliveries_total', async () => {
    const app = await f.startApp({ roles: 'job', env: { WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET_TEXT } });
    try {
      expect(app.webhookJob).not.toBeNull();
      const e = event('delivered', 'h@example.com');
      await insert([e]);
      await waitFor('delivered by the app', async () => (await rowOf(e.eventId)).state === 1);
      expect(receiver.received.map((r) => [r.id, r.verified])).toEqual([[e.eventId, true]]);
      expect((await app.metrics.render()).body).toContain('mail_webhook_deliveries_total{outcome="delivered"} 1');
    } finally {
      await app.stop();
    }
  });

  test('the development receiver (DEV_FAULTS) verifies each event with WEBHOOK_SECRET, answers 204 and lists it; a bad signature is answered 401', async () => {
    const e = event('delivered', 'g@example.com');
    await insert([e]);
    jobFor(`${f.app.url}/dev/webhooks`).start();
    await waitFor('delivered to the development receiver', async () => (await rowOf(e.eventId)).state === 1);
    const listed = await request(f.app.url).get(`/dev/webhooks?msgId=${e.msgId}`).set(auth).expect(200);
    expect(listed.body.events).toEqual([expect.objectContaining({ eventId: e.eventId, msgId: e.msgId, type: 'delivered', recipient: 'g@example.com', verified: true, status: 204 })]);

    const forged = sign(Buffer.alloc(32, 1), 'forged-1', Math.floor(Date.now() / 1000), e.payload);
    const refused = await request(f.app.url).post('/dev/webhooks').set({ ...forged }).set('content-type', 'application/json').send(e.payload);
    expect(refused.status).toBe(401);
    const all = (await request(f.app.url).get(`/dev/webhooks?msgId=${e.msgId}`).set(auth).expect(200)).body.events as { verified: boolean }[];
    expect(all.map((r) => r.verified)).toEqual([true, false]);
    expect((await request(f.app.url).get('/api/info').set(auth).expect(200)).body.webhooks).toBe(false);
  });
});
