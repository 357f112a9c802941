// Two-phase sending end to end (POST /mail/prepare, commit, cancel, the check-back) against the real database, broker
// and an SMTP sink, with a check-back receiver of our own that verifies every signature and answers as told.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { Status } from '../../src/core/status';
import { parseSecret, secretOfKey, verify } from '../../src/core/signature';
import { HeldRepo } from '../../src/store/held-repo';
import { startFixture, type Fixture } from '../support/fixture';
import { API_KEYS, KEY_A } from '../support/security';
import { rowOf } from '../support/services';
import { waitFor } from '../support/wait';

type Answer = 'commit' | 'cancel' | 'garbage' | 'error' | 'hang';

/** A business system's check-back endpoint: answers per msgId as the test says, and records what it was asked. */
class Receiver {
  readonly answers = new Map<string, Answer>();
  /** the answer for a msgId the test named no answer for */
  fallback: Answer = 'error';
  readonly asked: { msgId: string; body: Record<string, unknown>; signed: boolean }[] = [];
  private server!: Server;
  private readonly hanging: { end(): void }[] = [];
  constructor(private readonly secret: Buffer) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const json = JSON.parse(body) as Record<string, unknown>;
        const signed = verify(this.secret, req.headers as Record<string, string>, body);
        this.asked.push({ msgId: String(json.msgId), body: json, signed });
        const answer = signed ? (this.answers.get(String(json.msgId)) ?? this.fallback) : 'error';
        if (answer === 'commit' || answer === 'cancel') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ decision: answer }));
        else if (answer === 'garbage') res.writeHead(200, { 'content-type': 'text/html' }).end('<html>maybe</html>');
        else if (answer === 'hang') this.hanging.push(res); // no answer at all: the question must time out
        else res.writeHead(500).end();
      });
    });
    this.server.listen(0, '127.0.0.1');
    await new Promise((r) => this.server.once('listening', r));
    return this;
  }
  get host(): string {
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  url(path = '/check-back'): string {
    return `http://${this.host}${path}`;
  }
  timesAsked(msgId: string): number {
    return this.asked.filter((a) => a.msgId === msgId).length;
  }
  stop(): Promise<void> {
    for (const res of this.hanging) res.end();
    return new Promise((r) => this.server.close(() => r()));
  }
}

