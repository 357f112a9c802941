// The mail queue as the app declares it by default: a quorum queue whose delivery limit dead-letters a message that
// keeps coming back into the parking queue, with the reason; and the listener's pause before giving a delivery back.
import { connect, type ChannelModel } from 'amqplib';
import { declareTopology, deleteTopology, mailQueueArguments, parkingQueue, type TopologyNames } from '../../src/broker/topology';
import { retryPause } from '../../src/listener/consumer';
import { TUNING } from '../../src/tuning';
import { rabbitmqctl } from '../support/rabbit';
import { AMQP_URL, uniqueName } from '../support/services';
import { waitFor } from '../support/wait';

describe('the default mail queue', () => {
  let model: ChannelModel;
  const name = uniqueName('quorum');
  const t: TopologyNames = { exchange: `${name}.x`, queue: `${name}.q`, routingKey: 'k' };

  beforeAll(async () => {
    model = await connect(AMQP_URL);
  });

  afterAll(async () => {
    await deleteTopology(AMQP_URL, t);
    await model.close();
  });

  test('is a quorum queue with a delivery limit that dead-letters at least once into the parking queue', async () => {
    const ch = await model.createChannel();
    await declareTopology(ch, t);
    expect(mailQueueArguments(t)).toEqual({
      'x-queue-type': 'quorum',
      'x-delivery-limit': TUNING.quorumDeliveryLimit,
      'x-max-length': TUNING.quorumMaxLength,
      'x-dead-letter-exchange': `${t.exchange}.parked`,
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    });
    const types = await rabbitmqctl('list_queues', '--no-table-headers', 'name', 'type');
    const typeOf = (q: string) => types.split('\n').map((l) => l.trim().split(/\s+/)).find(([n]) => n === q)?.[1];
    expect(typeOf(t.queue)).toBe('quorum');
    expect(typeOf(parkingQueue(t))).toBe('quorum');
    await ch.close();
  });

  test('a message given back more times than the delivery limit lands in the parking queue, saying why, and nowhere else', async () => {
    const ch = await model.createConfirmChannel();
    await declareTopology(ch, t);
    await new Promise<void>((resolve, reject) => ch.publish(t.exchange, t.routingKey, Buffer.from('{}'), { persistent: true, messageId: 'poison-1' }, (err) => (err ? reject(err) : resolve())));
    let deliveries = 0;
    let lastCount = -1;
    await ch.consume(t.queue, (m) => {
      if (!m) return;
      deliveries++;
      lastCount = Number(m.properties.headers?.['x-delivery-count'] ?? 0);
      ch.nack(m, false, true);
    });
    const parked = await waitFor('the message in the parking queue', async () => (await ch.get(parkingQueue(t), { noAck: true })) || null, 30_000, 100);
    expect(parked.properties.messageId).toBe('poison-1');
    const death = (parked.properties.headers?.['x-death'] as { reason: string; queue: string }[])[0]!;
    expect(death).toEqual(expect.objectContaining({ reason: 'delivery_limit', queue: t.queue }));
    expect(deliveries).toBe(TUNING.quorumDeliveryLimit + 1);
    expect(lastCount).toBe(TUNING.quorumDeliveryLimit);
    expect((await ch.checkQueue(t.queue)).messageCount).toBe(0);
    await ch.close();
  });

  test('the pause before a delivery goes back doubles with its x-delivery-count up to the maximum', () => {
    const withCount = (n?: number) => ({ properties: { headers: n === undefined ? {} : { 'x-delivery-count': n } } }) as never;
    expect(retryPause(withCount(), 2000)).toBe(2000); // a classic queue: no count, the same pause each time
    expect(retryPause(withCount(1), 2000)).toBe(4000);
    expect(retryPause(withCount(4), 2000)).toBe(32_000);
    expect(retryPause(withCount(5), 2000)).toBe(TUNING.retryLaterMaxMs);
    expect(retryPause(withCount(49), 2000)).toBe(TUNING.retryLaterMaxMs);
  });
});
