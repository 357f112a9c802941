// The local three-node RabbitMQ cluster (scripts/cluster.sh, test/support/cluster.ts): a quorum queue on it has a
// member on each node, outlives the loss of its leader's node with a new leader and its messages, and takes the node
// back when it returns. The tests run in order on one queue: each starts where the previous one left the cluster.
import { connect, type ConfirmChannel } from 'amqplib';
import {
  canRunCluster,
  clusterForRun,
  ctl,
  killNode,
  listeningNodes,
  nodeName,
  nodeUrl,
  queueInfo,
  queueLeader,
  queueMembers,
  quorumStatus,
  startNode,
  type NodeNumber,
} from '../support/cluster';
import { uniqueName } from '../support/services';
import { waitFor } from '../support/wait';

/** A confirm channel on node n for the time of `fn`; the connection is closed afterwards whatever happens. */
async function onNode<T>(n: NodeNumber, fn: (ch: ConfirmChannel) => Promise<T>): Promise<T> {
  const conn = await connect(nodeUrl(n));
  conn.on('error', () => undefined); // a node killed under it: the test says what went wrong, not an unhandled event
  try {
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => undefined);
    return await fn(ch);
  } finally {
    await conn.close().catch(() => undefined);
  }
}

(canRunCluster ? describe : describe.skip)('a three-node RabbitMQ cluster on this host', () => {
  const queue = uniqueName('cluster');
  let declared = false;
  let urls: string[] = [];
  let killed: NodeNumber | null = null;

  beforeAll(async () => {
    ({ urls } = await clusterForRun());
  }, 300_000);

  afterAll(async () => {
    // A node this file killed runs again before the file ends.
    if (killed !== null) await startNode(killed).catch(() => undefined);
    if (declared) {
      const [n] = await listeningNodes();
      if (n) await onNode(n, async (ch) => void (await ch.deleteQueue(queue))).catch(() => undefined);
    }
  }, 300_000);

  test('the three nodes run, each on its own AMQP port, and the cluster sees all three running', async () => {
    expect(urls).toEqual(['amqp://guest:guest@127.0.0.1:5681', 'amqp://guest:guest@127.0.0.1:5682', 'amqp://guest:guest@127.0.0.1:5683']);
    expect(await listeningNodes()).toEqual([1, 2, 3]);
    const status = JSON.parse(await ctl(1, 'cluster_status', '--formatter', 'json')) as { running_nodes: string[]; disk_nodes: string[] };
    expect([...status.running_nodes].sort()).toEqual([nodeName(1), nodeName(2), nodeName(3)]);
    expect([...status.disk_nodes].sort()).toEqual([nodeName(1), nodeName(2), nodeName(3)]);
  });

  test('a quorum queue declared through node 1 has a member on each of the three nodes', async () => {
    await onNode(1, async (ch) => {
      await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    });
    declared = true;
    expect(await queueMembers(queue)).toEqual([1, 2, 3]);
    const info = await waitFor('a leader and three members online', async () => {
      const i = await queueInfo(queue);
      return i && i.leader !== null && i.online.length === 3 ? i : null;
    }, 30_000, 250);
    expect(info.online).toEqual([1, 2, 3]);
    expect([1, 2, 3]).toContain(info.leader);
  });

  test('killing the leader’s node gives the queue a new leader on another node, and keeps its messages: one published before and one after go through a surviving node', async () => {
    const oldLeader = await queueLeader(queue);
    await onNode(oldLeader, async (ch) => {
      ch.sendToQueue(queue, Buffer.from('before the kill'), { persistent: true });
      await ch.waitForConfirms();
    });

    await killNode(oldLeader);
    killed = oldLeader;
    expect(await listeningNodes()).not.toContain(oldLeader);

    const after = await waitFor('a new leader on a surviving node', async () => {
      const i = await queueInfo(queue).catch(() => null);
      return i && i.leader !== null && i.leader !== oldLeader ? i : null;
    }, 60_000, 250);
    expect(after.members).toEqual([1, 2, 3]); // still a member, only not running
    expect(after.online).not.toContain(oldLeader);
    expect(after.online).toHaveLength(2);

    // Through a surviving node that is not the new leader, when there is one: the channel's node relays to the leader.
    const survivor = ([1, 2, 3] as NodeNumber[]).find((n) => n !== oldLeader && n !== after.leader)!;
    const received = await onNode(survivor, async (ch) => {
      ch.sendToQueue(queue, Buffer.from('after the kill'), { persistent: true });
      await ch.waitForConfirms();
      const got: string[] = [];
      await ch.prefetch(10);
      await ch.consume(queue, (m) => {
        if (!m) return;
        got.push(m.content.toString());
        ch.ack(m);
      });
      await waitFor('both messages consumed', () => got.length >= 2, 30_000);
      await waitFor('the queue empty', async () => (await ch.checkQueue(queue)).messageCount === 0, 30_000);
      return got;
    });
    expect(received).toEqual(['before the kill', 'after the kill']);
  }, 180_000);

  test('starting the killed node again brings it back as a running member of the queue that catches up with the leader', async () => {
    const n = killed!;
    expect(n).not.toBeNull();
    await startNode(n);
    killed = null;
    expect(await listeningNodes()).toEqual([1, 2, 3]);
    const status = JSON.parse(await ctl(n, 'cluster_status', '--formatter', 'json')) as { running_nodes: string[] };
    expect([...status.running_nodes].sort()).toEqual([nodeName(1), nodeName(2), nodeName(3)]);

    const info = await waitFor('the node back among the online members', async () => {
      const i = await queueInfo(queue).catch(() => null);
      return i && i.online.length === 3 ? i : null;
    }, 60_000, 250);
    expect(info.members).toEqual([1, 2, 3]);
    // its Raft member follows the leader again, at the same commit index (the log it missed was sent to it)
    const states = await waitFor('every member in step with the leader', async () => {
      const rows = await quorumStatus(info.leader ?? 1, queue).catch(() => []);
      const leader = rows.find((r) => r.state === 'leader');
      return rows.length === 3 && leader && rows.every((r) => r.commitIndex === leader.commitIndex) ? rows : null;
    }, 60_000, 250);
    expect(states.find((r) => r.node === n)?.state).toMatch(/^(follower|leader)$/);
  }, 240_000);
});
