// Prometheus metrics (prom-client), one registry per app instance. Two kinds:
// - observed in this process as things happen: transitions, publish-confirm and SMTP latency, re-delivery
//   rounds, retries, dead mails, HTTP requests (counters and histograms: sum them across instances);
//   the components announce what they did as typed events (MsgLogRepo 'transition', Publisher 'settled',
//   RedeliveryJob 'round', MailListener 'sent', WebhookJob 'attempt'); observe() below subscribes to them, in this one place;
// - computed at scrape time from msg_log and the broker: counts by status, backlog, due rows, the oldest
//   pending mail's age, queue depth (gauges: the same on every instance, so take max, not sum).
import { observeChecks, type CheckParts } from './check-metrics';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { EventEmitter } from 'node:events';
import type { PublisherEvents, Settled } from '../broker/publisher';
import { PENDING, Status, statusName } from '../core/status';
import type { JobEvents, RoundEvent } from '../jobs/redelivery-job';
import type { CheckBackEvents } from '../jobs/check-back-job';
import type { RetentionEvents, RetentionRoundEvent } from '../jobs/retention-job';
import type { WebhookJobEvents } from '../jobs/webhook-job';
import type { ListenerEvents, SendReport } from '../listener/mail-listener';
import type { RepoEvents } from '../store/msg-log-repo';
import type { RelayState } from '../store/relay-repo';
import type { WebhookCounts } from '../store/webhook-repo';
import type { QueueProbe } from './queue-probe';
import type { StatsReader } from './stats';

const STATUS_NAMES = Object.values(Status).map(statusName);

export interface MetricsSources {
  stats?: StatsReader;
  queues?: QueueProbe;
  /** database, broker, smtp reachable */
  readiness?: () => Promise<Record<string, boolean>>;
  /** the relay as the listeners see it */
  relay?: () => Promise<RelayState>;
  /** webhook events not delivered yet, by state */
  webhooks?: () => Promise<WebhookCounts>;
}

/** The components whose events the counters and histograms follow (each optional: a process runs some roles only). */
export interface ObservedParts extends CheckParts {
  /** MsgLogRepo */
  repo?: EventEmitter<RepoEvents>;
  /** Publisher */
  publisher?: EventEmitter<PublisherEvents>;
  /** RedeliveryJob */
  job?: EventEmitter<JobEvents>;
  /** MailListener */
  listener?: EventEmitter<ListenerEvents>;
  /** CheckBackJob */
  checkBack?: EventEmitter<CheckBackEvents>;
  /** RetentionJob */
  retention?: EventEmitter<RetentionEvents>;
  /** WebhookJob */
  webhooks?: EventEmitter<WebhookJobEvents>;
}

export class Metrics {
  readonly registry = new Registry();
  private sources: MetricsSources = {};
  private peers: (() => Promise<MetricObjectWithValues<MetricValue<string>>[][]>) | null = null;

  readonly transitions: Counter<'to_status'>;
  readonly publishConfirm: Histogram<'outcome'>;
  readonly smtpSend: Histogram<'outcome'>;
  readonly recipients: Counter<'state'>;
  readonly redeliveryRound: Histogram;
  readonly redeliveryRounds: Counter<'result'>;
  readonly checkBacks: Counter<'outcome'>;
  readonly retentionDeleted: Counter<'table'>;
  readonly retentionRounds: Counter<'result'>;
  readonly webhookDeliveries: Counter<'outcome'>;
  readonly redelivered: Counter;
  readonly manualRetries: Counter;
  readonly deadTotal: Counter<'by'>;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route'>;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });

    this.transitions = new Counter({
      name: 'mail_transitions_total',
      help: 'msg_log transitions made by this instance, by the status they moved to (claims are not transitions)',
      labelNames: ['to_status'],
      registers,
    });
    for (const s of STATUS_NAMES) this.transitions.inc({ to_status: s }, 0);
    this.publishConfirm = new Histogram({
      name: 'mail_publish_confirm_seconds',
      help: 'time from publish to the broker settling it (ack; or nack, returned, error, timeout, unavailable)',
      labelNames: ['outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.smtpSend = new Histogram({
      name: 'mail_smtp_send_seconds',
      help: 'time of one SMTP send by the listener, by outcome (accepted, partial, deferred, bounced, unknown, relay-down, not-sent)',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.recipients = new Counter({ name: 'mail_recipients_total', help: 'recipients the relay answered for, by state (accepted, deferred: 4xx, bounced: 5xx), and those left out as suppressed', labelNames: ['state'], registers });
    for (const state of ['accepted', 'deferred', 'bounced', 'suppressed']) this.recipients.inc({ state }, 0);
    this.redeliveryRound = new Histogram({
      name: 'mail_redelivery_round_seconds',
      help: 'duration of one re-delivery round of the job (claim due rows, re-publish, wait for confirms)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.checkBacks = new Counter({ name: 'mail_check_backs_total', help: 'prepared mails settled by the job after PREPARE_TIMEOUT_MS, by outcome (committed, cancelled, undecided, dead, expired)', labelNames: ['outcome'], registers });
    this.retentionDeleted = new Counter({ name: 'mail_retention_deleted_total', help: 'rows retention deleted (finished mails older than RETENTION_DAYS, with their history and recipients), by table', labelNames: ['table'], registers });
    for (const table of ['msg_log', 'msg_event', 'msg_recipient', 'webhook_event']) this.retentionDeleted.inc({ table }, 0);
    this.retentionRounds = new Counter({ name: 'mail_retention_rounds_total', help: 'retention rounds, by result (ran, off, failed)', labelNames: ['result'], registers });
    this.webhookDeliveries = new Counter({
      name: 'mail_webhook_deliveries_total',
      help: 'webhook POSTs of this instance, by outcome (delivered: a 2xx; retry: a failed try, tried again later; failed: its tries ran out)',
      labelNames: ['outcome'],
      registers,
    });
    for (const outcome of ['delivered', 'retry', 'failed']) this.webhookDeliveries.inc({ outcome }, 0);
    this.redeliveryRounds = new Counter({ name: 'mail_redelivery_rounds_total', help: 're-delivery rounds, by result (ran, skipped, failed)', labelNames: ['result'], registers });
    this.redelivered = new Counter({ name: 'mail_redelivered_total', help: 'due rows the re-delivery job published again (automatic retries)', registers });
    this.manualRetries = new Counter({ name: 'mail_manual_retries_total', help: 'dead mails put back in play by a person (one at a time or in bulk)', registers });
    this.deadTotal = new Counter({ name: 'mail_dead_total', help: 'mails this instance made dead, by who saw the last failure (publisher, listener, job)', labelNames: ['by'], registers });
    this.httpRequests = new Counter({ name: 'http_requests_total', help: 'HTTP requests answered, by route pattern and status code', labelNames: ['method', 'route', 'status'], registers });
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route pattern',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });

    const self = this;
    new Gauge({
      name: 'mail_messages',
      help: 'msg_log rows by status (read from the database at scrape time)',
      labelNames: ['status'],
      registers,
      async collect() {
        const s = await self.stats();
        if (s) for (const name of STATUS_NAMES) this.set({ status: name }, s.counts[name]);
      },
    });
    new Gauge({
      name: 'mail_backlog',
      help: 'msg_log rows not final yet, by status (read at scrape time)',
      labelNames: ['status'],
      registers,
      async collect() {
        const s = await self.stats();
        if (s) for (const code of PENDING) this.set({ status: statusName(code) }, s.counts[statusName(code)]);
      },
    });
    new Gauge({
      name: 'mail_backlog_due',
      help: 'rows whose next_try_time has passed: work for the next re-delivery round (read at scrape time)',
      registers,
      async collect() {
        const s = await self.stats();
        if (s) this.set(s.due);
      },
    });
    new Gauge({
      name: 'mail_oldest_pending_age_seconds',
      help: 'age of the oldest mail not final yet (0 when there is none)',
      registers,
      async collect() {
        const s = await self.stats();
        if (s) this.set(s.oldestPending?.ageSeconds ?? 0);
      },
    });
    new Gauge({
      name: 'mail_queue_messages',
      help: 'messages ready in the RabbitMQ queue (the mail queue and its parking queue), read at scrape time',
      labelNames: ['queue'],
      registers,
      async collect() {
        const depth = await self.sources.queues?.depth();
        this.reset();
        for (const q of depth ?? []) this.set({ queue: q.queue }, q.messages);
      },
    });
    new Gauge({
      name: 'mail_queue_consumers',
      help: 'consumers attached to the RabbitMQ queue, read at scrape time',
      labelNames: ['queue'],
      registers,
      async collect() {
        const depth = await self.sources.queues?.depth();
        this.reset();
        for (const q of depth ?? []) this.set({ queue: q.queue }, q.consumers);
      },
    });
    new Gauge({
      name: 'mail_relay_up',
      help: '0 while a listener finds the SMTP relay down (its circuit is open: mails wait in RabbitMQ, no try is counted), else 1',
      registers,
      async collect() {
        const relay = await self.sources.relay?.().catch(() => null);
        if (relay) this.set(relay.down ? 0 : 1);
      },
    });
    new Gauge({
      name: 'mail_relay_down_seconds',
      help: 'how long the SMTP relay has been down (0 while it is up)',
      registers,
      async collect() {
        const relay = await self.sources.relay?.().catch(() => null);
        if (relay) this.set(relay.since ? Math.max(0, (Date.now() - relay.since.getTime()) / 1000) : 0);
      },
    });
    new Gauge({
      name: 'mail_webhook_events',
      help: 'webhook events not delivered, by state (pending: waiting for a try; failed: tries ran out, waiting for a person), read at scrape time',
      labelNames: ['state'],
      registers,
      async collect() {
        const counts = await self.sources.webhooks?.().catch(() => null);
        if (counts) for (const state of ['pending', 'failed'] as const) this.set({ state }, counts[state]);
      },
    });
    new Gauge({
      name: 'mail_dependency_up',
      help: '1 when the dependency answers (database, broker, smtp), as /ready sees it',
      labelNames: ['dependency'],
      registers,
      async collect() {
        const checks = await self.sources.readiness?.().catch(() => null);
        for (const [k, v] of Object.entries(checks ?? {})) this.set({ dependency: k }, v ? 1 : 0);
      },
    });
  }

  /** Connects the scrape-time gauges to their sources; called once the app has built them. */
  attach(sources: MetricsSources): void {
    this.sources = { ...this.sources, ...sources };
  }

  /** Follows the components' events: the one place where this process's counters and histograms are fed. */
  observe(parts: ObservedParts): void {
    parts.repo?.on('transition', (t) => this.observeTransition(t));
    parts.repo?.on('redelivered', ({ n }) => this.redelivered.inc(n));
    parts.repo?.on('retried', () => this.manualRetries.inc());
    parts.publisher?.on('settled', (s) => this.observePublish(s));
    parts.job?.on('round', (r) => this.observeRound(r));
    parts.listener?.on('sent', (r) => this.observeSend(r));
    parts.listener?.on('suppressed', (n) => this.recipients.inc({ state: 'suppressed' }, n));
    parts.checkBack?.on('asked', ({ outcome }) => this.checkBacks.inc({ outcome }));
    parts.retention?.on('round', (r) => this.observeRetention(r));
    parts.webhooks?.on('attempt', ({ outcome }) => this.webhookDeliveries.inc({ outcome }));
    observeChecks(this.registry, parts);
  }

  /** Rows a component moved (its 'transition' events); dead ones also by whose failure made them dead. */
  observeTransition({ toStatus, n, by }: RepoEvents['transition'][0]): void {
    this.transition(toStatus, n);
    if (toStatus === Status.dead && by && n > 0) this.deadTotal.inc({ by }, n);
  }

  /** Publish-confirm latency by outcome (the publisher's 'settled' events). */
  observePublish(s: Settled): void {
    this.publishConfirm.observe({ outcome: s.outcome }, s.ms / 1000);
  }

  /** Re-delivery rounds by result, and the duration of those that ran (the job's 'round' events). */
  observeRound(r: RoundEvent): void {
    this.redeliveryRounds.inc({ result: r.result });
    if (r.result === 'ran') this.redeliveryRound.observe(r.ms / 1000);
  }

  /** Retention rounds by result, and the rows they deleted by table (the retention job's 'round' events). */
  observeRetention(r: RetentionRoundEvent): void {
    this.retentionRounds.inc({ result: r.result });
    if (r.result !== 'ran') return;
    this.retentionDeleted.inc({ table: 'msg_log' }, r.deleted.msgLog);
    this.retentionDeleted.inc({ table: 'msg_event' }, r.deleted.msgEvent);
    this.retentionDeleted.inc({ table: 'msg_recipient' }, r.deleted.msgRecipient);
    this.retentionDeleted.inc({ table: 'webhook_event' }, r.deleted.webhookEvent);
  }

  /** What the listener's sends came to (its 'sent' events). */
  observeSend(report: SendReport): void {
    this.smtpSend.observe({ outcome: report.outcome }, report.ms / 1000);
    for (const r of report.recipients) this.recipients.inc({ state: r.state });
  }

  /** One status transition (or `n` of them). */
  transition(toStatus: number, n = 1): void {
    if (n > 0) this.transitions.inc({ to_status: statusName(toStatus) }, n);
  }

  private async stats() {
    // A database that is down must not break the scrape: the gauges keep their last values and
    // mail_dependency_up{dependency="database"} says why.
    return (await this.sources.stats?.get().catch(() => null)) ?? null;
  }

  /** Other registries of this process (listener threads) whose counters and histograms /metrics adds up. */
  addPeers(collect: () => Promise<MetricObjectWithValues<MetricValue<string>>[][]>): void {
    this.peers = collect;
  }

  async render(): Promise<{ contentType: string; body: string }> {
    if (!this.peers) return { contentType: this.registry.contentType, body: await this.registry.metrics() };
    const all = [await this.registry.getMetricsAsJSON(), ...(await this.peers())];
    return { contentType: this.registry.contentType, body: await AggregatorRegistry.aggregate(all).metrics() };
  }
}
