// The SMTP lanes (src/mail/smtp-lanes.ts) against the fault sink, no app: what one transaction meant per recipient,
// as the lane reports it. The lane reads the envelope's answers from nodemailer's SMTPConnection while the content
// goes out (its private `_envelope`: an error after the content carries none); the first test pins that reading,
// so a nodemailer upgrade that moves it fails here rather than marking refused recipients as deferred.
import { SmtpMailer } from '../../src/mail/smtp-lanes';
import type { OutgoingMail } from '../../src/mail/mailer';
import { FaultSink } from '../support/fault-sink';

describe('an SMTP lane', () => {
  let sink: FaultSink;
  let mailer: SmtpMailer;
  let seq = 0;

  beforeAll(async () => {
    sink = await new FaultSink().start();
    mailer = new SmtpMailer({ url: `smtp://127.0.0.1:${sink.port}?ignoreTLS=true`, from: 'sender@example.com', poolSize: 1, timeoutMs: 5_000 });
  });

  afterEach(() => sink.clear());

  afterAll(async () => {
    await mailer?.close();
    await sink?.stop();
  });

  const mailTo = (...to: string[]): OutgoingMail => ({ msgId: `9000${++seq}`, to, envelopeTo: to, subject: `lane test ${seq}`, text: 'hello' });

  const send = async (mail: OutgoingMail, beforeContent?: () => boolean) => {
    const lane = await mailer.acquire();
    try {
      return await lane.send(mail, beforeContent);
    } finally {
      lane.release();
    }
  };

  test('when the content is refused with 451 after one recipient was refused with 550 at RCPT TO, the accepted recipient is deferred and the refused one bounced, each with its own reply', async () => {
    sink.rcpt = ({ to }) => (to === 'gone@example.com' ? 'permfail' : undefined);
    sink.mode = 'tempfail';
    const outcome = await send(mailTo('ok@example.com', 'gone@example.com'));
    expect(outcome.kind).toBe('done');
    if (outcome.kind !== 'done') return;
    const byRecipient = Object.fromEntries(outcome.recipients.map((r) => [r.recipient, r]));
    expect(Object.keys(byRecipient).sort()).toEqual(['gone@example.com', 'ok@example.com']);
    expect(byRecipient['ok@example.com']).toMatchObject({ state: 'deferred', failure: { code: 451 } });
    expect(byRecipient['gone@example.com']).toMatchObject({ state: 'bounced', failure: { code: 550, enhanced: '5.1.1', recipient: 'gone@example.com' } });
  });

  test('a recipient refused at RCPT TO in a transaction that succeeds is bounced while the other is accepted', async () => {
    sink.rcpt = ({ to }) => (to === 'gone@example.com' ? 'permfail' : undefined);
    const outcome = await send(mailTo('ok@example.com', 'gone@example.com'));
    expect(outcome).toMatchObject({ kind: 'done' });
    if (outcome.kind !== 'done') return;
    expect(outcome.recipients.map((r) => [r.recipient, r.state]).sort()).toEqual([
      ['gone@example.com', 'bounced'],
      ['ok@example.com', 'accepted'],
    ]);
    expect(sink.received.map((c) => c.to)).toEqual([['ok@example.com']]);
  });

  test('a send whose claim is no longer held when DATA is answered is given up before any content goes out, and the lane sends the next mail', async () => {
    const outcome = await send(mailTo('ok@example.com'), () => false);
    expect(outcome.kind).toBe('not-sent');
    expect(sink.attempts).toHaveLength(0);
    const next = await send(mailTo('ok@example.com'));
    expect(next).toMatchObject({ kind: 'done', recipients: [{ recipient: 'ok@example.com', state: 'accepted' }] });
    expect(sink.received).toHaveLength(1);
  });

  test('a mail whose connection is dropped after the content went out has an unknown outcome, never a failure', async () => {
    sink.mode = 'drop-after-data';
    const outcome = await send(mailTo('ok@example.com'));
    expect(outcome).toMatchObject({ kind: 'unknown', failure: { kind: 'smtp-unknown', command: 'DATA' } });
    expect(sink.received).toHaveLength(1);
  });
});
