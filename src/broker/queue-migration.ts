// `npm run queue:migrate`: gives the mail queue and its parking queue the type MQ_QUEUE_TYPE names (classic ->
// quorum, or back), moving their messages over without losing or doubling any. RabbitMQ cannot change a queue's type
// in place, so each queue Q goes through a temporary queue T of the new type:
//   1. T is declared; Q's binding is removed first and T's added second, so a publish in between is returned to its
//      publisher (mandatory) instead of landing in both; the app counts a returned publish as failed and the
//      re-delivery job publishes it again.
//   2. Q's messages move to T one at a time: get, publish to T, wait for the confirm, ack. A crash loses nothing and
//      can double at most the one message in hand (which the listener's claim makes harmless).
//   3. Q is deleted (only when nothing consumes it and it is empty) and declared again with the new type; the
//      bindings move back the same way (T's removed first), T's messages move to Q, and T is deleted.
// Stop the listeners first (a queue with consumers is not deleted); the API may keep running. Running it again after
// an interruption continues where it stopped.
import type { Channel, ConfirmChannel, GetMessage } from 'amqplib';
import { TUNING } from '../tuning';
import { connectAny } from './amqp-urls';
import { declareTopology, mailQueueArguments, parkingExchange, parkingQueue, queueTypeOf, type TopologyNames } from './topology';

export interface QueueMigrationReport {
  queue: string;
  /** false when the queue already had the wanted type */
  migrated: boolean;
  moved: number;
}

interface QueueSpec {
  queue: string;
  exchange: string;
  routingKey: string;
  args: Record<string, unknown>;
}

export async function migrateQueues(amqpUrl: string, t: TopologyNames, log: (line: string) => void = () => undefined): Promise<QueueMigrationReport[]> {
  const { model } = await connectAny(amqpUrl, `mail-dispatch queue:migrate pid ${process.pid}`);
  model.on('error', () => undefined); // a lost connection rejects the operation in progress: that is what is reported
  try {
    const specs: QueueSpec[] = [
      { queue: parkingQueue(t), exchange: parkingExchange(t), routingKey: '', args: queueTypeOf(t) === 'quorum' ? { 'x-queue-type': 'quorum' } : {} },
      { queue: t.queue, exchange: t.exchange, routingKey: t.routingKey, args: mailQueueArguments(t) },
    ];
    const reports: QueueMigrationReport[] = [];
    // A refusal closes a channel and rejects the operation that caused it: that rejection is what is reported.
    const ch = await model.createChannel();
    ch.on('error', () => undefined);
    const confirms = await model.createConfirmChannel();
    confirms.on('error', () => undefined);
    for (const spec of specs) {
      // exchanges first: a queue that must move still has to be bound to something
      await ch.assertExchange(t.exchange, 'direct', { durable: true });
      await ch.assertExchange(parkingExchange(t), 'fanout', { durable: true });
      reports.push(await migrateOne(model, ch, confirms, spec, t, log));
    }
    // Everything declared as the app declares it: a mismatch left anywhere fails here, by name.
    await declareTopology(ch, t);
    return reports;
  } finally {
    await model.close().catch(() => undefined);
  }
}

type Model = Awaited<ReturnType<typeof connectAny>>['model'];

async function migrateOne(model: Model, ch: Channel, confirms: ConfirmChannel, spec: QueueSpec, t: TopologyNames, log: (line: string) => void): Promise<QueueMigrationReport> {
  const temp = `${spec.queue}.migrating`;
  const tempArgs = queueTypeOf(t) === 'quorum' ? { 'x-queue-type': 'quorum' } : {};
  const tempLeft = await exists(model, temp);
  if (!tempLeft && (await hasWantedType(model, spec))) return { queue: spec.queue, migrated: false, moved: 0 };
  log(`${spec.queue}: moving to a ${queueTypeOf(t)} queue through ${temp}`);
  await ch.assertQueue(temp, { durable: true, arguments: tempArgs });
  let moved = 0;
  if (!(await hasWantedType(model, spec))) {
    await ch.unbindQueue(spec.queue, spec.exchange, spec.routingKey);
    await ch.bindQueue(temp, spec.exchange, spec.routingKey);
    moved += await moveAll(ch, confirms, spec.queue, temp);
    await deleteDrained(ch, spec.queue);
  }
  await ch.assertQueue(spec.queue, { durable: true, arguments: spec.args });
  await ch.unbindQueue(temp, spec.exchange, spec.routingKey);
  await ch.bindQueue(spec.queue, spec.exchange, spec.routingKey);
  const back = await moveAll(ch, confirms, temp, spec.queue);
  await deleteDrained(ch, temp);
  log(`${spec.queue}: ${back} messages moved; it is a ${queueTypeOf(t)} queue now`);
  return { queue: spec.queue, migrated: true, moved: Math.max(moved, back) };
}

