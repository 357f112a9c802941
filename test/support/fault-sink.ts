// A loopback SMTP sink for fault scenarios (and for `npm run chaos`). It records every copy it accepted and every
// attempt it saw, and answers each mail as told: accept, 4xx, 5xx, hang (never answer), or drop the connection
// after DATA (the mail is kept, the client never learns it: the "uncertain" case). The answer can be set for the
// whole sink (`mode`) or per mail and attempt (`decide`), and the 250 can be held back (`replyDelayMs`) to widen
// the window between the mail arriving and the sender recording it. test/support/smtp-sink.ts is the simple one.
import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';

export type SinkAction = 'accept' | 'tempfail' | 'permfail' | 'hang' | 'drop-after-data';

export interface SinkCopy {
  msgId: string | null;
  messageId: string | null;
  to: string[];
  subject: string | null;
  at: number;
}

export interface SinkAttempt extends SinkCopy {
  /** 1 for the first DATA this sink saw for the msgId */
  attempt: number;
  action: SinkAction;
}

export interface FaultSinkOptions {
  port?: number;
  host?: string;
}

type Connection = { id: string; close(): void };

export class FaultSink {
  /** copies the sink kept (accepted, or dropped after DATA) */
  readonly received: SinkCopy[] = [];
  /** every DATA the sink saw, with what it answered */
  readonly attempts: SinkAttempt[] = [];
  mode: SinkAction = 'accept';
  /** per mail and attempt; falls back to `mode` when it returns undefined */
  decide: ((mail: { msgId: string | null; attempt: number; subject: string | null }) => SinkAction | undefined) | null = null;
  /** ms between keeping a mail and answering 250 */
  replyDelayMs = 0;
  private readonly server: SMTPServer;
  private readonly perMsg = new Map<string, number>();
  private listenPort = 0;

  constructor(private readonly options: FaultSinkOptions = {}) {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      closeTimeout: 200,
      size: 10 * 1024 * 1024,
      onData: (stream, session, callback) => {
        const parts: Buffer[] = [];
        stream.on('data', (d: Buffer) => parts.push(d));
        stream.on('end', () => this.onMessage(Buffer.concat(parts).toString(), session.envelope.rcptTo.map((r) => r.address), callback, session.id));
      },
    });
    this.server.on('error', () => undefined);
  }

  private onMessage(raw: string, to: string[], callback: (err?: Error | null) => void, sessionId: string): void {
    const head = raw.split(/\r?\n\r?\n/)[0] ?? '';
    const header = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'im').exec(head)?.[1]?.trim() ?? null;
    const copy: SinkCopy = { msgId: header('X-Msg-Id'), messageId: header('Message-ID'), to, subject: header('Subject'), at: Date.now() };
    const key = copy.msgId ?? '';
    const attempt = (this.perMsg.get(key) ?? 0) + 1;
    this.perMsg.set(key, attempt);
    const action = this.decide?.({ msgId: copy.msgId, attempt, subject: copy.subject }) ?? this.mode;
    this.attempts.push({ ...copy, attempt, action });
    switch (action) {
      case 'hang':
        return; // never answers: the client's timeout must fire
      case 'drop-after-data':
        this.received.push(copy);
        for (const c of this.connections()) if (c.id === sessionId) c.close();
        return;
      case 'tempfail':
        return callback(Object.assign(new Error('4.3.0 mailbox temporarily unavailable'), { responseCode: 451 }));
      case 'permfail':
        return callback(Object.assign(new Error('5.1.1 no such user'), { responseCode: 550 }));
      case 'accept':
        this.received.push(copy);
        if (this.replyDelayMs > 0) setTimeout(() => callback(), this.replyDelayMs);
        else callback();
    }
  }

  private connections(): Set<Connection> {
    return (this.server as unknown as { connections: Set<Connection> }).connections;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => resolve());
    });
    this.listenPort = (this.server.server.address() as AddressInfo).port;
    return this;
  }

  get port(): number {
    return this.listenPort;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.listenPort}?ignoreTLS=true`;
  }

  countFor(msgId: string): number {
    return this.received.filter((m) => m.msgId === msgId).length;
  }

  attemptsFor(msgId: string): SinkAttempt[] {
    return this.attempts.filter((a) => a.msgId === msgId);
  }

  /** Forgets what was received (chaos runs several scenarios on one sink). */
  clear(): void {
    this.received.length = 0;
    this.attempts.length = 0;
    this.perMsg.clear();
    this.decide = null;
    this.mode = 'accept';
    this.replyDelayMs = 0;
  }

  async stop(): Promise<void> {
    for (const c of this.connections()) c.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
