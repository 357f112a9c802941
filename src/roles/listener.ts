// The listener role: consumes the mail queue and sends over SMTP lanes, pausing while the relay is down.
// Built from the shared infrastructure (infrastructure.ts); start, ready, stop.
import { AmqpConnection } from '../broker/amqp-connection';
import type { Mailer } from '../mail/mailer';
import { SmtpMailer } from '../mail/smtp-lanes';
import { QueueConsumer } from '../listener/consumer';
import { LeaseKeeper } from '../listener/leases';
import { MailListener } from '../listener/mail-listener';
import { RelayCircuit } from '../listener/relay-circuit';
import { YieldGate } from '../listener/yield-gate';
import { CachedCheck } from '../observability/cached-check';
import { storedFaultOf } from '../faults/dev-faults';
import { FaultyMailer } from '../faults/faulty-mailer';
import { FaultyReceipts } from '../faults/faulty-checks';
import { Receipts, type DeliveryReceipts } from '../listener/receipts';
import type { RelayRepo } from '../store/relay-repo';
import { TUNING } from '../tuning';
import type { Infrastructure } from './infrastructure';
import type { Role } from './role';

export class ListenerRole implements Role {
  readonly listener: MailListener;
  readonly circuit: RelayCircuit;
  readonly smtpCheck: CachedCheck;
  private readonly leases: LeaseKeeper;
  private readonly consumer: QueueConsumer;
  private readonly connection: AmqpConnection;
  /** RELIABILITY_SCHEME=delayed-check: the confirmations of the deliveries taken in hand; null otherwise */
  private readonly receipts: DeliveryReceipts | null;

  private constructor(
    private readonly deps: Infrastructure,
    private readonly mailer: Mailer,
  ) {
    const c = deps.config;
    const log = deps.logger;
    this.smtpCheck = new CachedCheck(() => mailer.verify(), { ttlMs: TUNING.smtpCheckTtlMs, timeoutMs: Math.min(c.SMTP_TIMEOUT_MS, TUNING.smtpCheckTtlMs) });
    this.circuit = new RelayCircuit({ probe: () => mailer.verify() });
    // The content's reply must come within the SMTP timeout: a send starts its content only with that much lease left.
    this.leases = new LeaseKeeper({ repo: deps.repo, timing: { leaseMs: c.LEASE_MS, marginMs: c.SMTP_TIMEOUT_MS }, logger: log });
    this.listener = new MailListener({
      repo: deps.repo,
      mailer,
      leases: this.leases,
      circuit: this.circuit,
      park: async (body, msgId, reason) => (await deps.publisher.park(deps.topology, { body, msgId }, reason)).ok,
      retry: deps.retry,
      suppressions: deps.suppressions,
      instanceId: deps.instanceId,
      uncertainPolicy: c.UNCERTAIN_POLICY,
      logger: log,
    });
    // RELIABILITY_SCHEME=delayed-check: every delivery taken in hand is confirmed to the callback service
    const receipts = deps.checks ? new Receipts({ confirmations: deps.checks, logger: log }) : null;
    this.receipts = receipts && c.DEV_FAULTS ? new FaultyReceipts(receipts, log) : receipts;
    this.connection = new AmqpConnection(c.AMQP_URL, 'consumer', log);
    const gate = c.API_BUSY_AT > 0 ? new YieldGate({ busy: deps.apiBusy, whileBusy: c.LISTENER_YIELD_CONCURRENCY, pollMs: TUNING.yieldPollMs }) : undefined;
    this.consumer = new QueueConsumer({ connection: this.connection, listener: this.listener, topology: deps.topology, prefetch: c.MQ_PREFETCH, retryLaterMs: TUNING.retryLaterMs, logger: log, gate, receipts: this.receipts ?? undefined });
    const report = (down: boolean, failure: Parameters<RelayRepo['report']>[2]) =>
      (down ? deps.relay.report(deps.instanceId, true, failure) : deps.relay.forget(deps.instanceId)).catch((err: Error) => log.warn({ err: err.message }, 'could not record the relay state'));
    this.circuit.on('open', (failure) => {
      log.error({ failure }, 'SMTP relay down: taking no mails until it answers (they wait in RabbitMQ; no try is counted)');
      void this.consumer.pause();
      void report(true, failure);
    });
    this.circuit.on('probe', (failure, retryInMs) => {
      log.warn({ failure, retryInMs }, 'SMTP relay still down');
      void report(true, failure);
    });
    this.circuit.on('close', (downMs) => {
      log.info({ downMs }, 'SMTP relay answers again: taking mails');
      void report(false, null);
      void this.consumer.resume();
    });
    deps.metrics.observe({ listener: this.listener });
  }

  /** `mailer`: a mailer of the caller's (tests); otherwise SMTP lanes to SMTP_URL. */
  static async create(deps: Infrastructure, mailer?: Mailer): Promise<ListenerRole> {
    const c = deps.config;
    mailer ??= new SmtpMailer({ url: await deps.smtpUrl(), from: c.MAIL_FROM, poolSize: c.SMTP_POOL_SIZE, timeoutMs: c.SMTP_TIMEOUT_MS });
    // DEV_FAULTS: the documented scenarios' SMTP answers (smtp-fail, smtp-reject) come from a wrapper of the mailer.
    return new ListenerRole(deps, c.DEV_FAULTS ? new FaultyMailer(mailer, storedFaultOf(deps.repo)) : mailer);
  }

  async start(): Promise<void> {
    this.leases.start();
    await this.connection.start();
  }

  /** Attached to the queue, or deliberately paused because the relay is down. */
  get ready(): boolean {
    return this.consumer.isSubscribed || (!this.circuit.isClosed && this.consumer.isAttached);
  }

  /** The relay answers (cached): shown by /ready, which stays ready while it is down. */
  async readiness(): Promise<Record<string, boolean>> {
    return { smtp: await this.smtpCheck.check() };
  }

  /** Takes no new mail at once; finishes the sends in hand within the SMTP timeout and a margin; releases the rest. */
  async stop(): Promise<void> {
    this.listener.beginStop();
    await this.consumer.stop(this.deps.config.SMTP_TIMEOUT_MS + TUNING.stopExtraMs);
    await this.listener.close();
    await this.receipts?.close();
    await this.leases.stop();
    this.circuit.stop();
    await this.deps.relay.forget(this.deps.instanceId).catch(() => undefined);
    await this.connection.close();
    await this.mailer.close();
  }
}
