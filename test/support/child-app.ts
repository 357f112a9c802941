// The real entry point (tsx src/main.ts) as a child process, for scenarios that need a real process: SIGKILL,
// another time zone (TZ), a restart. Its log (warn and above by default) is kept for the failure message. It is
// ready when /ready answers 200, or, for a process without the api role, when its own readiness probe says so.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { freePort } from './private-mariadb';
import { sleep } from './wait';

const MAIN = path.resolve(__dirname, '../../src/main.ts');

export class ChildApp {
  port = 0;
  private child: ChildProcess | null = null;
  private output = '';

  constructor(
    private readonly env: Record<string, string>,
    /** for a process that serves no HTTP (ROLES without api): true once it is ready */
    private readonly readyProbe?: { ready: () => Promise<boolean>; what: string },
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last few KB of the process's output. */
  get log(): string {
    return this.output;
  }

  async start(readyWithinMs = 40_000): Promise<this> {
    this.port = await freePort();
    // One process, tsx as a loader (not the tsx CLI, which runs the app in a child of its own: a SIGKILL would
    // kill the CLI and leave the app running).
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
      cwd: path.resolve(__dirname, '../..'),
      env: { ...process.env, LOG_LEVEL: 'warn', ...this.env, PORT: String(this.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d: Buffer) => (this.output = (this.output + d.toString()).slice(-8000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.child = child;
    const until = Date.now() + readyWithinMs;
    for (;;) {
      if (!this.alive) throw new Error(`the app exited at start (code ${child.exitCode}, signal ${child.signalCode}):\n${this.output}`);
      if (await this.ready()) return this;
      if (Date.now() > until) throw new Error(`the app was not ready (${this.readyProbe?.what ?? '/ready'}) within ${readyWithinMs} ms:\n${this.output}`);
      await sleep(150);
    }
  }

  private async ready(): Promise<boolean> {
    if (this.readyProbe) return this.readyProbe.ready();
    const res = await fetch(`${this.url}/ready`, { signal: AbortSignal.timeout(1000) }).catch(() => null);
    return res?.status === 200;
  }

  /** Sends a signal and does not wait (SIGUSR2: a DEV_FAULTS hook). */
  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** Sends a signal and waits for the process to exit; resolves with its exit code (null when killed). */
  async kill(signal: NodeJS.Signals = 'SIGKILL', waitMs = 70_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
    const child = this.child;
    if (!child || !this.alive) return { code: child?.exitCode ?? null, signal: child?.signalCode ?? null, ms: 0 };
    const started = Date.now();
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((r) => (timer = setTimeout(() => r(null), waitMs)));
    const result = (await Promise.race([exited, timeout])) ?? (child.kill('SIGKILL'), await exited);
    clearTimeout(timer);
    child.stdout?.destroy();
    child.stderr?.destroy();
    return { code: result[0], signal: result[1], ms: Date.now() - started };
  }
}
