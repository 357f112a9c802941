// The listener in worker threads of the same process: SMTP and its bookkeeping get a core of their own while
// the main thread serves HTTP and publishes. Each thread runs the ordinary listener role (its own pool, broker
// connection and SMTP pool); a thread that dies is started again.
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Config } from '../config';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { ApiLoad } from '../core/api-load';
import type { Logger } from '../logger';
import { TUNING } from '../tuning';

export type ThreadMessage =
  | { type: 'ready' }
  | { type: 'stopped' }
  | { type: 'failed'; error: string }
  | { type: 'metrics'; id: number; metrics: MetricObjectWithValues<MetricValue<string>>[] };

// The same extension as this file: .js when compiled, .ts under tsx. A thread does not inherit tsx's loader
// (neither from the tsx CLI nor from --import tsx), so a .ts entry is loaded through tsx's require hook.
const ENTRY = path.join(__dirname, `listener-thread${path.extname(__filename)}`);
const SOURCE = ENTRY.endsWith('.ts') ? { code: `require('tsx/cjs'); require(${JSON.stringify(ENTRY)});`, eval: true } : { code: ENTRY, eval: false };


export class ListenerThreads {
  private readonly workers = new Set<Worker>();
  private readonly ready = new WeakSet<Worker>();
  private stopping = false;
  private metricRequests = 0;
  private readonly metricReplies = new Map<number, (m: MetricObjectWithValues<MetricValue<string>>[]) => void>();

  private generation = 0;

  constructor(
    private readonly deps: {
      config: Config;
      count: number;
      logger: Logger;
      apiLoad?: ApiLoad;
      /** the process's instance id: each thread's is derived from it */
      instanceId: string;
      /** a thread died (not stopped): its id, to end its claims */
      onDied?: (threadId: string) => Promise<unknown>;
    },
  ) {}

  start(): void {
    for (let i = 0; i < this.deps.count; i++) this.spawn(i);
  }

  get allReady(): boolean {
    return this.workers.size === this.deps.count && [...this.workers].every((w) => this.ready.has(w));
  }

  private spawn(index: number): void {
    const config: Config = { ...this.deps.config, ROLES: ['listener'], LISTENER_THREADS: 0, MIGRATE_ON_START: false };
    const threadId = `${this.deps.instanceId}/t${index}g${++this.generation}`;
    // A bounded heap: the thread holds at most a prefetch of mails, so memory stays flat under any backlog.
    const worker = new Worker(SOURCE.code, { eval: SOURCE.eval, workerData: { config, index, threadId, apiLoad: this.deps.apiLoad?.buffer }, resourceLimits: { maxOldGenerationSizeMb: TUNING.threadHeapMb } });
    this.workers.add(worker);
    worker.on('message', (m: ThreadMessage) => {
      if (m.type === 'ready') this.ready.add(worker);
      if (m.type === 'failed') this.deps.logger.error({ thread: index, err: m.error }, 'listener thread could not start');
      if (m.type === 'metrics') this.metricReplies.get(m.id)?.(m.metrics);
    });
    worker.on('error', (err) => this.deps.logger.error({ thread: index, err }, 'listener thread crashed'));
    worker.on('exit', (code) => {
      this.workers.delete(worker);
      if (this.stopping) return;
      this.deps.logger.error({ thread: index, code }, 'listener thread exited; ending its claims and starting it again');
      void (this.deps.onDied?.(threadId) ?? Promise.resolve())
        .catch((err: Error) => this.deps.logger.warn({ thread: index, err: err.message }, 'could not end the dead thread\'s claims; their leases run out instead'))
        .finally(() => setTimeout(() => !this.stopping && this.spawn(index), TUNING.threadRespawnMs).unref());
    });
  }

  /** Ends one thread at once, as a crash would (DEV_FAULTS scenarios): it is noticed and started again. */
  async terminateOne(): Promise<boolean> {
    const w = [...this.workers][0];
    if (!w) return false;
    await w.terminate();
    return true;
  }

  /** Every thread's metrics, for the main thread's /metrics to add up; a thread that does not answer in 1 s is left out. */
  async collectMetrics(): Promise<MetricObjectWithValues<MetricValue<string>>[][]> {
    const answers = [...this.workers].map((w) => {
      const id = ++this.metricRequests;
      return new Promise<MetricObjectWithValues<MetricValue<string>>[] | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), TUNING.threadMetricsTimeoutMs);
        this.metricReplies.set(id, (m) => {
          clearTimeout(timer);
          resolve(m);
        });
        w.postMessage({ type: 'metrics', id });
      }).finally(() => this.metricReplies.delete(id));
    });
    return (await Promise.all(answers)).filter((m): m is MetricObjectWithValues<MetricValue<string>>[] => m !== null);
  }

  /** Each thread finishes the deliveries in hand (send, record, ack) and closes; stragglers are terminated. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    await Promise.all(
      [...this.workers].map(async (w) => {
        const exited = new Promise<void>((r) => w.once('exit', () => r()));
        w.postMessage('stop');
        const timer = setTimeout(() => void w.terminate(), timeoutMs);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}
