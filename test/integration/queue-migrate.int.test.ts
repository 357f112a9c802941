// `npm run queue:migrate` against the real broker: a classic mail queue (and its parking queue) holding messages
// becomes a quorum queue holding the same messages, once each, while a publisher keeps publishing.
import { connect, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { migrateQueues } from '../../src/broker/queue-migration';
import { checkTopology, declareTopology, deleteTopology, parkingExchange, parkingQueue, QueueTypeMismatchError, type TopologyNames } from '../../src/broker/topology';
import { AMQP_URL, uniqueName } from '../support/services';
import { rabbitmqctl } from '../support/rabbit';

const queueType = async (queue: string) => {
  const out = await rabbitmqctl('list_queues', '--no-table-headers', 'name', 'type');
  return out.split('\n').map((l) => l.trim().split(/\s+/)).find(([n]) => n === queue)?.[1] ?? null;
};

describe('moving the mail queue from classic to quorum', () => {
  let model: ChannelModel;
  let t: TopologyNames;

  beforeAll(async () => {
    model = await connect(AMQP_URL);
  });

  afterAll(async () => {
    await deleteTopology(AMQP_URL, t);
    const ch = await model.createChannel();
    for (const q of [`${t.queue}.migrating`, `${parkingQueue(t)}.migrating`]) await ch.deleteQueue(q).catch(() => undefined);
    await model.close();
  });

  const publish = (ch: ConfirmChannel, exchange: string, key: string, id: string) =>
    new Promise<void>((resolve, reject) => ch.publish(exchange, key, Buffer.from(id), { persistent: true, messageId: id, mandatory: true }, (err) => (err ? reject(err) : resolve())));

  const drain = async (queue: string) => {
    const ch = await model.createChannel();
    const ids: string[] = [];
    for (let m = await ch.get(queue, { noAck: true }); m; m = await ch.get(queue, { noAck: true })) ids.push(m.properties.messageId as string);
    await ch.close();
    return ids;
  };

  test('every message arrives in the quorum queue exactly once, publishes during the move are routed once or returned, and the app then starts', async () => {
    const name = uniqueName('migrate');
    const classic: TopologyNames = { exchange: `${name}.x`, queue: `${name}.q`, routingKey: 'k', queueType: 'classic' };
    t = { ...classic, queueType: 'quorum' };
    const ch = await model.createConfirmChannel();
    ch.on('error', (err: Error) => console.error(`test channel: ${err.message}`));
    await declareTopology(ch, classic);
    const before = Array.from({ length: 600 }, (_, i) => `before-${i}`);
    for (const id of before) await publish(ch, classic.exchange, classic.routingKey, id);
    for (const id of ['parked-1', 'parked-2', 'parked-3']) await publish(ch, parkingExchange(classic), '', id);

    // The app configured for quorum refuses to start against the classic queue, naming the command.
    const refused = await checkTopology(AMQP_URL, t).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(QueueTypeMismatchError);
    expect((refused as Error).message).toContain('npm run queue:migrate');

    // A publisher keeps going during the move: each of its mails is either routed (and must arrive once) or returned.
    const returned = new Set<string>();
    ch.on('return', (m) => returned.add(m.properties.messageId as string));
    const during: string[] = [];
    let publishing = true;
    const publisher = (async () => {
      for (let i = 0; publishing; i++) {
        during.push(`during-${i}`);
        await publish(ch, t.exchange, t.routingKey, `during-${i}`);
      }
    })();
    const lines: string[] = [];
    const reports = await migrateQueues(AMQP_URL, t, (l) => lines.push(l)).finally(() => (publishing = false));
    await publisher;

    expect(reports.map((r) => [r.queue, r.migrated, r.moved])).toEqual([
      [parkingQueue(t), true, 3],
      [t.queue, true, expect.any(Number)],
    ]);
    expect(await queueType(t.queue)).toBe('quorum');
    expect(await queueType(parkingQueue(t))).toBe('quorum');
    expect(await queueType(`${t.queue}.migrating`)).toBeNull();

    const arrived = await drain(t.queue);
    const routedDuring = during.filter((id) => !returned.has(id));
    expect(arrived.filter((id, i) => arrived.indexOf(id) !== i)).toEqual([]); // no doubles
    expect(arrived.sort()).toEqual([...before, ...routedDuring].sort()); // nothing lost
    expect(during.length).toBeGreaterThan(0);
    expect((await drain(parkingQueue(t))).sort()).toEqual(['parked-1', 'parked-2', 'parked-3']);

    // Now the app's declaration is accepted, and a second run has nothing to do.
    await expect(checkTopology(AMQP_URL, t)).resolves.toBeUndefined();
    expect((await migrateQueues(AMQP_URL, t)).every((r) => !r.migrated)).toBe(true);
  }, 120_000);
});
