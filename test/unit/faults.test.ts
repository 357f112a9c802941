// DEV_FAULTS' wrappers (src/faults): the documented scenarios' faults are played at the edges, read from the stored
// message; a mail without one goes through untouched.
import { encodeMailMessage, type DevFault } from '../../src/core/mail-message';
import type { SendOutcome } from '../../src/core/smtp-outcome';
import { faultOf, storedFaultOf } from '../../src/faults/dev-faults';
import { FaultyDispatcher } from '../../src/faults/faulty-dispatcher';
import { FaultyMailer } from '../../src/faults/faulty-mailer';
import { suppresses } from '../../src/core/suppression';
import { createLogger } from '../../src/logger';
import type { Lane, Mailer, OutgoingMail } from '../../src/mail/mailer';
import type { DispatchItem } from '../../src/services/dispatcher';

const logger = createLogger({ level: 'silent', pretty: false });
const msg = (devFault?: DevFault) => encodeMailMessage({ msgId: '42', subject: 's', content: 'c', tos: ['a@example.com', 'b@example.org'], devFault });
const item = (devFault?: DevFault): DispatchItem => ({ msgId: '42', msg: msg(devFault), exchange: 'ex', routingKey: 'mail', tryCount: 0 });

describe('faultOf', () => {
  test.each(['lose-publish', 'misroute', 'smtp-fail', 'smtp-reject', 'smtp-unknown'] as const)('reads %s from a stored message', (fault) => {
    expect(faultOf(msg(fault))).toBe(fault);
  });

  test.each([
    ['no fault', msg()],
    ['an unknown fault', JSON.stringify({ msgId: '1', devFault: 'explode' })],
    ['not JSON', 'nope'],
    ['JSON null', 'null'],
  ])('%s is no fault', (_, body) => {
    expect(faultOf(body)).toBeUndefined();
  });

  test('storedFaultOf reads the row; no row is no fault', async () => {
    const rows = new Map([['42', { msg: msg('smtp-fail') }]]);
    const read = storedFaultOf({ findRow: async (id: string) => (rows.get(id) ?? null) as never });
    expect(await read('42')).toBe('smtp-fail');
    expect(await read('43')).toBeUndefined();
  });
});

describe('FaultyDispatcher (the API\'s publishes)', () => {
  const setup = () => {
    const seen: DispatchItem[] = [];
    const inner = { dispatch: async (i: DispatchItem) => void seen.push(i) };
    return { seen, faulty: new FaultyDispatcher(inner, logger) };
  };

  test('a mail without a fault is dispatched as it is', async () => {
    const { seen, faulty } = setup();
    const i = item();
    await faulty.dispatch(i);
    expect(seen).toEqual([i]);
  });

  test('lose-publish: nothing is dispatched (the row stays sending for the job)', async () => {
    const { seen, faulty } = setup();
    await faulty.dispatch(item('lose-publish'));
    expect(seen).toEqual([]);
  });

  test('misroute: dispatched with a routing key no queue is bound to, the rest unchanged', async () => {
    const { seen, faulty } = setup();
    await faulty.dispatch(item('misroute'));
    expect(seen).toEqual([{ ...item('misroute'), routingKey: 'mail.misrouted' }]);
  });

  test.each(['smtp-fail', 'smtp-reject', 'smtp-unknown'] as const)('%s is not a publish fault', async (fault) => {
    const { seen, faulty } = setup();
    await faulty.dispatch(item(fault));
    expect(seen).toEqual([item(fault)]);
  });
});

describe('FaultyMailer (the SMTP sends)', () => {
  const mail: OutgoingMail = { msgId: '42', to: ['a@example.com', 'b@example.org'], envelopeTo: ['b@example.org'], subject: 's', text: 'c' };
  const accepted: SendOutcome = { kind: 'done', response: '250 ok', recipients: [{ recipient: 'b@example.org', state: 'accepted' }] };
  const setup = (faultOf: (msgId: string) => Promise<DevFault | undefined>) => {
    const sent: OutgoingMail[] = [];
    let released = 0;
    const lane: Lane = { send: async (m) => (sent.push(m), accepted), release: () => void released++ };
    const inner: Mailer = { size: 3, acquire: async () => lane, verify: async () => undefined, close: async () => undefined };
    return { sent, released: () => released, mailer: new FaultyMailer(inner, faultOf) };
  };

  test('passes size, verify and close through, and a mail without an SMTP fault to the real lane', async () => {
    const { sent, released, mailer } = setup(async () => 'lose-publish');
    expect(mailer.size).toBe(3);
    await expect(mailer.verify()).resolves.toBeUndefined();
    const lane = await mailer.acquire();
    expect(await lane.send(mail)).toEqual(accepted);
    lane.release();
    expect(sent).toEqual([mail]);
    expect(released()).toBe(1);
  });

  test('smtp-fail: every recipient of this send deferred with a 451, nothing sent', async () => {
    const { sent, mailer } = setup(async () => 'smtp-fail');
    const outcome = await (await mailer.acquire()).send(mail);
    const detail = '451 injected transient failure (DEV_FAULTS)';
    expect(outcome).toEqual({ kind: 'done', response: detail, recipients: [{ recipient: 'b@example.org', state: 'deferred', failure: { kind: 'smtp-transient', code: 451, command: 'DATA', detail } }] });
    expect(sent).toEqual([]);
  });

  test('smtp-reject: every recipient of this send bounced with a 550, nothing sent', async () => {
    const { sent, mailer } = setup(async () => 'smtp-reject');
    const outcome = await (await mailer.acquire()).send({ ...mail, envelopeTo: mail.to });
    const detail = '550 injected permanent failure (DEV_FAULTS)';
    expect(outcome).toEqual({
      kind: 'done',
      response: detail,
      recipients: mail.to.map((recipient) => ({ recipient, state: 'bounced', failure: { kind: 'smtp-permanent', code: 550, command: 'DATA', detail } })),
    });
    expect(sent).toEqual([]);
  });

  test('smtp-unknown: every recipient refused at RCPT TO as unknown (550 5.1.1, which suppresses the address), nothing sent', async () => {
    const { sent, mailer } = setup(async () => 'smtp-unknown');
    const outcome = await (await mailer.acquire()).send({ ...mail, envelopeTo: mail.to });
    expect(outcome).toMatchObject({ kind: 'done', recipients: mail.to.map((recipient) => ({ recipient, state: 'bounced', failure: { kind: 'smtp-permanent', code: 550, enhanced: '5.1.1', command: 'RCPT TO', recipient } })) });
    expect(outcome.kind === 'done' && outcome.recipients.every((r) => suppresses(r.failure))).toBe(true);
    expect(sent).toEqual([]);
  });

  test('a fault that cannot be read sends nothing: the send is given up (not-sent), so the claim goes back', async () => {
    const { sent, mailer } = setup(async () => Promise.reject(new Error('database down')));
    const outcome = await (await mailer.acquire()).send(mail);
    expect(outcome).toMatchObject({ kind: 'not-sent', reason: expect.stringMatching(/database down/) });
    expect(sent).toEqual([]);
  });
});
