// The broker side of the documented case: a durable direct exchange bound to a durable queue, plus a parking lot for
// messages that can never be a mail (poison, unknown msgId). Quorum queues by default (replicated by Raft over the
// cluster's nodes); a quorum mail queue dead-letters a message past its delivery limit into the parking lot, at least
// once (x-dead-letter-strategy=at-least-once, which needs x-overflow=reject-publish, RabbitMQ 3.10+).
import type { Channel } from 'amqplib';
import { TUNING } from '../tuning';
import { connectAny } from './amqp-urls';

export type QueueType = 'quorum' | 'classic';

export interface TopologyNames {
  exchange: string;
  queue: string;
  routingKey: string;
  /** quorum unless said otherwise (MQ_QUEUE_TYPE) */
  queueType?: QueueType;
  /** RELIABILITY_SCHEME=delayed-check: the check messages' delay (CHECK_DELAY_MS), and with it the scheme's queues */
  checkDelayMs?: number;
}

export const parkingExchange = (t: TopologyNames) => `${t.exchange}.parked`;
export const parkingQueue = (t: TopologyNames) => `${t.queue}.parked`;
export const queueTypeOf = (t: TopologyNames): QueueType => t.queueType ?? 'quorum';

// The delayed-check scheme's queues, named after the mail queue so two deployments on one broker never share one.
// A check message waits in the delay queue (one per delay: a queue's TTL is fixed, so no message waits behind a
// longer one) and dead-letters into the check queue, where the callback service takes it; the listener's
// confirmations go to the confirm queue; the callback's resend requests to the resend queue, for the producer.
export const checkDelayQueue = (t: TopologyNames) => `${t.queue}.check.delay.${t.checkDelayMs ?? 0}`;
export const checkQueue = (t: TopologyNames) => `${t.queue}.check`;
export const confirmQueue = (t: TopologyNames) => `${t.queue}.confirm`;
export const resendQueue = (t: TopologyNames) => `${t.queue}.resend`;
/** what deleteTopology removes of them: the delay queue only when its delay is known */
const schemeQueues = (t: TopologyNames) => [checkQueue(t), confirmQueue(t), resendQueue(t), ...(t.checkDelayMs === undefined ? [] : [checkDelayQueue(t)])];

/** The mail queue's arguments: equal on every declaration, or the broker refuses it (PRECONDITION_FAILED). */
export function mailQueueArguments(t: TopologyNames): Record<string, unknown> {
  if (queueTypeOf(t) === 'classic') return {};
  return {
    'x-queue-type': 'quorum',
    'x-delivery-limit': TUNING.quorumDeliveryLimit,
    'x-max-length': TUNING.quorumMaxLength,
    'x-dead-letter-exchange': parkingExchange(t),
    'x-dead-letter-strategy': 'at-least-once',
    'x-overflow': 'reject-publish',
  };
}

const parkingArguments = (t: TopologyNames): Record<string, unknown> => (queueTypeOf(t) === 'quorum' ? { 'x-queue-type': 'quorum' } : {});

/** The queue exists with another type than MQ_QUEUE_TYPE: it cannot be declared again until it is migrated. */
export class QueueTypeMismatchError extends Error {
  constructor(
    readonly queue: string,
    readonly wanted: QueueType,
  ) {
    super(
      `RabbitMQ queue "${queue}" exists with another type or other arguments than MQ_QUEUE_TYPE=${wanted} declares. ` +
        `Move its messages with \`npm run queue:migrate\` (README.md, "Moving a classic queue to quorum"), or set MQ_QUEUE_TYPE to the queue's type.`,
    );
    this.name = 'QueueTypeMismatchError';
  }
}

/** The broker's answer to a declaration that differs from the queue's: a 406 naming an inequivalent argument. */
const isInequivalent = (err: unknown) => (err as { code?: number })?.code === 406 && /inequivalent arg/.test(String((err as Error).message));

export async function declareTopology(ch: Channel, t: TopologyNames): Promise<void> {
  await ch.assertExchange(t.exchange, 'direct', { durable: true });
  await ch.assertExchange(parkingExchange(t), 'fanout', { durable: true });
  await assertQueue(ch, t, parkingQueue(t), parkingArguments(t));
  await ch.bindQueue(parkingQueue(t), parkingExchange(t), '');
  await assertQueue(ch, t, t.queue, mailQueueArguments(t));
  await ch.bindQueue(t.queue, t.exchange, t.routingKey);
  if (t.checkDelayMs === undefined) return;
  // Published to through the default exchange (routing key = queue name), with confirms and mandatory like the mails.
  for (const q of [checkQueue(t), confirmQueue(t), resendQueue(t)]) await assertQueue(ch, t, q, parkingArguments(t));
  await assertQueue(ch, t, checkDelayQueue(t), {
    ...parkingArguments(t),
    'x-message-ttl': t.checkDelayMs,
    'x-dead-letter-exchange': '',
    'x-dead-letter-routing-key': checkQueue(t),
    // a quorum queue dead-letters at least once only with reject-publish (RabbitMQ 3.10+); a classic one at most once
    ...(queueTypeOf(t) === 'quorum' ? { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' } : {}),
  });
}

async function assertQueue(ch: Channel, t: TopologyNames, queue: string, args: Record<string, unknown>): Promise<void> {
  try {
    await ch.assertQueue(queue, { durable: true, arguments: args });
  } catch (err) {
    throw isInequivalent(err) ? new QueueTypeMismatchError(queue, queueTypeOf(t)) : err;
  }
}

/** Declares the topology once on a connection of its own: at start, a queue of the wrong type fails by name. */
export async function checkTopology(amqpUrl: string, t: TopologyNames): Promise<void> {
  const { model } = await connectAny(amqpUrl);
  model.on('error', () => undefined);
  try {
    const ch = await model.createChannel();
    ch.on('error', () => undefined);
    await declareTopology(ch, t);
  } finally {
    await model.close().catch(() => undefined);
  }
}

/** Deletes the queues and exchanges of `t` (tests and the benchmark clean up after themselves); missing ones are fine. */
export async function deleteTopology(amqpUrl: string, t: TopologyNames): Promise<void> {
  const { model } = await connectAny(amqpUrl);
  model.on('error', () => undefined);
  try {
    // a failed delete closes its channel, so queues and exchanges get one each
    const ch = await model.createChannel();
    ch.on('error', () => undefined);
    for (const q of [t.queue, parkingQueue(t), ...schemeQueues(t)]) await ch.deleteQueue(q).catch(() => undefined);
    const ch2 = await model.createChannel();
    ch2.on('error', () => undefined);
    for (const e of [t.exchange, parkingExchange(t)]) await ch2.deleteExchange(e).catch(() => undefined);
  } finally {
    await model.close().catch(() => undefined);
  }
}
