// A relay that is down is not a mail's failure. The first connection-level failure (refused, reset, TLS, timeout,
// 421 or a refusal at greeting, EHLO, AUTH or MAIL FROM) opens the circuit: the listener stops taking mails (they
// stay in RabbitMQ, nothing is claimed, no try is counted) and probes the relay with backoff (connect, greet, log in:
// nothing is sent). When a probe answers, the circuit closes and mails flow again; if the next send finds the relay
// refusing again, it opens again and the probes keep backing off until a mail really goes through.
import { EventEmitter } from 'node:events';
import { backoffDelay, type BackoffPolicy } from '../core/backoff';
import type { Failure } from '../core/failure';
import { relayFailure, type SmtpErrorLike } from '../core/smtp-outcome';
import { TUNING } from '../tuning';


export interface RelayCircuitEvents {
  /** the relay went down (the first failure) */
  open: [failure: Failure, since: Date];
  /** a probe failed; the next one is in `retryInMs` */
  probe: [failure: Failure, retryInMs: number];
  /** a probe answered: mails flow again */
  close: [downMs: number];
}

export class RelayCircuit extends EventEmitter<RelayCircuitEvents> {
  private since: Date | null = null;
  /** probes and re-openings since a mail last went through */
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly deps: { probe: () => Promise<void>; backoff?: BackoffPolicy; random?: () => number },
  ) {
    super();
  }

  get isClosed(): boolean {
    return this.since === null;
  }

  get downSince(): Date | null {
    return this.since;
  }

  /** A send found the relay down. */
  open(failure: Failure): void {
    if (this.since !== null || this.stopped) return;
    this.since = new Date();
    this.failures++;
    this.emit('open', failure, this.since);
    this.schedule();
  }

  /** A mail went through (the relay answered for its recipients): the probes' backoff starts over. */
  succeeded(): void {
    if (this.since === null) this.failures = 0;
  }

  private schedule(): number {
    const wait = backoffDelay(Math.max(1, this.failures), this.deps.backoff ?? TUNING.probeBackoff, this.deps.random);
    this.timer = setTimeout(() => void this.probe(), wait);
    this.timer.unref();
    return wait;
  }

  private async probe(): Promise<void> {
    this.timer = null;
    if (this.stopped) return;
    try {
      await this.deps.probe();
    } catch (err) {
      if (this.stopped) return;
      this.failures++;
      this.emit('probe', relayFailure(err as SmtpErrorLike), this.schedule());
      return;
    }
    if (this.stopped) return;
    const downMs = Date.now() - this.since!.getTime();
    this.since = null;
    this.emit('close', downMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
