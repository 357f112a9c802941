// The benchmark peer (Express + BullMQ + nodemailer, from ../shared/peer) run as its own process, as a measuring
// instrument: copied to a temporary folder (shared/ is read-only) and installed there once; never imported.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitFor } from './bench-util';

export async function startPeer(peerDir: string, smtpPort: number) {
  const dir = path.join(os.tmpdir(), 'mail-dispatch-bench-peer');
  if (!existsSync(path.join(dir, 'node_modules'))) {
    cpSync(peerDir, dir, { recursive: true });
    const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('could not install the peer');
  }
  const port = await freePort();
  const proc = spawn(process.execPath, ['bullmq-app.mjs'], { cwd: dir, env: { ...process.env, PORT: String(port), SMTP_PORT: String(smtpPort) }, stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  await waitFor('the peer to answer', async () => (await fetch(`${url}/mail/send`, { method: 'POST' }).catch(() => null)) !== null, 30_000).catch((err) => {
    proc.kill('SIGKILL'); // a peer that never answered is not left running
    throw err;
  });
  return {
    url,
    proc,
    stop: async () => {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}
