// The fault suite's SMTP sink behaves like a real relay: driven here by nodemailer directly (no app), so a fault
// scenario can trust what the sink answers and records. See test/support/fault-sink.ts and relay-behaviours.ts.
import nodemailer from 'nodemailer';
import { FaultSink } from '../support/fault-sink';
import { waitFor } from '../support/wait';

type SendError = Error & { code?: string; originalCode?: string; responseCode?: number; command?: string; response?: string };

describe('the fault sink as a relay', () => {
  let sink: FaultSink;
  let seq = 0;

  beforeAll(async () => {
    sink = await new FaultSink().start();
  });

  afterEach(() => sink.clear());

  afterAll(async () => {
    await sink?.stop();
  });

  /** One mail on a fresh connection (pool: false), with its own X-Msg-Id. */
  const send = (to: string | string[], opts: { from?: string; msgId?: string; timeoutMs?: number } = {}) => {
    const msgId = opts.msgId ?? `m${++seq}`;
    const t = opts.timeoutMs ?? 10_000;
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sink.port, ignoreTLS: true, pool: false, connectionTimeout: t, greetingTimeout: t, socketTimeout: t });
    return transport.sendMail({ from: opts.from ?? 'sender@example.com', to, subject: `mail ${msgId}`, text: 'hello', headers: { 'X-Msg-Id': msgId } });
  };
  const failure = (p: Promise<unknown>): Promise<SendError> =>
    p.then(
      () => {
        throw new Error('the send succeeded, a failure was expected');
      },
      (err: SendError) => err,
    );

  test('a recipient refused with 550 at RCPT TO does not stop the mail reaching the accepted one, and the client is told which was refused', async () => {
    sink.rcpt = ({ to }) => (to === 'gone@example.com' ? 'permfail' : undefined);
    const info = await send(['ok@example.com', 'gone@example.com'], { msgId: 'partial' });
    expect(info.accepted).toEqual(['ok@example.com']);
    expect(info.rejected).toEqual(['gone@example.com']);
    expect(info.rejectedErrors?.[0]?.responseCode).toBe(550);
    expect(info.rejectedErrors?.[0]?.response).toBe('550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown');
    expect(sink.deliveries()).toEqual([{ msgId: 'partial', recipient: 'ok@example.com', at: expect.any(Number) }]);
    expect(sink.rcptAttemptsFor('partial').map((a) => [a.to, a.code, a.by])).toEqual([
      ['ok@example.com', 250, 'default'],
      ['gone@example.com', 550, 'hook'],
    ]);
  });

  test('a mail whose every recipient is refused sends no DATA, so its RCPT answers are found by address, with no msgId', async () => {
    sink.rcpt = () => 'tempfail';
    const err = await failure(send('later@example.com', { msgId: 'nodata' }));
    expect(err.responseCode).toBe(450);
    expect(err.response).toBe('450 4.2.0 <later@example.com>: Recipient address rejected: Greylisted');
    expect(sink.attempts).toHaveLength(0);
    expect(sink.rcptAttemptsFor('nodata')).toEqual([]);
    expect(sink.rcptAttemptsTo('LATER@example.com')).toEqual([expect.objectContaining({ to: 'later@example.com', answer: 'tempfail', code: 450, msgId: null })]);
    expect([...sink.triedMsgIds()]).toEqual([]);
    expect([...sink.triedMsgIds((address) => (address === 'later@example.com' ? 'nodata' : undefined))]).toEqual(['nodata']);
  });

  test('greylisting refuses a new sender and recipient pair with 450 until its time has passed, then accepts it', async () => {
    const ms = 1200; // wide enough that the early sends below stay inside it on a loaded machine
    sink.greylist({ ms, match: (to) => to.endsWith('@grey.example') });
    const first = await failure(send('a@grey.example', { msgId: 'grey' }));
    expect(first.responseCode).toBe(450);
    expect(first.response).toMatch(/^450 4\.2\.0 <a@grey\.example>: .*Greylisted/);
    // the same pair again too early is refused again; another recipient the greylist does not match passes at once
    expect((await failure(send('a@grey.example', { msgId: 'grey' }))).responseCode).toBe(450);
    await expect(send('b@white.example')).resolves.toMatchObject({ accepted: ['b@white.example'] });
    const refusedAt = sink.greylisted[0]!.firstSeen;
    const info = await waitFor('the greylist to let the pair pass', () => send('a@grey.example', { msgId: 'grey' }).catch(() => null), 5000, 50);
    expect(info.accepted).toEqual(['a@grey.example']);
    expect(sink.received.find((c) => c.msgId === 'grey')!.at - refusedAt).toBeGreaterThanOrEqual(ms);
    expect(sink.greylisted.length).toBeGreaterThanOrEqual(2);
    expect(sink.greylisted.every((g) => g.to === 'a@grey.example' && g.from === 'sender@example.com' && g.at - g.firstSeen < ms)).toBe(true);
    // another sender to the same recipient is a new pair
    expect((await failure(send('a@grey.example', { from: 'other@example.com' }))).responseCode).toBe(450);
  });

  test('the rate limit refuses the mail beyond it at MAIL FROM with 451 4.7.1, as postfix does', async () => {
    sink.throttle(3);
    for (let i = 0; i < 3; i++) await send('r@example.com');
    const err = await failure(send('r@example.com', { msgId: 'fourth' }));
    expect(err.responseCode).toBe(451);
    expect(err.command).toBe('MAIL FROM');
    expect(err.response).toBe('451 4.7.1 Error: too much mail, try again later');
    expect(sink.received).toHaveLength(3);
    expect(sink.throttled).toEqual([expect.objectContaining({ stage: 'mail' })]);
    expect(sink.rcptAttemptsTo('r@example.com')).toHaveLength(3);
  });

  test('the rate limit rolls: once the window has passed the oldest accepted mail, a new one is accepted again', async () => {
    sink.throttle(2, { windowMs: 1000 });
    await send('w@example.com');
    await send('w@example.com');
    expect((await failure(send('w@example.com'))).responseCode).toBe(451);
    await waitFor('the window to roll', () => send('w@example.com').catch(() => null), 5000, 50);
    expect(sink.received).toHaveLength(3);
    expect(sink.received[2]!.at - sink.received[0]!.at).toBeGreaterThanOrEqual(990);
  });

  test('the rate limit can refuse at connect instead, with 421 4.7.0 too many connections', async () => {
    sink.throttle(1, { at: 'connect' });
    await send('c@example.com');
    const err = await failure(send('c@example.com'));
    expect(err.responseCode).toBe(421);
    expect(err.response).toBe('421 4.7.0 too many connections');
    expect(sink.throttled).toEqual([expect.objectContaining({ stage: 'connect' })]);
  });

  test('a sink that is down refuses connections (ECONNREFUSED), and serves again on the same port once up', async () => {
    const port = sink.port;
    await sink.down();
    const err = await failure(send('d@example.com'));
    expect(err.originalCode ?? err.code).toBe('ECONNREFUSED');
    await sink.up();
    expect(sink.port).toBe(port);
    await expect(send('d@example.com', { msgId: 'back' })).resolves.toMatchObject({ accepted: ['d@example.com'] });
    expect(sink.countFor('back')).toBe(1);
  });

  test('going down cuts a connection in the middle of a mail, and the client learns the connection was lost', async () => {
    sink.mode = 'hang';
    const pending = failure(send('h@example.com', { msgId: 'cut' }));
    await waitFor('the mail to reach DATA', () => sink.attemptsFor('cut').length > 0, 5000, 10);
    await sink.down();
    const err = await pending;
    expect(err.code).toMatch(/^E/);
    await sink.up();
  });

  test('with greeting421 every new connection is answered 421 4.3.2 and closed', async () => {
    sink.greeting421 = true;
    const err = await failure(send('g@example.com'));
    expect(err.responseCode).toBe(421);
    expect(err.response).toBe('421 4.3.2 Service not available');
    expect(sink.refusedConnections).toBe(1);
    sink.greeting421 = false;
    await expect(send('g@example.com')).resolves.toMatchObject({ accepted: ['g@example.com'] });
  });

  test('a slow relay answers the 250 after DATA only once perMailDelayMs has passed', async () => {
    sink.perMailDelayMs = 300;
    const started = Date.now();
    await send('s@example.com', { msgId: 'slow' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(sink.countFor('slow')).toBe(1);
  });

  test('a client that gives up on a slow relay before its answer loses the mail: attempted, not kept', async () => {
    sink.perMailDelayMs = 1500;
    const err = await failure(send('s@example.com', { msgId: 'gaveup', timeoutMs: 300 }));
    expect(err.code).toBe('ETIMEDOUT');
    expect(sink.attemptsFor('gaveup')).toHaveLength(1);
    await waitFor('the slow answer to find the client gone', () => sink.attemptsFor('gaveup')[0]?.abandoned, 5000, 20);
    expect(sink.countFor('gaveup')).toBe(0);
  });

  test('the per-mail answers the fault scenarios use still work: decide per attempt, mode, drop-after-data and replyDelayMs', async () => {
    sink.decide = ({ attempt }) => (attempt === 1 ? 'tempfail' : undefined);
    expect((await failure(send('p@example.com', { msgId: 'again' }))).responseCode).toBe(451);
    sink.replyDelayMs = 200;
    const started = Date.now();
    await send('p@example.com', { msgId: 'again' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(sink.attemptsFor('again').map((a) => [a.attempt, a.action])).toEqual([
      [1, 'tempfail'],
      [2, 'accept'],
    ]);
    sink.decide = null;
    sink.mode = 'drop-after-data';
    await failure(send('p@example.com', { msgId: 'dropped' }));
    expect(sink.countFor('dropped')).toBe(1);
    expect(sink.countFor('again')).toBe(1);
  });

  test('clear() forgets every record and every relay behaviour', async () => {
    sink.rcpt = () => 'permfail';
    sink.throttle(1);
    sink.greylist({ ms: 60_000 });
    sink.perMailDelayMs = 1000;
    await failure(send('x@example.com'));
    expect(sink.rcptAttempts).toHaveLength(1);
    sink.clear();
    expect([sink.rcptAttempts.length, sink.greylisted.length, sink.throttled.length, sink.received.length, sink.perMailDelayMs, sink.rcpt]).toEqual([0, 0, 0, 0, 0, null]);
    await send('x@example.com');
    await expect(send('x@example.com')).resolves.toMatchObject({ accepted: ['x@example.com'] });
  });
});
