// The composition root: opens the shared infrastructure, chooses the roles ROLES names (src/roles), starts them in
// order and stops them in reverse. One process runs the API, the listener and the re-delivery job by default.
import type { Server } from 'node:http';
import { isMainThread } from 'node:worker_threads';
import { checkTopology, QueueTypeMismatchError } from './broker/topology';
import type { Config } from './config';
import type { CheckBackJob } from './jobs/check-back-job';
import type { DuePublisher } from './jobs/due-publisher';
import type { RedeliveryJob } from './jobs/redelivery-job';
import type { WebhookJob } from './jobs/webhook-job';
import { maskUrl } from './logger';
import type { Mailer } from './mail/mailer';
import { ApiRole } from './roles/api';
import { Infrastructure, type InfrastructureOptions } from './roles/infrastructure';
import { JobRole } from './roles/job';
import { ListenerRole } from './roles/listener';
import { ListenerThreadsRole } from './roles/listener-threads';
import { CallbackRole } from './roles/callback';
import type { Role } from './roles/role';
import { TUNING } from './tuning';

export interface AppOverrides extends InfrastructureOptions {
  /** a mailer for the in-process listener (tests) */
  mailer?: Mailer;
}

export class MailDispatchApp {
  readonly infra: Infrastructure;
  private readonly roles: Role[] = [];
  listenerRole: ListenerRole | null = null;
  private threadsRole: ListenerThreadsRole | null = null;
  private jobRole: JobRole | null = null;
  private apiRole: ApiRole | null = null;
  /** RELIABILITY_SCHEME=delayed-check, where this instance runs the callback role */
  callbackRole: CallbackRole | null = null;
  private stopped = false;

  constructor(
    readonly config: Config,
    private readonly overrides: AppOverrides = {},
  ) {
    this.infra = new Infrastructure(config, overrides);
  }

  // What tests, tools and the listener thread reach for.
  get logger() {
    return this.infra.logger;
  }
  get pool() {
    return this.infra.pool;
  }
  get repo() {
    return this.infra.repo;
  }
  get relay() {
    return this.infra.relay;
  }
  get publisher() {
    return this.infra.publisher;
  }
  get mail() {
    return this.infra.mail;
  }
  get metrics() {
    return this.infra.metrics;
  }
  get apiLoad() {
    return this.infra.apiLoad;
  }
  get prisma() {
    return this.apiRole?.prisma ?? null;
  }
  get stats() {
    return this.infra.stats;
  }
  get job(): RedeliveryJob | null {
    return this.jobRole?.job ?? null;
  }
  /** the check-back of prepared mails and the due publisher (outbox rows, scheduled mails), where this instance runs the job role */
  get checkBack(): CheckBackJob | null {
    return this.jobRole?.checkBack ?? null;
  }
  get duePublisher(): DuePublisher | null {
    return this.jobRole?.due ?? null;
  }
  /** the delivery of webhook events, where this instance runs the job role and WEBHOOK_URL is set */
  get webhookJob(): WebhookJob | null {
    return this.jobRole?.webhooks ?? null;
  }
  get server(): Server | null {
    return this.apiRole?.server ?? null;
  }
  get security() {
    return this.apiRole?.security ?? null;
  }
  get url(): string {
    return this.apiRole?.url ?? '';
  }

  async start(): Promise<this> {
    const c = this.config;
    const names = new Set(c.ROLES);
    const infra = await this.infra.open();
    if (names.has('listener') && c.LISTENER_THREADS > 0) this.roles.push((this.threadsRole = await ListenerThreadsRole.create(infra)));
    else if (names.has('listener')) this.roles.push((this.listenerRole = await ListenerRole.create(infra, this.overrides.mailer)));
    if (names.has('job')) this.roles.push((this.jobRole = new JobRole(infra)));
    if (names.has('callback')) this.roles.push((this.callbackRole = await CallbackRole.create(infra)));
    if (names.has('api')) this.roles.push((this.apiRole = new ApiRole(infra, () => this.readiness())));
    // Gauges read the table and the broker: once per process, in the main thread; threads add their counters.
    if (isMainThread) infra.metrics.attach({ stats: infra.stats, queues: infra.queueProbe, readiness: () => this.readiness(), relay: () => infra.relay.state(), webhooks: () => infra.webhooks.counts() });
    // A queue of another type than MQ_QUEUE_TYPE fails the start by name; a broker that does not answer yet does not.
    if (isMainThread) await checkTopology(c.AMQP_URL, infra.topology).catch((err) => {
      if (err instanceof QueueTypeMismatchError) throw err;
    });
    await infra.publisherConnection.start();
    for (const role of this.roles) await role.start();
    infra.logger.info({ roles: [...names], scheme: c.RELIABILITY_SCHEME, amqp: maskUrl(c.AMQP_URL), database: maskUrl(c.DATABASE_URL), url: this.url || undefined }, 'mail dispatch started');
    return this;
  }

  /** A listener thread dies as in a crash (the fault scenarios, DEV_FAULTS only: see main.ts). */
  async killListenerThread(): Promise<boolean> {
    return (await this.threadsRole?.threads.terminateOne()) ?? false;
  }

  /** True once the publisher's channel is attached and every role is ready (consumers subscribed, server listening). */
  async waitUntilReady(ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (this.infra.publisher.isReady && this.roles.every((r) => r.ready)) return true;
      await new Promise((r) => setTimeout(r, TUNING.readyPollMs));
    }
    return false;
  }

  /** What /ready and mail_dependency_up show: the database and the broker, and SMTP where the listener runs here. */
  async readiness(): Promise<Record<string, boolean>> {
    const checks = await this.infra.readiness();
    for (const role of this.roles) Object.assign(checks, await role.readiness?.());
    return checks;
  }

  /** Graceful stop: the roles in reverse order (each takes no new work and finishes what is in hand), then the rest. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const role of [...this.roles].reverse()) await role.stop();
    await this.infra.close();
    this.infra.logger.info('mail dispatch stopped');
  }
}
