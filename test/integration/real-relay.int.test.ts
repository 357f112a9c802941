// The real relay itself (test/support/real-relay.ts, scripts/relay.sh), not the product: Debian's postfix with
// postgrey on loopback greylists new recipients with 450, accepts them once the delay has passed and relays
// them to the sink, and refuses "unknown..." recipients for good with 550. The fault suite relies on all three.
import type { AddressInfo } from 'node:net';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { ensureRealRelayInstalled, realRelayUnavailableReason, startRealRelay, type RealRelay } from '../support/real-relay';
import { sleep, waitFor } from '../support/wait';

const GREYLIST_DELAY_SEC = 2;

/** What a transport error carries for a refused envelope (nodemailer's EENVELOPE). */
interface SendError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  rejected?: string[];
  rejectedErrors?: { responseCode?: number; response?: string; recipient?: string }[];
}

/** A plain loopback SMTP server that records each message's envelope recipients and a test header. */
class CountingSink {
  readonly messages: { to: string[]; testId: string | null }[] = [];
  private readonly server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData: (stream, session, callback) => {
      let raw = '';
      stream.on('data', (d: Buffer) => (raw += d.toString()));
      stream.on('end', () => {
        const head = raw.split(/\r?\n\r?\n/)[0] ?? '';
        this.messages.push({ to: session.envelope.rcptTo.map((r) => r.address), testId: /^X-Test-Id:\s*(.+)$/im.exec(head)?.[1]?.trim() ?? null });
        callback();
      });
    },
  });
  port = 0;

  async start(): Promise<this> {
    this.server.on('error', () => undefined);
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.server.address() as AddressInfo).port;
    return this;
  }

  recipientsOf(testId: string): string[] {
    return this.messages.filter((m) => m.testId === testId).flatMap((m) => m.to).sort();
  }

  stop(): Promise<void> {
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const unavailable = realRelayUnavailableReason();
if (unavailable) console.warn(`real relay tests skipped: ${unavailable}`);

(unavailable ? describe.skip : describe)('the real relay (postfix with postgrey greylisting, on loopback)', () => {
  let sink: CountingSink;
  let relay: RealRelay | undefined;

  const send = (to: string[], testId: string) =>
    nodemailer
      .createTransport({ host: '127.0.0.1', port: relay!.port, secure: false, ignoreTLS: true, pool: false, connectionTimeout: 10_000 })
      .sendMail({ from: 'sender@example.net', to, subject: `real relay ${testId}`, text: 'hello', headers: { 'X-Test-Id': testId } });

  beforeAll(async () => {
    await ensureRealRelayInstalled(); // CI's .ci/run installed it already; otherwise this installs it
    sink = await new CountingSink().start();
    relay = await startRealRelay({ relayToPort: sink.port, greylistDelaySec: GREYLIST_DELAY_SEC });
  }, 330_000);

  afterAll(async () => {
    await relay?.stop();
    await sink?.stop();
  });

  test('A first attempt to two new recipients is greylisted with 450 for both, and a resend after the delay is accepted and reaches the sink for both.', async () => {
    const testId = `greylist-${Date.now()}`;
    const to = ['a@example.com', 'b@example.org'];

    const first = Date.now();
    const err = (await send(to, testId).then(
      () => null,
      (e: SendError) => e,
    )) as SendError | null;
    expect(err).not.toBeNull();
    expect(err!.code).toBe('EENVELOPE');
    expect(err!.responseCode).toBe(450);
    expect([...(err!.rejected ?? [])].sort()).toEqual(to);
    expect(err!.rejectedErrors?.map((e) => e.responseCode)).toEqual([450, 450]);
    expect(err!.rejectedErrors?.every((e) => /^450 4\.2\.0 .*Greylisted/.test(e.response ?? ''))).toBe(true);

    // Resend until accepted. postgrey counts whole seconds, so acceptance may come up to a second before the
    // delay has fully passed on the clock here, but never within the first second: retries there get 450 again.
    let refusedRetries = 0;
    const accepted = await waitFor(
      'the relay to accept the resend after greylisting',
      async () => {
        try {
          return await send(to, testId);
        } catch (e) {
          expect((e as SendError).responseCode).toBe(450);
          refusedRetries++;
          await sleep(250); // fixed: the pace of the resends, four a second
          return null;
        }
      },
      (GREYLIST_DELAY_SEC + 15) * 1000,
      0,
    );
    const acceptedAfterMs = Date.now() - first;
    expect([...accepted.accepted].sort()).toEqual(to);
    expect(accepted.rejected).toEqual([]);
    expect(accepted.response).toMatch(/^250 /);
    expect(refusedRetries).toBeGreaterThanOrEqual(1);
    expect(acceptedAfterMs).toBeGreaterThanOrEqual((GREYLIST_DELAY_SEC - 1) * 1000);

    // postfix relays it to the sink: both recipients, each once (only the accepted attempt was queued).
    await waitFor('both recipients at the sink', () => sink.recipientsOf(testId).length >= 2, 30_000);
    await sleep(500); // fixed: a quiet period; a duplicate, which must not come, would arrive right behind
    expect(sink.recipientsOf(testId)).toEqual(to);
  });

  test('A recipient whose local part starts with "unknown" is refused at once with a permanent 550 5.1.1, without greylisting, and nothing reaches the sink.', async () => {
    const testId = `unknown-${Date.now()}`;
    const err = (await send(['unknown-x@example.com'], testId).then(
      () => null,
      (e: SendError) => e,
    )) as SendError | null;
    expect(err).not.toBeNull();
    expect(err!.code).toBe('EENVELOPE');
    expect(err!.responseCode).toBe(550);
    expect(err!.response).toMatch(/^550 5\.1\.1 <unknown-x@example\.com>: .*User unknown/);
    expect(err!.rejected).toEqual(['unknown-x@example.com']);

    expect(sink.recipientsOf(testId)).toEqual([]); // refused at RCPT: no DATA, nothing queued to relay
  });
});
