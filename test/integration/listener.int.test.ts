// The listener against the real broker and database: duplicates, late confirms, poison and unknown messages.
import { connect, type Channel, type ChannelModel } from 'amqplib';
import { parkingQueue } from '../../src/broker/topology';
import { encodeMailMessage } from '../../src/core/mail-message';
import { Status } from '../../src/core/status';
import { startFixture, type Fixture } from '../support/fixture';
import { AMQP_URL, rowOf } from '../support/services';
import { waitFor } from '../support/wait';

describe('the manual-ack listener', () => {
  let f: Fixture;
  let db: Fixture['db'];
  let sink: Fixture['sink'];
  let app: Fixture['app'];
  let topology: Fixture['topology'];
  let amqp: ChannelModel;
  let ch: Channel;
  let seq = 0;
  /** How many deliveries of each message body the listener has finished handling. */
  const handled = new Map<string, number>();
  const handledCount = (body: Buffer) => handled.get(body.toString()) ?? 0;

  beforeAll(async () => {
    // The listener alone: no API and no job, so every message in these tests is one the test published.
    f = await startFixture({ roles: 'listener' });
    ({ db, sink, app, topology } = f);
    const listener = app.listenerRole!.listener;
    const handle = listener.handle.bind(listener);
    listener.handle = async (body: Buffer) => {
      try {
        return await handle(body);
      } finally {
        handled.set(body.toString(), (handled.get(body.toString()) ?? 0) + 1);
      }
    };
    amqp = await connect(AMQP_URL);
    ch = await amqp.createChannel();
  });

  afterAll(async () => {
    await amqp?.close();
    await f?.stop();
  });

  /** A committed row, still `sending` as if its confirm had not arrived yet, and its message body. */
  async function storedMail(): Promise<{ msgId: string; body: Buffer }> {
    const msgId = `${Date.now()}${String(++seq).padStart(4, '0')}`;
    const msg = encodeMailMessage({ msgId, subject: `listener test ${seq}`, content: 'hello', tos: ['someone@example.com'] });
    await app.repo.insert({ msgId, msg, exchange: topology.exchange, routingKey: topology.routingKey });
    return { msgId, body: Buffer.from(msg) };
  }
  const publishRaw = (body: Buffer, msgId?: string) => ch.publish(topology.exchange, topology.routingKey, body, { persistent: true, messageId: msgId });

  test('two deliveries of the same message send the mail once', async () => {
    const { msgId, body } = await storedMail();
    publishRaw(body, msgId);
    publishRaw(body, msgId);
    publishRaw(body, msgId);
    await waitFor('consumed', async () => (await rowOf(db.pool, msgId))?.status === Status.consumed);
    await waitFor('queue drained', async () => (await ch.checkQueue(topology.queue)).messageCount === 0);
    await waitFor('all three deliveries handled', () => handledCount(body) >= 3);
    expect(sink.countFor(msgId)).toBe(1);
  });

  test('a confirm that arrives after the mail was consumed does not move it back to delivered', async () => {
    const { msgId, body } = await storedMail();
    publishRaw(body, msgId);
    await waitFor('consumed', async () => (await rowOf(db.pool, msgId))?.status === Status.consumed);
    expect(await app.repo.markDelivered([msgId], 0)).toBe(0);
    expect((await rowOf(db.pool, msgId))?.status).toBe(Status.consumed);
  });

  test('a message whose row is already dead is acked without sending', async () => {
    const { msgId, body } = await storedMail();
    await db.pool.query('UPDATE msg_log SET status = ?, next_try_time = NULL WHERE msg_id = ?', [Status.dead, msgId]);
    publishRaw(body, msgId);
    await waitFor('queue drained', async () => (await ch.checkQueue(topology.queue)).messageCount === 0);
    await waitFor('the delivery handled', () => handledCount(body) >= 1);
    expect(sink.countFor(msgId)).toBe(0);
    expect((await rowOf(db.pool, msgId))?.status).toBe(Status.dead);
  });

  test('a poison message is parked on the parking queue with its reason, not requeued', async () => {
    publishRaw(Buffer.from('this is not json'));
    const parked = await waitFor('parked message', async () => (await ch.get(parkingQueue(topology), { noAck: true })) || undefined);
    expect(parked.content.toString()).toBe('this is not json');
    expect(parked.properties.headers?.['x-park-reason']).toBe('body is not JSON');
    await waitFor('queue drained', async () => (await ch.checkQueue(topology.queue)).messageCount === 0);
  });

  test('a message for a msgId with no row is parked with its reason', async () => {
    const body = Buffer.from(encodeMailMessage({ msgId: '999999999', subject: 's', content: 'c', tos: ['a@example.com'] }));
    publishRaw(body, '999999999');
    const parked = await waitFor('parked message', async () => (await ch.get(parkingQueue(topology), { noAck: true })) || undefined);
    expect(parked.properties.headers?.['x-park-reason']).toBe('no msg_log row with this msgId');
    expect(sink.countFor('999999999')).toBe(0);
  });

  test('a row held by another listener is skipped, not sent a second time', async () => {
    const { msgId, body } = await storedMail();
    expect(await app.repo.claim(msgId, 'another-instance:1')).toBe(true);
    publishRaw(body, msgId);
    await waitFor('queue drained', async () => (await ch.checkQueue(topology.queue)).messageCount === 0);
    await waitFor('the delivery handled', () => handledCount(body) >= 1);
    expect(sink.countFor(msgId)).toBe(0);
    expect((await rowOf(db.pool, msgId))?.status).toBe(Status.sending);
  });
});