/**
 * Moves every ready message of `from` to `to`, a batch at a time: taken, published, confirmed, then acked. A batch
 * is what an interruption can double (one at a time costs a confirm round per message: 60 ms each on a quorum queue).
 */
async function moveAll(ch: Channel, confirms: ConfirmChannel, from: string, to: string): Promise<number> {
  let moved = 0;
  for (;;) {
    const batch: GetMessage[] = [];
    for (let m = await ch.get(from, { noAck: false }); m; m = batch.length < TUNING.queueMigrationBatch ? await ch.get(from, { noAck: false }) : false) batch.push(m);
    if (!batch.length) return moved;
    let returned = 0;
    const onReturn = () => returned++;
    confirms.on('return', onReturn);
    await Promise.all(batch.map((m) => publishCopy(confirms, to, m))).finally(() => confirms.removeListener('return', onReturn));
    // a copy that reached no queue is not acked away: its original goes back to `from`
    if (returned) throw new Error(`${returned} copies reached no queue: ${to} is missing; nothing was acked, run queue:migrate again`);
    ch.ack(batch[batch.length - 1]!, true);
    moved += batch.length;
  }
}

/** Resolves once the broker confirmed the copy (mandatory: a copy that reached no queue is also returned). */
function publishCopy(confirms: ConfirmChannel, queue: string, msg: GetMessage): Promise<void> {
  const p = msg.properties;
  return new Promise<void>((resolve, reject) =>
    confirms.publish(
      '',
      queue,
      msg.content,
      {
        persistent: true,
        contentType: p.contentType,
        contentEncoding: p.contentEncoding,
        headers: p.headers,
        messageId: p.messageId,
        correlationId: p.correlationId,
        timestamp: p.timestamp,
        type: p.type,
        appId: p.appId,
        mandatory: true,
      },
      (err) => (err ? reject(err) : resolve()),
    ),
  );
}

/**
 * Deletes a queue that is unbound, drained and consumed by no one. Quorum queues refuse the if-empty and if-unused
 * flags, so the counts are read first: unbound, it can gain no message in between.
 */
async function deleteDrained(ch: Channel, queue: string): Promise<void> {
  const { messageCount, consumerCount } = await ch.checkQueue(queue);
  if (consumerCount > 0 || messageCount > 0) {
    throw new Error(`${queue} still has ${consumerCount} consumers and ${messageCount} messages: stop the listeners that consume it and run queue:migrate again`);
  }
  await ch.deleteQueue(queue);
}

/** Whether the queue exists and takes this declaration as it is (a channel of its own: a refusal closes it). */
async function hasWantedType(model: Model, spec: QueueSpec): Promise<boolean> {
  const ch = await model.createChannel();
  ch.on('error', () => undefined);
  try {
    await ch.checkQueue(spec.queue);
  } catch {
    return true; // absent: declared with the wanted type below
  }
  try {
    await ch.assertQueue(spec.queue, { durable: true, arguments: spec.args });
    await ch.close();
    return true;
  } catch (err) {
    if ((err as { code?: number }).code === 406) return false;
    throw err;
  }
}

async function exists(model: Model, queue: string): Promise<boolean> {
  const ch = await model.createChannel();
  ch.on('error', () => undefined);
  try {
    await ch.checkQueue(queue);
    await ch.close();
    return true;
  } catch {
    return false;
  }
}
