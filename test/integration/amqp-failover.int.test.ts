// AMQP_URL as a list of nodes: a connection goes to the first node that answers, moves to the next when its node
// goes, and runs its setup again there; the app refuses to start against a queue of the other type, naming the fix.
// The "nodes" are one broker reached directly and through a proxy the test can take down (test/support/fault-proxy.ts).
import { connect } from 'amqplib';
import { AmqpConnection } from '../../src/broker/amqp-connection';
import { declareTopology, QueueTypeMismatchError } from '../../src/broker/topology';
import { FaultProxy } from '../support/fault-proxy';
import { Fixture } from '../support/fixture';
import { AMQP_URL, testLogger } from '../support/services';
import { waitFor } from '../support/wait';

describe('a list of broker nodes', () => {
  let proxy: FaultProxy;
  const broker = new URL(AMQP_URL);

  beforeAll(async () => {
    proxy = await new FaultProxy(broker.hostname, Number(broker.port || 5672)).start();
  });

  afterAll(async () => {
    await proxy.stop();
  });

  test('a connection skips a node that does not answer, moves to the next when its node goes, and runs its setup again there', async () => {
    const refusing = 'amqp://guest:guest@127.0.0.1:9'; // nothing listens on the discard port
    const viaProxy = proxy.via(AMQP_URL);
    const conn = new AmqpConnection([refusing, viaProxy, AMQP_URL].join(','), 'failover-test', testLogger());
    let setups = 0;
    let losses = 0;
    conn.onConnect(async (model) => {
      const ch = await model.createChannel();
      await ch.close();
      setups++;
    });
    conn.onDisconnect(() => losses++);
    try {
      await conn.start();
      expect(await conn.waitUntilUp(10_000)).toBe(true);
      expect(conn.node).toBe(`127.0.0.1:${proxy.port}`); // the refusing node was skipped
      expect(setups).toBe(1);

      await proxy.down(); // the node goes: its connection is reset and it refuses new ones
      await waitFor('the connection on the next node', () => conn.node === `${broker.hostname}:${broker.port || 5672}`, 15_000);
      expect(losses).toBe(1);
      expect(setups).toBe(2);
    } finally {
      await conn.close();
    }
    expect(conn.isUp).toBe(false);
  });

  test('an app configured for quorum queues does not start against a classic mail queue, and says which command moves it', async () => {
    const fx = new Fixture({ sink: 'none', app: false });
    await fx.setup();
    try {
      const model = await connect(AMQP_URL);
      const ch = await model.createChannel();
      await declareTopology(ch, { ...fx.topology, queueType: 'classic' });
      await model.close();
      const refused = await fx.startApp({ roles: 'api', env: { MQ_QUEUE_TYPE: 'quorum' } }).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(QueueTypeMismatchError);
      expect((refused as Error).message).toMatch(/npm run queue:migrate/);
      // the same queue is fine for an app that says classic
      const app = await fx.startApp({ roles: 'api', env: { MQ_QUEUE_TYPE: 'classic' } });
      expect(app.infra.publisherConnection.isUp).toBe(true);
    } finally {
      await fx.stop();
    }
  });
});
