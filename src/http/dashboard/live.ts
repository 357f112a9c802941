// Live updates for dashboards: server-sent events. One timer for all open dashboards reads the stats once a
// second (shared with /metrics through the StatsReader's cache) and pushes them when they changed, with a
// comment line every 15 s so proxies keep the stream open. Streams end when the app stops.
import type { Request, Response } from 'express';
import type { Logger } from '../../logger';
import type { Stats, StatsReader } from '../../observability/stats';
import { TUNING } from '../../tuning';

export class LiveHub {
  private readonly clients = new Set<Response>();
  private timer: NodeJS.Timeout | null = null;
  private last = '';
  private lastSentAt = 0;
  private ticking = false;
  private closed = false;

  constructor(
    private readonly stats: StatsReader,
    private readonly logger: Logger,
    private readonly opts: { intervalMs: number; heartbeatMs: number } = { intervalMs: TUNING.live.intervalMs, heartbeatMs: TUNING.live.heartbeatMs },
  ) {}

  get size(): number {
    return this.clients.size;
  }

  /** Handles GET /api/events: keeps the response open and sends `event: stats` frames. */
  subscribe(req: Request, res: Response): void {
    if (this.closed) {
      res.status(503).end();
      return;
    }
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.write(`retry: ${TUNING.live.reconnectMs}\n\n`);
    this.clients.add(res);
    req.on('close', () => {
      this.clients.delete(res);
      if (this.clients.size === 0) this.stop();
    });
    // the newcomer gets the current numbers at once
    void this.stats.get().then((s) => this.send(res, s), () => undefined);
    this.start();
  }

  private start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => void this.tick(), this.opts.intervalMs);
    this.timer.unref();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const s = await this.stats.get(this.opts.intervalMs - TUNING.live.freshSlackMs);
      const { at: _at, ...rest } = s;
      const key = JSON.stringify(rest);
      if (key !== this.last) {
        this.last = key;
        for (const res of this.clients) this.send(res, s);
      } else if (Date.now() - this.lastSentAt > this.opts.heartbeatMs) {
        this.lastSentAt = Date.now();
        for (const res of this.clients) res.write(': still here\n\n');
      }
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'live stats not available');
      for (const res of this.clients) res.write(`event: unavailable\ndata: ${JSON.stringify({ reason: 'the database did not answer' })}\n\n`);
    } finally {
      this.ticking = false;
    }
  }

  private send(res: Response, s: Stats): void {
    this.lastSentAt = Date.now();
    res.write(`event: stats\ndata: ${JSON.stringify(s)}\n\n`);
  }

  /** Ends every stream, so the HTTP server can close. */
  close(): void {
    this.closed = true;
    this.stop();
    for (const res of this.clients) res.end();
    this.clients.clear();
  }
}
