// The listener role on worker threads of this process (LISTENER_THREADS > 0): each thread runs the listener role alone
// (src/listener/listener-thread.ts); this side starts them, adds their metrics, and ends a dead thread's claims.
import { ListenerThreads } from '../listener/listener-threads';
import { TUNING } from '../tuning';
import type { Infrastructure } from './infrastructure';
import type { Role } from './role';

export class ListenerThreadsRole implements Role {
  private constructor(
    private readonly infra: Infrastructure,
    readonly threads: ListenerThreads,
  ) {
    infra.metrics.addPeers(() => threads.collectMetrics());
  }

  static async create(infra: Infrastructure): Promise<ListenerThreadsRole> {
    const config = { ...infra.config, SMTP_URL: await infra.smtpUrl() };
    const threads = new ListenerThreads({
      config,
      count: infra.config.LISTENER_THREADS,
      logger: infra.logger,
      apiLoad: infra.apiLoad,
      instanceId: infra.instanceId,
      // A thread that died may have been in the middle of sends: their claims end now, and whoever takes them over
      // counts them uncertain (they may have gone out).
      onDied: (threadId) => infra.repo.expireClaimsOf(threadId),
    });
    return new ListenerThreadsRole(infra, threads);
  }

  async start(): Promise<void> {
    this.threads.start();
  }

  get ready(): boolean {
    return this.threads.allReady;
  }

  async stop(): Promise<void> {
    await this.threads.stop(this.infra.config.SMTP_TIMEOUT_MS + TUNING.threadStopExtraMs);
  }
}
