// A private, throw-away MariaDB server for the fault scenarios that need what the shared one must not do:
// another time zone than the machine's, or a real stop and restart. Its own data directory under the system's
// temp dir, its own port on 127.0.0.1, no grant tables (root without a password), a small buffer pool. It never
// touches the shared server. Available where mariadb-install-db and mariadbd are installed.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as mariadb from 'mariadb';
import { sleep } from './wait';

const run = promisify(execFile);

function find(names: string[]): string | null {
  for (const n of names) {
    if (n.includes('/')) {
      if (existsSync(n)) return n;
      continue;
    }
    const r = spawnSync('sh', ['-c', `command -v ${n}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return null;
}

const INSTALL = find(['mariadb-install-db', 'mysql_install_db']);
const SERVER = find(['mariadbd', '/usr/sbin/mariadbd', '/usr/sbin/mysqld']);

/** True where a private server can be made on this machine. */
export const privateMariaDbAvailable = INSTALL !== null && SERVER !== null && process.platform === 'linux';

export async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export interface PrivateMariaDbOptions {
  /** the server's time zone, e.g. '+09:00' (default-time-zone) */
  timeZone?: string;
}

export class PrivateMariaDb {
  port = 0;
  private dir = '';
  private child: ChildProcess | null = null;
  private log = '';

  constructor(private readonly options: PrivateMariaDbOptions = {}) {}

  /** mysql://root@127.0.0.1:<port> (no database) */
  get serverUrl(): string {
    return `mysql://root@127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  async create(): Promise<this> {
    if (!privateMariaDbAvailable) throw new Error('mariadb-install-db / mariadbd not found');
    this.dir = await mkdtemp(path.join(tmpdir(), 'md-faults-db-'));
    const user = userInfo().username;
    await run(INSTALL!, ['--no-defaults', `--datadir=${path.join(this.dir, 'data')}`, '--auth-root-authentication-method=normal', '--skip-test-db', `--user=${user}`], { timeout: 60_000 });
    this.port = await freePort();
    await this.start();
    return this;
  }

  /** Starts (or restarts) the server on the same data directory and port. */
  async start(): Promise<void> {
    if (this.running) return;
    const args = [
      '--no-defaults',
      `--datadir=${path.join(this.dir, 'data')}`,
      `--port=${this.port}`,
      '--bind-address=127.0.0.1',
      `--socket=${path.join(this.dir, 'mysqld.sock')}`,
      `--pid-file=${path.join(this.dir, 'mysqld.pid')}`,
      '--skip-grant-tables',
      '--skip-log-bin',
      '--innodb-buffer-pool-size=64M',
      '--max-connections=300',
      ...(this.options.timeZone ? [`--default-time-zone=${this.options.timeZone}`] : []),
      ...(userInfo().uid === 0 ? ['--user=root'] : []),
    ];
    this.log = '';
    const child = spawn(SERVER!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d: Buffer) => (this.log = (this.log + d.toString()).slice(-4000)));
    this.child = child;
    const until = Date.now() + 30_000;
    for (;;) {
      if (!this.running) throw new Error(`private mariadbd exited at start:\n${this.log}`);
      try {
        const c = await mariadb.createConnection({ host: '127.0.0.1', port: this.port, user: 'root', connectTimeout: 1000 });
        await c.end();
        return;
      } catch {
        if (Date.now() > until) throw new Error(`private mariadbd did not answer within 30 s:\n${this.log}`);
        await sleep(100);
      }
    }
  }

  /** A real stop: SIGTERM, the server shuts down cleanly, its port is closed. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await Promise.race([exited, sleep(30_000)]);
    if (this.running) {
      child.kill('SIGKILL');
      await exited;
    }
  }

  async destroy(): Promise<void> {
    await this.stop().catch(() => undefined);
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}
