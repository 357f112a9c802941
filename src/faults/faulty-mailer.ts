// DEV_FAULTS=true only: the SMTP faults of the documented scenario 3, without a relay that gives them. A send of a mail
// whose stored message carries smtp-fail answers 451 for every recipient it goes to (deferred: tried again until its
// tries run out); smtp-reject answers 550 (bounced: dead at once); smtp-unknown answers every recipient at RCPT TO
// as a relay answers an address that does not exist, 550 5.1.1 (bounced, and the address suppressed). Any other
// mail goes to the real lane.
import type { DevFault } from '../core/mail-message';
import type { SendOutcome } from '../core/smtp-outcome';
import type { Lane, Mailer, OutgoingMail } from '../mail/mailer';

export class FaultyMailer implements Mailer {
  /**
   * `faultOf` says which fault a mail carries (storedFaultOf reads it from the mail's row: the Mailer is handed no
   * more than the mail's msgId, its recipients and its text).
   */
  constructor(
    private readonly inner: Mailer,
    private readonly faultOf: (msgId: string) => Promise<DevFault | undefined>,
  ) {}

  get size(): number {
    return this.inner.size;
  }

  async acquire(signal?: AbortSignal): Promise<Lane> {
    const lane = await this.inner.acquire(signal);
    return { send: (mail, beforeContent) => this.send(lane, mail, beforeContent), release: () => lane.release() };
  }

  verify(): Promise<void> {
    return this.inner.verify();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async send(lane: Lane, mail: OutgoingMail, beforeContent?: () => boolean): Promise<SendOutcome> {
    let fault: DevFault | undefined;
    try {
      fault = await this.faultOf(mail.msgId);
    } catch (err) {
      // Nothing went out: the claim is given back and the mail comes again (a database that is down, in development).
      return { kind: 'not-sent', reason: `DEV_FAULTS: could not read the mail's fault: ${(err as Error).message}` };
    }
    if (fault === 'smtp-unknown') {
      return {
        kind: 'done',
        response: '',
        recipients: mail.envelopeTo.map((recipient) => ({
          recipient,
          state: 'bounced',
          failure: { kind: 'smtp-permanent', code: 550, enhanced: '5.1.1', recipient, command: 'RCPT TO', detail: `550 5.1.1 <${recipient}>: Recipient address rejected: User unknown (DEV_FAULTS)` },
        })),
      };
    }
    const code = fault === 'smtp-fail' ? 451 : fault === 'smtp-reject' ? 550 : 0;
    if (!code) return lane.send(mail, beforeContent);
    const permanent = code >= 500;
    const kind = permanent ? 'smtp-permanent' : 'smtp-transient';
    const detail = `${code} injected ${permanent ? 'permanent' : 'transient'} failure (DEV_FAULTS)`;
    return {
      kind: 'done',
      response: detail,
      recipients: mail.envelopeTo.map((recipient) => ({ recipient, state: permanent ? 'bounced' : 'deferred', failure: { kind, code, command: 'DATA', detail } })),
    };
  }
}
