// The local three-node RabbitMQ cluster (scripts/cluster.sh) for the tests that need more than one broker node:
// bring it up and down, kill and start a node, replace one, and ask it about a quorum queue.
// Nodes are numbered 1, 2 and 3: node n is mdc<n>@localhost, AMQP on 127.0.0.1:568<n>.
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect as tcpConnect } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'cluster.sh');

export type NodeNumber = 1 | 2 | 3;
export const CLUSTER_NODES: readonly NodeNumber[] = [1, 2, 3];

/** The installed RabbitMQ the script runs; where there is none the cluster suites skip. */
export const canRunCluster = existsSync('/usr/lib/rabbitmq/bin/rabbitmq-server');

export const nodeName = (n: number) => `mdc${n}@localhost`;
export const amqpPort = (n: number) => 5680 + n;
export const nodeUrl = (n: number) => `amqp://guest:guest@127.0.0.1:${amqpPort(n)}`;

/** The node number in a node name (`mdc2@localhost` → 2), or null for anything else. */
export function nodeNumber(name: string): NodeNumber | null {
  const m = /^mdc([123])@/.exec(name);
  return m ? (Number(m[1]) as NodeNumber) : null;
}

/** Runs `bash scripts/cluster.sh ...args`; a failure carries what the script said on stderr. */
async function script(args: (string | number)[], timeoutMs: number): Promise<string> {
  try {
    const { stdout } = await run('bash', [SCRIPT, ...args.map(String)], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (e) {
    const err = e as Error & { stderr?: string; stdout?: string; code?: number | string; killed?: boolean };
    const said = `${err.stderr ?? ''}${err.stdout ?? ''}`.trim().split('\n').slice(-20).join('\n');
    throw new Error(`scripts/cluster.sh ${args.join(' ')} failed (${err.killed ? `killed after ${timeoutMs} ms` : `exit ${err.code}`}): ${said || err.message}`);
  }
}

/** Starts the three nodes (or whichever is down) and returns once the three run, with one AMQP URL per node. */
export async function clusterUp(): Promise<{ urls: string[] }> {
  const out = await script(['up'], 240_000);
  const line = /^AMQP_URL=(.+)$/m.exec(out);
  if (!line) throw new Error(`scripts/cluster.sh up printed no AMQP_URL line: ${out}`);
  return { urls: line[1]!.trim().split(',') };
}

/** Where a test run that started the cluster writes its TEST_RUN_ID (inside the cluster's directory: `down` removes it). */
export const STARTED_BY_RUN = path.join(tmpdir(), 'mail-dispatch-cluster', 'started-by-test-run');

/**
 * The cluster for a test file: used as it is when a node runs (a developer's, or the one an earlier file of this run
 * started); otherwise started, and stopped once, when the whole run ends (test/support/cluster-teardown.js), so the
 * files of one run share one boot.
 */
export async function clusterForRun(): Promise<{ urls: string[] }> {
  const fresh = (await listeningNodes()).length === 0;
  const up = await clusterUp();
  if (fresh) writeFileSync(STARTED_BY_RUN, process.env.TEST_RUN_ID ?? '');
  return up;
}

/** Stops the three nodes and removes their data; nothing happens when the cluster is not there. */
export async function clusterDown(): Promise<void> {
  await script(['down'], 60_000);
}

/** Whether node n's AMQP port accepts a connection (quick: no CLI call). */
export function nodeListens(n: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: '127.0.0.1', port: amqpPort(n) });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** The nodes whose AMQP port answers. */
export async function listeningNodes(): Promise<NodeNumber[]> {
  const up = await Promise.all(CLUSTER_NODES.map((n) => nodeListens(n)));
  return CLUSTER_NODES.filter((_, i) => up[i]);
}

/** SIGKILLs node n's Erlang VM; returns once its ports are closed. */
export async function killNode(n: NodeNumber): Promise<void> {
  await script(['kill', n], 60_000);
}

/** Starts node n again on its own data; returns once it has booted (it rejoins the cluster by itself). */
export async function startNode(n: NodeNumber): Promise<void> {
  await script(['start', n], 180_000);
}

/**
 * Replaces node n by a fresh one: stopped if it runs, forgotten by the cluster when it still is a member, its data
 * wiped, started and joined again. It is then a member of no quorum queue: `queuesCli(1, 'grow', nodeName(n), 'all')`.
 */
export async function resetNode(n: NodeNumber): Promise<void> {
  await script(['reset', n], 240_000);
}

/** `rabbitmqctl -q -n mdc<n>@localhost ...args` with the cluster's cookie; its stdout. */
export async function ctl(n: NodeNumber, ...args: string[]): Promise<string> {
  return script(['ctl', n, '-q', ...args], 90_000);
}

/** `rabbitmq-queues -q -n mdc<n>@localhost ...args` with the cluster's cookie; its stdout. */
export async function queuesCli(n: NodeNumber, ...args: string[]): Promise<string> {
  return script(['queues', n, '-q', ...args], 90_000);
}

export interface QueueInfo {
  /** the node of the queue's leader, or null while it has none (an election) */
  leader: NodeNumber | null;
  /** the nodes the queue has a member on, running or not */
  members: NodeNumber[];
  /** the members that are running */
  online: NodeNumber[];
}

const numbers = (names: unknown): NodeNumber[] =>
  (Array.isArray(names) ? names : [])
    .map((x) => nodeNumber(String(x)))
    .filter((x): x is NodeNumber => x !== null)
    .sort();

/** A quorum queue as a running node sees it (the first node that answers); null when it does not exist. */
export async function queueInfo(queue: string, vhost = '/'): Promise<QueueInfo | null> {
  const nodes = await listeningNodes();
  if (!nodes.length) throw new Error('no node of the cluster is running');
  let lastError: unknown;
  for (const n of nodes) {
    try {
      const out = await ctl(n, 'list_queues', '-p', vhost, 'name', 'leader', 'members', 'online', '--formatter', 'json');
      const rows = JSON.parse(out) as { name: string; leader?: string; members?: string[]; online?: string[] }[];
      const row = rows.find((r) => r.name === queue);
      if (!row) return null;
      return { leader: nodeNumber(String(row.leader ?? '')), members: numbers(row.members), online: numbers(row.online) };
    } catch (e) {
      lastError = e; // that node went away meanwhile: ask the next one
    }
  }
  throw lastError;
}

/** Which node leads the quorum queue; fails when the queue does not exist or has no leader right now. */
export async function queueLeader(queue: string, vhost = '/'): Promise<NodeNumber> {
  const info = await queueInfo(queue, vhost);
  if (!info) throw new Error(`no queue ${queue} in vhost ${vhost}`);
  if (info.leader === null) throw new Error(`quorum queue ${queue} has no leader right now`);
  return info.leader;
}

/** The nodes the quorum queue has a member on (running or not), in order. */
export async function queueMembers(queue: string, vhost = '/'): Promise<NodeNumber[]> {
  const info = await queueInfo(queue, vhost);
  if (!info) throw new Error(`no queue ${queue} in vhost ${vhost}`);
  return info.members;
}

/** Each member's Raft state ('leader', 'follower', ...) as `rabbitmq-queues quorum_status` reports it from node n. */
export async function quorumStatus(n: NodeNumber, queue: string, vhost = '/'): Promise<{ node: NodeNumber | null; state: string; commitIndex: number }[]> {
  const out = await queuesCli(n, 'quorum_status', '-p', vhost, queue, '--formatter', 'json');
  const rows = JSON.parse(out) as Record<string, unknown>[];
  return rows.map((r) => ({ node: nodeNumber(String(r['Node Name'])), state: String(r['Raft State']), commitIndex: Number(r['Commit Index']) }));
}
