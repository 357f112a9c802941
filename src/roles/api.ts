// The api role: the HTTP server (the API, the dashboard, /metrics, /docs) on HOST:PORT.
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpServer } from '../http/app';
import { LiveHub } from '../http/dashboard/live';
import { apiKeysOf, createHttpSecurity, IdempotencyStore, type HttpSecurity } from '../http/security';
import { IdempotencyRepo } from '../store/idempotency-repo';
import { parseAllowedHosts } from '../core/check-back';
import { parseDatabaseUrl } from '../store/db';
import { createPrisma, type Prisma } from '../store/prisma';
import { secretsByKeyId } from '../core/signature';
import type { Infrastructure } from './infrastructure';
import type { Role } from './role';

export class ApiRole implements Role {
  readonly security: HttpSecurity;
  readonly server: Server;
  /** Prisma Client for the API's typed reads, over the shared pool: built by this role only, so a process or thread
   * without the API (the listener thread above all) never loads Prisma's runtime. */
  readonly prisma: Prisma;
  private readonly live: LiveHub;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly infra: Infrastructure,
    readiness: () => Promise<Record<string, boolean>>,
  ) {
    const c = infra.config;
    this.security = createHttpSecurity({
      keys: apiKeysOf(c),
      limits: { perKeyPerMinute: c.RATE_LIMIT_PER_KEY, perRecipientPerHour: c.RATE_LIMIT_PER_RECIPIENT },
      idempotency: new IdempotencyStore({ repo: new IdempotencyRepo(infra.pool, infra.repo, c.IDEMPOTENCY_TTL_HOURS * 3_600_000), logger: infra.logger }),
      logger: infra.logger,
    });
    if (this.security.keys.length === 0) {
      infra.logger.warn({ NODE_ENV: c.NODE_ENV }, 'API_KEYS is empty: the API is open to anyone who can reach it (refused in production; run `npm run apikey`)');
    }
    this.live = new LiveHub(infra.stats, infra.logger);
    this.prisma = createPrisma(infra.pool, parseDatabaseUrl(c.DATABASE_URL).database);
    this.server = createHttpServer({
      security: this.security,
      mail: infra.mail,
      prisma: this.prisma,
      maxRecipients: c.MAX_RECIPIENTS,
      maxTries: c.MAX_TRIES,
      devFaults: c.DEV_FAULTS,
      scheme: c.RELIABILITY_SCHEME,
      readiness,
      relay: () => infra.relay.state(),
      logger: infra.logger,
      apiLoad: infra.apiLoad,
      webhookSecret: c.WEBHOOK_SECRET,
      suppressions: { repo: infra.suppressionRepo, refresh: () => infra.suppressions.refresh(), logger: infra.logger },
      twoPhase: { twoPhase: infra.twoPhase, security: this.security, maxRecipients: c.MAX_RECIPIENTS, allowedHosts: parseAllowedHosts(c.CHECKBACK_ALLOWED_HOSTS), secretOf: secretsByKeyId(this.security.keys) },
      ops: {
        pool: infra.pool,
        mail: infra.mail,
        metrics: infra.metrics,
        stats: infra.stats,
        queues: infra.queueProbe,
        live: this.live,
        maxTries: c.MAX_TRIES,
        devFaults: c.DEV_FAULTS,
        logger: infra.logger,
        webhooks: infra.webhooks,
        webhooksEnabled: c.WEBHOOK_URL !== undefined,
        scheme: c.RELIABILITY_SCHEME,
      },
    });
  }

  get url(): string {
    const addr = this.server.address() as AddressInfo | null;
    return addr ? `http://127.0.0.1:${addr.port}` : '';
  }

  async start(): Promise<void> {
    this.server.listen(this.infra.config.PORT, this.infra.config.HOST);
    await once(this.server, 'listening');
  }

  get ready(): boolean {
    return this.server.listening;
  }

  /** No new connections or requests; the requests in progress are answered. */
  async stop(): Promise<void> {
    this.closing ??= new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeIdleConnections();
    this.live.close();
    await this.closing;
    await this.prisma.$disconnect().catch(() => undefined);
  }
}
