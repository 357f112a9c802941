// A loopback SMTP server for tests: records what it accepted, and can be told to refuse, hang or drop.
import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';

export type SinkMode = 'accept' | 'tempfail' | 'permfail' | 'hang' | 'drop-after-data';

export interface ReceivedMail {
  messageId: string | null;
  msgId: string | null;
  to: string[];
  subject: string | null;
  /** the message as it arrived (headers and body) */
  raw: string;
}

export class SmtpSink {
  readonly received: ReceivedMail[] = [];
  mode: SinkMode = 'accept';
  private server: SMTPServer;
  private port = 0;

  constructor() {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData: (stream, session, callback) => {
        let raw = '';
        stream.on('data', (d: Buffer) => (raw += d.toString()));
        stream.on('end', () => this.onMessage(raw, session.envelope.rcptTo.map((r) => r.address), callback, session));
      },
    });
    this.server.on('error', () => undefined);
  }

  private onMessage(raw: string, to: string[], callback: (err?: Error | null) => void, session: { id: string }): void {
    if (this.mode === 'hang') return; // never answers: the client's timeout must fire
    if (this.mode === 'drop-after-data') {
      // The mail arrived but the client never learns it: the "uncertain" case.
      this.record(raw, to);
      (this.server as unknown as { connections: Set<{ id: string; close(): void }> }).connections.forEach((c) => c.id === session.id && c.close());
      return;
    }
    if (this.mode === 'tempfail') return callback(Object.assign(new Error('4.3.0 mailbox temporarily unavailable'), { responseCode: 451 }));
    // after DATA a permanent refusal is about the content (a spam verdict): the address stays off the suppression list
    if (this.mode === 'permfail') return callback(Object.assign(new Error('5.7.1 message refused by policy'), { responseCode: 550 }));
    this.record(raw, to);
    callback();
  }

  private record(raw: string, to: string[]): void {
    const header = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'im').exec(raw.split(/\r?\n\r?\n/)[0] ?? '')?.[1]?.trim() ?? null;
    this.received.push({ messageId: header('Message-ID'), msgId: header('X-Msg-Id'), to, subject: header('Subject'), raw });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}?ignoreTLS=true`;
  }

  countFor(msgId: string): number {
    return this.received.filter((m) => m.msgId === msgId).length;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
