// The broker side of the documented case: a durable direct exchange bound to a durable queue,
// plus a parking lot for messages that can never be a mail (poison, unknown msgId).
import { connect, type Channel } from 'amqplib';

export interface TopologyNames {
  exchange: string;
  queue: string;
  routingKey: string;
}

export const parkingExchange = (t: TopologyNames) => `${t.exchange}.parked`;
export const parkingQueue = (t: TopologyNames) => `${t.queue}.parked`;

export async function declareTopology(ch: Channel, t: TopologyNames): Promise<void> {
  await ch.assertExchange(t.exchange, 'direct', { durable: true });
  await ch.assertQueue(t.queue, { durable: true });
  await ch.bindQueue(t.queue, t.exchange, t.routingKey);
  await ch.assertExchange(parkingExchange(t), 'fanout', { durable: true });
  await ch.assertQueue(parkingQueue(t), { durable: true });
  await ch.bindQueue(parkingQueue(t), parkingExchange(t), '');
}

/** Deletes the queues and exchanges of `t` (tests and the benchmark clean up after themselves); missing ones are fine. */
export async function deleteTopology(amqpUrl: string, t: TopologyNames): Promise<void> {
  const conn = await connect(amqpUrl);
  try {
    // a failed delete closes its channel, so queues and exchanges get one each
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    for (const q of [t.queue, parkingQueue(t)]) await ch.deleteQueue(q).catch(() => undefined);
    const ch2 = await conn.createChannel();
    ch2.on('error', () => undefined);
    for (const e of [t.exchange, parkingExchange(t)]) await ch2.deleteExchange(e).catch(() => undefined);
  } finally {
    await conn.close().catch(() => undefined);
  }
}
