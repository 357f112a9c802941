// rabbitmqctl for the fault scenarios that need the broker itself: a real restart, a queue policy, a memory alarm,
// and read-only queue depths. Every change here is undone by the caller in a finally block.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A broker this machine controls (rabbitmqctl answers); where there is none the scenarios that need it skip. */
export const hasRabbitmqctl = (() => {
  if (process.env.FAULTS_NO_RABBITMQCTL === '1') return false;
  const r = spawnSync('rabbitmqctl', ['-q', 'status'], { stdio: 'ignore', timeout: 20_000 });
  return r.status === 0;
})();

export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', ['-q', ...args], { timeout: 90_000, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** Messages in a queue: ready + unacknowledged (what checkQueue cannot tell). */
export async function queueDepth(queue: string): Promise<{ ready: number; unacked: number; total: number } | null> {
  const out = await rabbitmqctl('list_queues', '--no-table-headers', 'name', 'messages_ready', 'messages_unacknowledged', 'messages');
  for (const line of out.split('\n')) {
    const [name, ready, unacked, total] = line.trim().split(/\s+/);
    if (name === queue) return { ready: Number(ready), unacked: Number(unacked), total: Number(total) };
  }
  return null;
}

/** The policy in effect on a queue, or null (none, or no such queue). */
export async function queuePolicy(queue: string): Promise<string | null> {
  const out = await rabbitmqctl('list_queues', '--no-table-headers', 'name', 'policy');
  for (const line of out.split('\n')) {
    const [name, policy] = line.trim().split(/\s+/);
    if (name === queue) return policy || null;
  }
  return null;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A policy on exactly one queue (anchored pattern), so no other queue on the broker is touched. */
export async function setQueuePolicy(name: string, queue: string, definition: Record<string, unknown>): Promise<void> {
  await rabbitmqctl('set_policy', name, `^${escapeRe(queue)}$`, JSON.stringify(definition), '--apply-to', 'queues', '--priority', '100');
}

export async function clearPolicy(name: string): Promise<void> {
  await rabbitmqctl('clear_policy', name).catch(() => undefined);
}

/**
 * The memory high watermark as `rabbitmqctl set_vm_memory_high_watermark` takes it: ['0.4'] or ['absolute', '1073741824'].
 * Read from the running node, so it can be restored exactly.
 */
export async function currentWatermark(): Promise<string[]> {
  const out = await rabbitmqctl('environment');
  const abs = /\{vm_memory_high_watermark,\s*\{absolute,\s*"?([^}"]+)"?\}\}/.exec(out);
  if (abs) return ['absolute', abs[1]!.trim()];
  const rel = /\{vm_memory_high_watermark,\s*([0-9.]+)\}/.exec(out);
  if (rel) return [rel[1]!];
  throw new Error('could not read vm_memory_high_watermark from rabbitmqctl environment');
}

export async function setWatermark(value: string[]): Promise<void> {
  await rabbitmqctl('set_vm_memory_high_watermark', ...value);
}

/**
 * Raises the memory alarm (every publishing connection on the broker is blocked) until `restore()` is called.
 * A detached watchdog process restores the previous value after `maxMs` even if this process dies first.
 */
export async function raiseMemoryAlarm(maxMs = 30_000): Promise<{ restore: () => Promise<void>; previous: string[] }> {
  let previous = await currentWatermark();
  // A value this small is an alarm left behind by a run that died before restoring it: restore RabbitMQ's default.
  if (previous.length === 1 && Number(previous[0]) < 0.001) previous = ['0.4'];
  const restoreCmd = `rabbitmqctl -q set_vm_memory_high_watermark ${previous.map((a) => `'${a.replace(/'/g, '')}'`).join(' ')}`;
  const watchdog = spawn('sh', ['-c', `sleep ${Math.ceil(maxMs / 1000)}; ${restoreCmd}`], { detached: true, stdio: 'ignore' });
  watchdog.unref();
  await setWatermark(['0.0000001']);
  let restored = false;
  return {
    previous,
    restore: async () => {
      if (restored) return;
      restored = true;
      await setWatermark(previous);
      if (watchdog.pid && watchdog.exitCode === null) {
        try {
          process.kill(-watchdog.pid, 'SIGTERM'); // the watchdog's own process group: the sh and its sleep
        } catch {
          // already gone
        }
      }
    },
  };
}
