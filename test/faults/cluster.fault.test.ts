// Faults of a three-node RabbitMQ cluster (scripts/cluster.sh: three local nodes, the mail queue a quorum queue),
// with two app instances attached to different nodes throughout, at the production timings, under load:
//   - cluster-leader-kill:     SIGKILL of the node that leads the mail queue, brought back a little later;
//   - cluster-rolling-restart: each node stopped and started in turn (rabbitmqctl stop_app / start_app);
//   - cluster-node-replaced:   a node lost for good: forgotten, replaced by an empty one, quorum membership grown back.
// Every accepted mail must reach the SMTP server once (a second copy only where its outcome was genuinely unknown).
import { deleteTopology } from '../../src/broker/topology';
import type { MailDispatchApp } from '../../src/app';
import { canRunCluster, clusterForRun, clusterUp, ctl, killNode, nodeName, queueInfo, queueLeader, queuesCli, resetNode, startNode, type NodeNumber } from '../support/cluster';
import { sleep, waitFor } from '../support/wait';
import { assertScenario, PRODUCTION, scenarioFixture, ScenarioRun, Traffic } from './harness';

// Booting the cluster takes half a minute, each scenario one to three.
jest.setTimeout(600_000);

const N = Number(process.env.FAULTS_CLUSTER_MAILS ?? 1500);