describe('two-phase sending: prepare, commit, cancel and the check-back', () => {
  let f: Fixture;
  let receiver: Receiver;
  const auth = { authorization: `Bearer ${KEY_A}` };
  const mail = (subject: string, extra: object = {}) => ({ subject, content: 'order 42 placed', tos: ['buyer@example.com'], ...extra });
  const api = () => request(f.app.url);
  const statusOf = async (id: string) => (await rowOf(f.db.pool, id))?.status;
  const prepare = async (subject: string, extra: object = {}) => {
    const res = await api().post('/mail/prepare').set(auth).send(mail(subject, extra));
    expect(res.status).toBe(201);
    return (res.body as { msgId: string }).msgId;
  };

  beforeAll(async () => {
    receiver = await new Receiver(secretOfKey(KEY_A)).start();
    // 127.0.0.1:9 is allowed but nothing listens there: a check-back URL that cannot be reached
    f = await startFixture({ env: { API_KEYS, PREPARE_TIMEOUT_MS: '3000', CHECKBACK_ALLOWED_HOSTS: `${receiver.host},127.0.0.1:9`, CHECKBACK_TIMEOUT_MS: '1000' } });
  });

  afterAll(async () => {
    await f?.stop();
    await receiver?.stop();
  });

  test('a prepared mail is stored and answered 201, but nothing is published or sent until it is committed, and then it is sent once', async () => {
    const msgId = await prepare('prepared then committed', { checkBackUrl: receiver.url() });
    const view = await api().get(`/mail/${msgId}`).set(auth);
    expect(view.body).toMatchObject({ msgId, status: 'prepared', statusCode: Status.prepared });
    expect(f.sink.countFor(msgId)).toBe(0);
    const commit = await api().post(`/mail/${msgId}/commit`).set(auth);
    expect(commit.status).toBe(202);
    expect(commit.body).toEqual({ msgId, status: 'committed' });
    await waitFor('consumed', async () => (await statusOf(msgId)) === Status.consumed);
    // committed again (a caller's retry): the same answer, no second copy; a cancel now is too late
    expect((await api().post(`/mail/${msgId}/commit`).set(auth)).status).toBe(202);
    const cancel = await api().post(`/mail/${msgId}/cancel`).set(auth);
    expect(cancel.status).toBe(409);
    expect(cancel.body.code).toBe('MAIL_COMMITTED');
    expect(f.sink.countFor(msgId)).toBe(1);
    expect(receiver.timesAsked(msgId)).toBe(0);
  });

  test('a cancelled mail is never sent: cancelling again answers the same, and a commit afterwards is refused with MAIL_CANCELLED', async () => {
    const msgId = await prepare('prepared then cancelled', { checkBackUrl: receiver.url() });
    const cancel = await api().post(`/mail/${msgId}/cancel`).set(auth);
    expect(cancel.status).toBe(200);
    expect(cancel.body).toEqual({ msgId, status: 'cancelled' });
    expect((await api().post(`/mail/${msgId}/cancel`).set(auth)).status).toBe(200);
    const commit = await api().post(`/mail/${msgId}/commit`).set(auth);
    expect(commit.status).toBe(409);
    expect(commit.body.code).toBe('MAIL_CANCELLED');
    // a sent mail after it proves the pipeline ran past the cancelled one
    const after = await prepare('sent after the cancelled one');
    await api().post(`/mail/${after}/commit`).set(auth).expect(202);
    await waitFor('the later mail consumed', async () => (await statusOf(after)) === Status.consumed);
    expect(await statusOf(msgId)).toBe(Status.cancelled);
    expect(f.sink.countFor(msgId)).toBe(0);
  });

  test('a prepare repeated with its Idempotency-Key answers the same msgId and stores one row; the same key on /mail/send is another request', async () => {
    const body = mail('prepared twice');
    const first = await api().post('/mail/prepare').set(auth).set('idempotency-key', 'order-77').send(body);
    const again = await api().post('/mail/prepare').set(auth).set('idempotency-key', 'order-77').send(body);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body).toEqual({ msgId: first.body.msgId, status: 'prepared' });
    expect(again.headers['idempotent-replayed']).toBe('true');
    const sent = await api().post('/mail/send').set(auth).set('idempotency-key', 'order-77').send(body);
    expect(sent.status).toBe(202);
    expect(sent.body.msgId).not.toBe(first.body.msgId);
    const [row] = await f.db.pool.query<{ n: number }[]>(`SELECT COUNT(*) AS n FROM msg_log WHERE status = ${Status.prepared} AND msg LIKE '%"subject":"prepared twice"%'`);
    expect(Number(row!.n)).toBe(1);
    await api().post(`/mail/${first.body.msgId}/cancel`).set(auth).expect(200);
  });

  test('a checkBackUrl on a host outside CHECKBACK_ALLOWED_HOSTS is refused with 400 at prepare, and nothing is stored', async () => {
    for (const checkBackUrl of ['http://169.254.169.254/latest/meta-data', 'http://127.0.0.1:3306/', 'file:///etc/passwd', `http://user:pw@${receiver.host}/x`]) {
      const res = await api().post('/mail/prepare').set(auth).send(mail('refused', { checkBackUrl }));
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([expect.objectContaining({ field: 'checkBackUrl' })]);
    }
    const [row] = await f.db.pool.query<{ n: number }[]>(`SELECT COUNT(*) AS n FROM msg_log WHERE msg LIKE '%"subject":"refused"%'`);
    expect(Number(row!.n)).toBe(0);
  });

  test('a prepare never committed is asked at its check-back URL with a verifiable signature, and "commit" sends it once', async () => {
    const msgId = await prepare('check-back says commit', { checkBackUrl: receiver.url() });
    receiver.answers.set(msgId, 'commit');
    await waitFor('consumed through the check-back', async () => (await statusOf(msgId)) === Status.consumed, 30_000);
    const asked = receiver.asked.filter((a) => a.msgId === msgId);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ signed: true, body: { msgId, subject: 'check-back says commit', preparedAt: expect.any(String), attempt: 1 } });
    // the secret the caller can fetch is the one its key derives, and the one that signed
    const secret = await api().get('/check-back/secret').set(auth).expect(200);
    expect(parseSecret(secret.body.secret as string).equals(secretOfKey(KEY_A))).toBe(true);
    expect(f.sink.countFor(msgId)).toBe(1);
  });

  test('a check-back answering "cancel" cancels the mail, which is never sent', async () => {
    const msgId = await prepare('check-back says cancel', { checkBackUrl: receiver.url() });
    receiver.answers.set(msgId, 'cancel');
    await waitFor('cancelled through the check-back', async () => (await statusOf(msgId)) === Status.cancelled, 30_000);
    const view = await api().get(`/mail/${msgId}`).set(auth);
    expect(view.body).toMatchObject({ status: 'cancelled', failure: { kind: 'check-back-cancelled' } });
    expect(f.sink.countFor(msgId)).toBe(0);
  });

  test('a check-back that answers garbage, fails, never answers or cannot be reached is asked again with backoff, and after MAX_TRIES the mail is dead with the reason', async () => {
    const garbage = await prepare('check-back answers garbage', { checkBackUrl: receiver.url() });
    receiver.answers.set(garbage, 'garbage');
    const failing = await prepare('check-back fails', { checkBackUrl: receiver.url() });
    receiver.answers.set(failing, 'error');
    const silent = await prepare('check-back never answers', { checkBackUrl: receiver.url() });
    receiver.answers.set(silent, 'hang');
    const unreachable = await prepare('check-back unreachable', { checkBackUrl: 'http://127.0.0.1:9/check-back' });
    const ids = [garbage, failing, silent, unreachable];
    await waitFor('all four dead', async () => (await Promise.all(ids.map(statusOf))).every((s) => s === Status.dead), 40_000);
    expect(receiver.timesAsked(garbage)).toBe(3); // MAX_TRIES in the test timings
    expect(receiver.timesAsked(failing)).toBe(3);
    const failureOf = async (id: string) => (await api().get(`/mail/${id}`).set(auth)).body as { status: string; tryCount: number; failure: unknown };
    expect(await failureOf(garbage)).toMatchObject({ status: 'dead', tryCount: 3, failure: { kind: 'check-back-undecided', code: 200 } });
    expect(await failureOf(failing)).toMatchObject({ tryCount: 3, failure: { kind: 'check-back-undecided', code: 500 } });
    expect(await failureOf(unreachable)).toMatchObject({ tryCount: 3, failure: { kind: 'check-back-unreachable' } });
    expect(await failureOf(silent)).toMatchObject({ tryCount: 3, failure: { kind: 'check-back-unreachable', detail: 'no answer within 1000 ms' } });
    expect(receiver.timesAsked(silent)).toBe(3);
    // dead without ever being committed: neither a late commit nor a cancel applies; a person's retry would send it
    const late = await api().post(`/mail/${garbage}/commit`).set(auth);
    expect(late.status).toBe(409);
    expect(late.body.code).toBe('MAIL_NOT_PREPARED');
    expect(ids.reduce((n, id) => n + f.sink.countFor(id), 0)).toBe(0);
  });

  test('two instances settling 150 expired prepares (more than a batch each) ask each check-back once and send each mail once', async () => {
    const second = await f.startApp({ roles: 'job' });
    receiver.fallback = 'commit';
    try {
      const ids = await Promise.all(Array.from({ length: 150 }, (_, i) => prepare(`many ${i}`, { checkBackUrl: receiver.url() })));
      await waitFor('all consumed', async () => {
        const [row] = await f.db.pool.query<{ n: number }[]>(`SELECT COUNT(*) AS n FROM msg_log WHERE status = ${Status.consumed} AND msg_id IN (${ids.map(() => '?').join(',')})`, ids);
        return Number(row!.n) === ids.length;
      }, 60_000);
      expect(ids.filter((id) => receiver.timesAsked(id) !== 1)).toEqual([]);
      expect(ids.filter((id) => f.sink.countFor(id) !== 1)).toEqual([]);
      expect((await second.checkBack!.runOnce()) + (await f.app.checkBack!.runOnce())).toBe(0);
    } finally {
      receiver.fallback = 'error';
    }
  });

  test('a prepare without a check-back URL that nobody commits is cancelled once it expires, and never sent', async () => {
    const msgId = await prepare('no check-back, never committed');
    await waitFor('cancelled on expiry', async () => (await statusOf(msgId)) === Status.cancelled, 30_000);
    expect((await api().get(`/mail/${msgId}`).set(auth)).body.failure).toEqual({ kind: 'prepare-expired' });
    expect(f.sink.countFor(msgId)).toBe(0);
  });

  test('a commit recorded by a process that died before its publish is published by the re-delivery job and sent once', async () => {
    const msgId = await prepare('committed, then the process died');
    // exactly the state a SIGKILL between the commit's UPDATE and its publish leaves: committed, never published
    const repo = new HeldRepo(f.db.pool, { emit: () => true, webhooks: false }, { publishGraceMs: 3_000 });
    expect(await repo.commit(msgId)).toBe(true);
    expect(await statusOf(msgId)).toBe(Status.sending);
    await waitFor('consumed after the publish grace', async () => (await statusOf(msgId)) === Status.consumed, 30_000);
    expect(f.sink.countFor(msgId)).toBe(1);
  });

  test('a commit and a cancel racing for one prepared mail: exactly one wins, and the mail is sent only if the commit did', async () => {
    const ids = await Promise.all(Array.from({ length: 10 }, (_, i) => prepare(`race ${i}`)));
    const results = await Promise.all(ids.map((id) => Promise.all([api().post(`/mail/${id}/commit`).set(auth), api().post(`/mail/${id}/cancel`).set(auth)])));
    for (const [i, [commit, cancel]] of results.entries()) {
      expect([commit.status, cancel.status].sort()).toEqual(commit.status === 202 ? [202, 409] : [200, 409]);
      if (commit.status === 202) await waitFor('committed one consumed', async () => (await statusOf(ids[i]!)) === Status.consumed);
      else expect(await statusOf(ids[i]!)).toBe(Status.cancelled);
    }
    const sent = results.filter(([commit]) => commit.status === 202).length;
    expect(ids.reduce((n, id) => n + f.sink.countFor(id), 0)).toBe(sent);
  });
});
