// What FaultSink (fault-sink.ts) answers like a real relay, kept apart so each behaviour stays small and testable:
// per-recipient answers at RCPT TO, postgrey-style greylisting, a postfix-style rate limit, and the record of
// every RCPT answer, linked to its mail's msgId once the DATA of that transaction arrives.

/** What a recipient is told at RCPT TO. */
/** permfail: the address is unknown (550 5.1.1); policy: refused for what the mail or sender is (550 5.7.1) */
export type RcptAnswer = 'accept' | 'tempfail' | 'permfail' | 'policy';

/** The hook's view of one RCPT TO; the msgId is not known yet (it comes with DATA, if DATA ever comes). */
export type RcptQuery = { msgId?: never; from: string; to: string; sessionId: string };

/** One RCPT TO and what the sink answered. */
export interface RcptAttempt {
  sessionId: string;
  /** the mail transaction of the connection (smtp-server's session.transaction) */
  transaction: number;
  from: string;
  to: string;
  answer: RcptAnswer;
  /** 250, 450 or 550 */
  code: number;
  /** what decided the answer: the `rcpt` hook, the greylist, or neither (plain accept) */
  by: 'hook' | 'greylist' | 'default';
  /** the X-Msg-Id of the DATA that followed in the same transaction; null while unknown, and for ever when every
   *  recipient was refused (the client then sends no DATA): look those up by address (rcptAttemptsTo) */
  msgId: string | null;
  at: number;
}

/** One refusal by the greylist: `at` is when it was answered, `firstSeen` when the pair was first seen. */
export interface GreylistRefusal {
  from: string;
  to: string;
  firstSeen: number;
  at: number;
}

/** One refusal by the rate limit: at connect (421) or at MAIL FROM (451). */
export interface ThrottleRefusal {
  stage: 'connect' | 'mail';
  sessionId: string;
  at: number;
}

/** One accepted copy for one recipient. */
export interface Delivery {
  msgId: string | null;
  recipient: string;
  at: number;
}

/** An Error that smtp-server turns into the reply `<code> <message>` (enhanced codes are in the message). */
export function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

/** The replies, worded as postfix words them. */
export const REPLIES = {
  rcptTempfail: (to: string) => smtpError(450, `4.2.0 <${to}>: Recipient address rejected: Greylisted`),
  rcptPermfail: (to: string) => smtpError(550, `5.1.1 <${to}>: Recipient address rejected: User unknown`),
  rcptPolicy: (to: string) => smtpError(550, `5.7.1 <${to}>: Recipient address rejected: Access denied`),
  tooMuchMail: () => smtpError(451, '4.7.1 Error: too much mail, try again later'),
  tooManyConnections: () => smtpError(421, '4.7.0 too many connections'),
  notAvailable: () => smtpError(421, '4.3.2 Service not available'),
};

const lower = (s: string) => s.trim().toLowerCase();

/**
 * Like postgrey: the first time a (sender, recipient) pair is seen, and until `ms` have passed since then, its
 * RCPT is refused with 450 4.2.0; afterwards accepted. Recipients that `match` rejects are never greylisted.
 */
export class Greylist {
  private readonly firstSeen = new Map<string, number>();

  constructor(readonly opts: { ms: number; match?: (to: string) => boolean }) {}

  /** The time the pair was first seen when it is still greylisted at `now`; null when it may pass. */
  refuses(from: string, to: string, now: number): number | null {
    if (this.opts.match && !this.opts.match(to)) return null;
    const key = `${lower(from)}\n${lower(to)}`;
    const first = this.firstSeen.get(key) ?? now;
    this.firstSeen.set(key, first);
    return now - first < this.opts.ms ? first : null;
  }
}

/**
 * A rolling-window limit on accepted mails across all connections. A transaction admitted at MAIL FROM holds a
 * slot until it ends (accepted: the slot becomes an accepted mail of the window; refused or abandoned: freed), so
 * concurrent connections cannot overshoot the limit. With `at: 'connect'` new connections are refused instead while
 * the window is full, as postfix's connection rate limit does (a connection already open is not limited then).
 */
export class Throttle {
  private readonly acceptedAt: number[] = [];
  private readonly holding = new Set<string>();

  constructor(
    readonly perWindow: number,
    readonly opts: { at?: 'mail' | 'connect'; windowMs?: number } = {},
  ) {}

  get at(): 'mail' | 'connect' {
    return this.opts.at ?? 'mail';
  }

  private used(now: number): number {
    const since = now - (this.opts.windowMs ?? 60_000);
    while (this.acceptedAt.length && this.acceptedAt[0]! <= since) this.acceptedAt.shift();
    return this.acceptedAt.length + this.holding.size;
  }

  /** A new connection: false when it must be refused (only with `at: 'connect'`). */
  admitConnection(now: number): boolean {
    return this.at !== 'connect' || this.used(now) < this.perWindow;
  }

  /** MAIL FROM: false when it must be refused; otherwise the session holds a slot. */
  admitMail(sessionId: string, now: number): boolean {
    if (this.at !== 'mail') return true;
    this.holding.delete(sessionId); // a new transaction on the same connection ends the previous one
    if (this.used(now) >= this.perWindow) return false;
    this.holding.add(sessionId);
    return true;
  }

  /** The transaction of the session ended with a kept mail. */
  accepted(sessionId: string, now: number): void {
    this.holding.delete(sessionId);
    this.acceptedAt.push(now);
  }

