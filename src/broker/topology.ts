// The broker side of the documented case: a durable direct exchange bound to a durable queue,
// plus a parking lot for messages that can never be a mail (poison, unknown msgId).
import type { Channel } from 'amqplib';

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
