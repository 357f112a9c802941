// The suppression list end to end, against a relay that refuses some addresses at RCPT TO the way Postfix does
// ("550 5.1.1 <x>: Recipient address rejected: User unknown"): the address is suppressed in the transaction of the
// send's outcome, later mails leave it out (its outcome says `suppressed`), a mail to nobody else is refused with 422,
// another instance knows within about a second, and a person's DELETE lifts it.
import request from 'supertest';
import { Status } from '../../src/core/status';
import { startFixture, type Fixture } from '../support/fixture';
import { rowOf } from '../support/services';
import { waitFor } from '../support/wait';

describe('the suppression list', () => {
  let f: Fixture<'fault'>;
  const send = (url: string, body: object) => request(url).post('/mail/send').send(body);
  const mail = (tos: string[], subject = 'Your order') => ({ subject, content: 'Order 42 ships today.', tos });
  const consumedOrDead = async (msgId: string) => {
    const row = await rowOf(f.db.pool, msgId);
    return row && (row.status === Status.consumed || row.status === Status.dead) ? row : null;
  };
  const view = async (msgId: string) => (await request(f.app.url).get(`/mail/${msgId}`)).body as { status: string; recipients: { address: string; state: string; failure: { kind: string; code?: number } | null }[]; failure: { kind: string } | null };
  const stateOf = async (msgId: string) => Object.fromEntries((await view(msgId)).recipients.map((r) => [r.address, r.state]));

  beforeAll(async () => {
    f = await startFixture({ sink: 'fault' });
  });

  afterEach(() => f.sink.clear());

  afterAll(() => f?.stop());

  test('a recipient refused as unknown is suppressed with the refusal as data, and later mails go to the others only', async () => {
    f.sink.rcpt = ({ to }) => (to === 'gone@example.com' ? 'permfail' : undefined);
    const first = await send(f.app.url, mail(['gone@example.com', 'buyer@example.com']));
    expect(first.status).toBe(202);
    await waitFor('the first mail final', () => consumedOrDead(first.body.msgId));
    expect(await stateOf(first.body.msgId)).toEqual({ 'gone@example.com': 'bounced', 'buyer@example.com': 'accepted' });

    const listed = await request(f.app.url).get('/suppressions');
    expect(listed.status).toBe(200);
    expect(listed.body.suppressions).toEqual([expect.objectContaining({ address: 'gone@example.com', msgId: first.body.msgId, reason: expect.objectContaining({ kind: 'smtp-permanent', code: 550, enhanced: '5.1.1', recipient: 'gone@example.com' }) })]);
    expect((await request(f.app.url).get('/suppressions/GONE@example.com')).body).toMatchObject({ address: 'gone@example.com' });

    const attemptsBefore = f.sink.rcptAttempts.filter((a) => a.to === 'gone@example.com').length;
    const second = await send(f.app.url, mail(['Gone@Example.com', 'buyer@example.com'], 'Second order'));
    expect(second.status).toBe(202);
    await waitFor('the second mail consumed', async () => (await rowOf(f.db.pool, second.body.msgId))?.status === Status.consumed);
    const recipients = (await view(second.body.msgId)).recipients;
    expect(recipients.find((r) => r.address === 'Gone@example.com')).toMatchObject({ state: 'suppressed', failure: { kind: 'suppressed' } });
    expect(recipients.find((r) => r.address === 'buyer@example.com')).toMatchObject({ state: 'accepted' });
    expect(f.sink.rcptAttempts.filter((a) => a.to.toLowerCase() === 'gone@example.com')).toHaveLength(attemptsBefore);
    expect(f.sink.received.filter((m) => m.msgId === second.body.msgId).map((m) => m.to)).toEqual([['buyer@example.com']]);
    // counted with the relay's answers, as left out
    expect((await request(f.app.url).get('/metrics')).text).toMatch(/^mail_recipients_total\{state="suppressed"\} 1$/m);
  });

  test('a mail whose every recipient is suppressed is refused with 422 and nothing is stored; in a batch only that mail is refused', async () => {
    const before = await f.db.pool.query<{ n: bigint }[]>('SELECT COUNT(*) AS n FROM msg_log');
    const res = await send(f.app.url, mail(['gone@example.com']));
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ code: 'RECIPIENTS_SUPPRESSED', errors: [expect.objectContaining({ field: 'tos', message: expect.stringContaining('gone@example.com') })] });
    const prepared = await request(f.app.url).post('/mail/prepare').send(mail(['gone@example.com']));
    expect(prepared.status).toBe(422);
    const after = await f.db.pool.query<{ n: bigint }[]>('SELECT COUNT(*) AS n FROM msg_log');
    expect(after[0]!.n).toBe(before[0]!.n);

    const batch = await request(f.app.url).post('/mail/batch').send({ mails: [mail(['gone@example.com']), mail(['buyer@example.com'])] });
    expect(batch.status).toBe(202);
    expect(batch.body.results[0]).toEqual({ error: expect.objectContaining({ status: 422, code: 'RECIPIENTS_SUPPRESSED' }) });
    expect(batch.body.results[1]).toMatchObject({ msgId: expect.any(String), status: 'sending' });
  });

  test('a refusal that is about the mail, not the address (550 5.7.1 by policy), bounces it and suppresses nothing', async () => {
    f.sink.rcpt = ({ to }) => (to === 'strict@example.com' ? 'policy' : undefined);
    const res = await send(f.app.url, mail(['strict@example.com']));
    await waitFor('dead', async () => (await rowOf(f.db.pool, res.body.msgId))?.status === Status.dead);
    expect((await request(f.app.url).get('/suppressions/strict@example.com')).status).toBe(404);
    expect((await send(f.app.url, mail(['strict@example.com']))).status).toBe(202);
  });

  test('another instance refuses a suppressed address within about a second, and a lift anywhere is seen everywhere', async () => {
    const api = await f.startApp({ roles: 'api' });
    f.sink.rcpt = ({ to }) => (to === 'left@example.com' ? 'permfail' : undefined);
    const res = await send(f.app.url, mail(['left@example.com']));
    await waitFor('dead', async () => (await rowOf(f.db.pool, res.body.msgId))?.status === Status.dead);
    await waitFor('the other instance refuses it', async () => (await send(api.url, mail(['left@example.com']))).status === 422, 3_000, 200);

    const lifted = await request(api.url).delete('/suppressions/left@example.com');
    expect(lifted.status).toBe(200);
    expect((await request(api.url).delete('/suppressions/left@example.com')).status).toBe(404);
    f.sink.rcpt = null;
    let again: request.Response | undefined;
    await waitFor('the first instance takes it again', async () => (again = await send(f.app.url, mail(['left@example.com']))).status === 202, 3_000, 200);
    await waitFor('sent after the lift', () => f.sink.received.some((m) => m.msgId === again!.body.msgId));
  });

  test('a scheduled mail whose only recipient is suppressed before its time is never sent: dead, with the reason', async () => {
    const sendAt = new Date(Date.now() + 2_500).toISOString();
    const scheduled = await send(f.app.url, { ...mail(['later@example.com']), sendAt });
    expect(scheduled.body.status).toBe('scheduled');
    f.sink.rcpt = ({ to }) => (to === 'later@example.com' ? 'permfail' : undefined);
    const bounced = await send(f.app.url, mail(['later@example.com', 'buyer@example.com']));
    await waitFor('the bounce recorded', () => consumedOrDead(bounced.body.msgId));
    const attempts = f.sink.rcptAttempts.filter((a) => a.to === 'later@example.com').length;
    await waitFor('the scheduled mail dead', async () => (await rowOf(f.db.pool, scheduled.body.msgId))?.status === Status.dead, 10_000);
    const dead = await view(scheduled.body.msgId);
    expect(dead.recipients).toEqual([expect.objectContaining({ address: 'later@example.com', state: 'suppressed' })]);
    expect(dead.failure).toMatchObject({ kind: 'suppressed' });
    expect(f.sink.rcptAttempts.filter((a) => a.to === 'later@example.com')).toHaveLength(attempts);
  });
});