  /** The transaction of the session ended without a kept mail, or the connection closed. */
  release(sessionId: string): void {
    this.holding.delete(sessionId);
  }
}

/**
 * The relay side of FaultSink, which extends it: the knobs (`rcpt`, `greylist`, `throttle`, `perMailDelayMs`,
 * `greeting421`), the records (`rcptAttempts`, `greylisted`, `throttled`, `refusedConnections`), and the answers at
 * connect, MAIL FROM and RCPT TO, as Errors for smtp-server's callbacks (null: go on).
 */
export class RelayBehaviours {
  /** per recipient at RCPT TO: tempfail answers 450 4.2.0, permfail 550 5.1.1, policy 550 5.7.1; undefined falls back to the greylist, then accept */
  rcpt: ((r: RcptQuery) => RcptAnswer | undefined) | null = null;
  /**
   * A slow relay (a before-queue filter): after DATA the sink works this long before answering, whatever the answer.
   * A client that gives up meanwhile loses the transaction: its mail is not kept (the attempt is still recorded).
   */
  perMailDelayMs = 0;
  /** answer every new connection `421 4.3.2 Service not available` and close it */
  greeting421 = false;
  /** every RCPT TO the sink answered, in order */
  readonly rcptAttempts: RcptAttempt[] = [];
  /** every greylist refusal (also in rcptAttempts, with by: 'greylist') */
  readonly greylisted: GreylistRefusal[] = [];
  /** every rate-limit refusal, at connect or at MAIL FROM */
  readonly throttled: ThrottleRefusal[] = [];
  /** connections refused by greeting421 (or that arrived while the sink was going down) */
  refusedConnections = 0;
  protected limiter: Throttle | null = null;
  private greylister: Greylist | null = null;

  /** Postgrey-like greylisting of (sender, recipient) pairs at RCPT TO for `ms`; null turns it off. */
  greylist(opts: { ms: number; match?: (to: string) => boolean } | null): void {
    this.greylister = opts ? new Greylist(opts) : null;
  }

  /**
   * At most `perMinute` accepted mails in any rolling minute (`windowMs` to shorten it), across all connections;
   * beyond, MAIL FROM gets `451 4.7.1 Error: too much mail, try again later`, or with `at: 'connect'` new
   * connections get `421 4.7.0 too many connections`. null turns it off.
   */
  throttle(perMinute: number | null, opts: { at?: 'mail' | 'connect'; windowMs?: number } = {}): void {
    this.limiter = perMinute === null ? null : new Throttle(perMinute, opts);
  }

  /** The RCPT answers of the transactions whose DATA carried this msgId. */
  rcptAttemptsFor(msgId: string): RcptAttempt[] {
    return this.rcptAttempts.filter((a) => a.msgId === msgId);
  }

  /** The RCPT answers for an address (case-insensitive), linked to a msgId or not (every RCPT refused: no DATA). */
  rcptAttemptsTo(address: string): RcptAttempt[] {
    return this.rcptAttempts.filter((a) => lower(a.to) === lower(address));
  }

  protected answerConnect(sessionId: string, listening: boolean): Error | null {
    if (this.greeting421 || !listening) {
      this.refusedConnections++;
      return REPLIES.notAvailable();
    }
    if (!this.limiter || this.limiter.admitConnection(Date.now())) return null;
    this.throttled.push({ stage: 'connect', sessionId, at: Date.now() });
    return REPLIES.tooManyConnections();
  }

  protected answerMail(sessionId: string): Error | null {
    if (!this.limiter || this.limiter.admitMail(sessionId, Date.now())) return null;
    this.throttled.push({ stage: 'mail', sessionId, at: Date.now() });
    return REPLIES.tooMuchMail();
  }

  protected answerRcpt(from: string, to: string, sessionId: string, transaction: number): Error | null {
    const at = Date.now();
    const hooked = this.rcpt?.({ from, to, sessionId });
    let answer: RcptAnswer = hooked ?? 'accept';
    let by: RcptAttempt['by'] = hooked ? 'hook' : 'default';
    const firstSeen = hooked ? null : (this.greylister?.refuses(from, to, at) ?? null);
    if (firstSeen !== null) {
      [answer, by] = ['tempfail', 'greylist'];
      this.greylisted.push({ from, to, firstSeen, at });
    }
    const code = { accept: 250, tempfail: 450, permfail: 550, policy: 550 }[answer];
    this.rcptAttempts.push({ sessionId, transaction, from, to, answer, code, by, msgId: null, at });
    return answer === 'tempfail' ? REPLIES.rcptTempfail(to) : answer === 'permfail' ? REPLIES.rcptPermfail(to) : answer === 'policy' ? REPLIES.rcptPolicy(to) : null;
  }

  /** DATA arrived in this transaction: its RCPT answers belong to `msgId`. */
  protected linkRcpts(sessionId: string, transaction: number, msgId: string | null): void {
    if (msgId === null) return;
    for (const a of this.rcptAttempts) if (a.sessionId === sessionId && a.transaction === transaction && a.msgId === null) a.msgId = msgId;
  }

  protected clearRelay(): void {
    this.rcpt = null;
    this.perMailDelayMs = 0;
    this.greeting421 = false;
    this.greylister = null;
    this.limiter = null;
    this.rcptAttempts.length = 0;
    this.greylisted.length = 0;
    this.throttled.length = 0;
    this.refusedConnections = 0;
  }
}
