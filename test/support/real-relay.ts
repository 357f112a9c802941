// A real MTA for tests: Debian's postfix, with postgrey greylisting every recipient, on 127.0.0.1 — started by
// scripts/relay.sh (see there for its configuration). It relays every mail it accepts to a loopback SMTP sink.
//
//   const relay = await startRealRelay({ relayToPort: sink.port, greylistDelaySec: 2 });
//   ... send through relay.url (smtp://127.0.0.1:<port>): new recipients get 450 4.2.0 Greylisted until the delay
//   has passed; a local part starting with "unknown" gets 550 5.1.1 at once; accepted mail reaches the sink ...
//   await relay.stop();
//
// Needs root (postfix's master runs as root) and postfix + postgrey installed: `bash scripts/relay.sh install`
// (CI's .ci/run does it; ensureRealRelayInstalled() does it from a test).
import { execFile, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import path from 'node:path';

export const RELAY_SCRIPT = path.resolve(__dirname, '../../scripts/relay.sh');

export interface RealRelay {
  /** smtp://127.0.0.1:<port> — plain SMTP, no STARTTLS offered, no authentication */
  url: string;
  port: number;
  /** Stops postfix and postgrey and removes the instance's directory (queue, greylist database, logs). */
  stop(): Promise<void>;
}

export interface RealRelayOptions {
  /** the loopback SMTP server (on 127.0.0.1) every accepted mail is relayed to */
  relayToPort: number;
  /** how long postgrey greylists a new (client, sender, recipient) triplet; whole seconds, at least 1 */
  greylistDelaySec: number;
}

/**
 * Why the real relay cannot run on this machine, or null where it can (as root, with apt-get to install
 * postfix and postgrey, or with both already installed).
 */
export function realRelayUnavailableReason(): string | null {
  if (process.platform !== 'linux') return `the real relay needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'the real relay needs root (postfix master runs as root); not root here';
  const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
  if (!has('apt-get') && !(has('/usr/sbin/postfix') && has('/usr/sbin/postgrey'))) {
    return 'the real relay needs postfix and postgrey, and there is no apt-get to install them';
  }
  return null;
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function relaySh(args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile('bash', [RELAY_SCRIPT, ...args], { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean }) | null;
      const code = e ? (typeof e.code === 'number' ? e.code : -1) : 0;
      const note = e?.killed ? `\n(killed after ${timeoutMs} ms)` : e && typeof e.code !== 'number' ? `\n(${e.message})` : '';
      resolve({ code, stdout: stdout.trim(), stderr: stderr.trim() + note });
    });
  });
}

/** `bash scripts/relay.sh install`: installs postfix and postgrey where missing (a fraction of a second when present). */
export async function ensureRealRelayInstalled(timeoutMs = 280_000): Promise<void> {
  const r = await relaySh(['install'], timeoutMs);
  if (r.code !== 0) {
    throw new Error(`could not install the real relay (bash scripts/relay.sh install exited ${r.code}):\n${r.stderr || r.stdout}`);
  }
}

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Starts a private postfix + postgrey on a free loopback port; resolves once it greets with 220. */
export async function startRealRelay({ relayToPort, greylistDelaySec }: RealRelayOptions): Promise<RealRelay> {
  if (!Number.isInteger(greylistDelaySec) || greylistDelaySec < 1) {
    throw new Error(`greylistDelaySec must be a whole number of seconds, at least 1 (got ${greylistDelaySec})`);
  }
  let last: RunResult | null = null;
  let port = 0;
  // The port is free when picked but could be taken before postfix binds it: then once more, on another.
  for (let attempt = 0; attempt < 3; attempt++) {
    port = await freePort();
    last = await relaySh(['up', '--port', String(port), '--relay-to', `127.0.0.1:${relayToPort}`, '--greylist-delay', String(greylistDelaySec)], 60_000);
    if (last.code === 0 && last.stdout.includes(`relay up: smtp://127.0.0.1:${port}`)) break;
    await relaySh(['down', '--port', String(port)], 30_000); // whatever half started goes
    if (!/port \d+ is in use/.test(last.stderr)) break;
  }
  if (!last || last.code !== 0 || !last.stdout.includes(`relay up: smtp://127.0.0.1:${port}`)) {
    throw new Error(
      `the real relay (postfix + postgrey via scripts/relay.sh) could not start on 127.0.0.1:${port}, relaying to 127.0.0.1:${relayToPort}` +
        ` (exit ${last?.code}):\n${last?.stderr || last?.stdout || 'no output'}` +
        `\n(is it installed? bash scripts/relay.sh install — as root)`,
    );
  }
  let stopped: Promise<void> | null = null;
  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    stop() {
      stopped ??= relaySh(['down', '--port', String(port)], 60_000).then((r) => {
        if (r.code !== 0) throw new Error(`could not stop the real relay on port ${port} (exit ${r.code}):\n${r.stderr || r.stdout}`);
      });
      return stopped;
    },
  };
}
