// A mailer for tests that need no SMTP server: `size` lanes, each send answered by the given function.
import type { SendOutcome } from '../../src/core/smtp-outcome';
import type { Lane, Mailer, OutgoingMail } from '../../src/mail/mailer';

export class FakeMailer implements Mailer {
  active = 0;
  peak = 0;
  sent = 0;
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly size: number,
    private readonly answer: (mail: OutgoingMail) => Promise<SendOutcome> = async (mail) => ({ kind: 'done', response: '250 OK', recipients: mail.envelopeTo.map((recipient) => ({ recipient, state: 'accepted' })) }),
  ) {
    this.free = size;
  }

  async acquire(signal?: AbortSignal): Promise<Lane> {
    while (this.free === 0) {
      if (signal?.aborted) throw new Error('no longer waiting for a lane');
      await new Promise<void>((resolve) => {
        this.waiting.push(resolve);
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
    }
    this.free--;
    let released = false;
    return {
      send: async (mail) => {
        this.active++;
        this.peak = Math.max(this.peak, this.active);
        try {
          return await this.answer(mail);
        } finally {
          this.active--;
          this.sent++;
        }
      },
      release: () => {
        if (released) return;
        released = true;
        this.free++;
        this.waiting.shift()?.();
      },
    };
  }

  async verify(): Promise<void> {}
  async close(): Promise<void> {}
}