(canRunCluster ? describe : describe.skip)('fault: a three-node RabbitMQ cluster with two app instances', () => {
  const fx = scenarioFixture();
  let urls: string[] = [];

  beforeAll(async () => {
    ({ urls } = await clusterForRun());
    await fx.setup();
    fx.defer('the scenario names on the cluster', () => deleteTopology(urls.join(','), fx.topology));
  }, 300_000);

  afterAll(async () => {
    await fx.stop();
    await clusterUp(); // whatever a failed scenario left down runs again
  }, 300_000);

  /** AMQP_URL for an instance that prefers node `first`: the list starting there. */
  const preferring = (first: NodeNumber) => [...urls.slice(first - 1), ...urls.slice(0, first - 1)].join(',');

  /** Two instances at the production timings, the first attached to node 1, the second to node 2. */
  async function twoInstances(sc: ScenarioRun): Promise<[MailDispatchApp, MailDispatchApp]> {
    const a = await fx.startApp({ amqpUrl: preferring(1), env: PRODUCTION });
    const b = await fx.startApp({ amqpUrl: preferring(2), env: PRODUCTION });
    const nodes = [a, b].map((app) => app.infra.publisherConnection.node);
    sc.expect('the two instances are attached to different nodes', nodes[0] !== nodes[1] && nodes.every(Boolean), nodes.join(' and '));
    return [a, b];
  }

  /** Requests spread over both instances, at a pace (about 100 /s) that keeps them coming through the faults. */
  const trafficTo = (apps: MailDispatchApp[], n: number, pauseMs = 200) => {
    let k = 0;
    return new Traffic(() => apps[k++ % apps.length]!.url, n, { concurrency: 20, pauseMs, timeoutMs: 30_000 });
  };

  const queue = () => fx.topology.queue;

  /** The mail queue has a leader and all three members online and caught up (the next fault may take any node). */
  async function healthy(): Promise<void> {
    await waitFor(
      'the mail queue led, with three members online',
      async () => {
        const info = await queueInfo(queue()).catch(() => null);
        return !!info && info.leader !== null && info.online.length === 3 && info.members.length === 3;
      },
      120_000,
      500,
    );
  }

  const finish = async (sc: ScenarioRun, traffic: Traffic, apps: MailDispatchApp[]) => {
    await traffic.done;
    sc.expect('every request answered 202', traffic.count(202) === traffic.n, JSON.stringify(traffic.statuses));
    sc.expect('both instances attached to a node again', apps.every((app) => app.infra.publisherConnection.node !== null), apps.map((app) => app.infra.publisherConnection.node).join(' and '));
    // A publish lost with its node is published again by the job after PUBLISH_GRACE_MS (30 s at the defaults).
    // The scenarios share the fixture's table and sink: each checks its own mails.
    const own = new Set(traffic.accepted);
    const sink = () => fx.sink.received.filter((m) => own.has(m.msgId!));
    const record = await sc.finish({ accepted: traffic.accepted, onlyIds: traffic.accepted, sink, pool: fx.db.pool, boundMs: 180_000, quietMs: 2000 });
    for (const app of apps) await app.stop();
    assertScenario(record);
  };

  test('cluster-leader-kill', async () => {
    const sc = new ScenarioRun('cluster-leader-kill', `SIGKILL of the node leading the quorum mail queue, back after 10 s; two instances on different nodes; ${N} mails`);
    fx.sink.replyDelayMs = 5; // a backlog in the queue when the node dies
    const apps = await twoInstances(sc);
    await healthy();
    const traffic = trafficTo(apps, N);
    await traffic.reach(Math.round(N * 0.4));
    const leader = await queueLeader(queue());
    const killedAt = Date.now();
    await killNode(leader);
    const next = await waitFor('a new leader', async () => (await queueLeader(queue()).catch(() => null)) ?? false, 60_000, 200);
    const electedMs = Date.now() - killedAt;
    sc.expect('a new leader on another node', next !== leader, `node ${leader} -> node ${next} in ${electedMs} ms`);
    await waitFor('the instances on the lost node attached elsewhere', () => apps.every((app) => app.infra.publisherConnection.node !== null), 60_000, 100);
    const reattachedMs = Date.now() - killedAt;
    await sleep(Math.max(0, 10_000 - (Date.now() - killedAt))); // fixed: the node stays down 10 s
    await startNode(leader);
    await healthy();
    process.stdout.write(`  node ${leader} killed: new leader node ${next} after ${electedMs} ms, both instances attached after ${reattachedMs} ms\n`);
    await finish(sc, traffic, apps);
  });

  test('cluster-rolling-restart', async () => {
    const sc = new ScenarioRun('cluster-rolling-restart', `rabbitmqctl stop_app / start_app of each node in turn under load; two instances on different nodes; ${N} mails`);
    fx.sink.replyDelayMs = 5;
    const apps = await twoInstances(sc);
    await healthy();
    const traffic = trafficTo(apps, N, 400); // about 50 /s: the three restarts take about 30 s
    await traffic.reach(Math.round(N * 0.1));
    const took: string[] = [];
    for (const n of [1, 2, 3] as NodeNumber[]) {
      const t0 = Date.now();
      await ctl(n, 'stop_app');
      await ctl(n, 'start_app');
      await healthy();
      took.push(`node ${n} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    sc.expect('the restarts happened while mails were still being accepted', traffic.answered < N, `${traffic.answered} of ${N} answered after the last restart`);
    process.stdout.write(`  rolling restart: ${took.join(', ')}\n`);
    await finish(sc, traffic, apps);
  });

  test('cluster-node-replaced', async () => {
    const sc = new ScenarioRun('cluster-node-replaced', `node 3 lost for good: forgotten, an empty node joined in its place, the quorum queues grown back to it; ${N} mails`);
    fx.sink.replyDelayMs = 5;
    const apps = await twoInstances(sc);
    await healthy();
    const traffic = trafficTo(apps, N);
    await traffic.reach(Math.round(N * 0.2));
    const t0 = Date.now();
    await resetNode(3); // stop, forget_cluster_node, wipe, start empty, join_cluster
    const without = await queueInfo(queue());
    sc.expect('the replaced node is no member of the mail queue until grown back', !!without && !without.members.includes(3), JSON.stringify(without));
    await queuesCli(1, 'grow', nodeName(3), 'all');
    await healthy();
    const members = await queueInfo(queue());
    sc.expect('the mail queue has three members again, the new node among them', !!members && members.members.join() === '1,2,3', JSON.stringify(members));
    process.stdout.write(`  node 3 replaced and grown back in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    await finish(sc, traffic, apps);
  });
});
