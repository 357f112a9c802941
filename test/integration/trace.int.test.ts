// `npm run trace` against the real broker (127.0.0.1:5672, guest): the firehose turned on, one message followed
// from its publish to its delivery, and tracing off again afterwards unless it was on before. Names are the test's
// own (uniqueName); the tracer's queue is server-named, exclusive and gone with its connection.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { defaultCtlCommand, makeCtl, runTrace, startTrace, tracingOn, type TraceSession } from '../../scripts/trace';
import { hasRabbitmqctl } from '../support/rabbit';
import { AMQP_URL, uniqueName } from '../support/services';
import { waitFor } from '../support/wait';

const ctl = makeCtl(defaultCtlCommand());
const VHOST = '/';
const d = hasRabbitmqctl ? describe : describe.skip;
if (!hasRabbitmqctl) console.warn('trace.int.test.ts skipped: rabbitmqctl does not answer on this machine');

d('npm run trace (firehose) against the real broker', () => {
  const base = uniqueName('mdtest_trace');
  const exchange = `${base}.exchange`;
  const queue = `${base}.queue`;
  const routingKey = `${base}.key`;
  let pub: ChannelModel;
  let ch: ConfirmChannel;
  let consumer: ChannelModel;
  let wasOnBefore: boolean;

  beforeAll(async () => {
    wasOnBefore = await tracingOn(ctl, VHOST);
    pub = await connect(AMQP_URL, { clientProperties: { connection_name: `${base} publisher` } });
    ch = await pub.createConfirmChannel();
    await ch.assertExchange(exchange, 'direct', { durable: false, autoDelete: false });
    await ch.assertQueue(queue, { durable: true });
    await ch.bindQueue(queue, exchange, routingKey);
    consumer = await connect(AMQP_URL, { clientProperties: { connection_name: `${base} consumer` } });
  });

  afterAll(async () => {
    await ch?.deleteQueue(queue).catch(() => undefined);
    await ch?.deleteExchange(exchange).catch(() => undefined);
    await pub?.close().catch(() => undefined);
    await consumer?.close().catch(() => undefined);
  });

  const publish = async (msgId: string) => {
    ch.publish(exchange, routingKey, Buffer.from(JSON.stringify({ msgId })), { persistent: true, mandatory: true, messageId: msgId, correlationId: msgId });
    await ch.waitForConfirms();
  };

  /** consumes one message from the test queue and acks it, on the connection named "<base> consumer" */
  const consumeOne = async (): Promise<string> => {
    const c = await consumer.createChannel();
    try {
      return await new Promise<string>((resolve) => {
        void c.consume(queue, (m) => {
          if (!m) return;
          c.ack(m);
          resolve(String(m.properties.messageId));
        });
      });
    } finally {
      await c.close().catch(() => undefined);
    }
  };

  it('shows the publish (routed to the queue) and the delivery, then turns tracing off again', async () => {
    const msgId = uniqueName('msg');
    const lines: string[] = [];
    let session: TraceSession | null = null;
    try {
      session = await startTrace({ amqpUrl: AMQP_URL, vhost: VHOST, ctl, msgId, onLine: (l) => lines.push(l) });
      expect(session.nodes.length).toBeGreaterThanOrEqual(1);
      if (!wasOnBefore) expect(session.turnedOn).toEqual(session.nodes);
      expect(await tracingOn(ctl, VHOST)).toBe(true);

      await publish(uniqueName('someone-else')); // another message on the same queue: not in the timeline
      await consumeOne();
      await publish(msgId);
      expect(await consumeOne()).toBe(msgId);
      await waitFor('the publish and deliver lines', () => lines.length >= 2, 20_000);
    } finally {
      await session?.stop();
    }
    expect(lines).toHaveLength(2);
    const [publishLine, deliverLine] = lines as [string, string];
    expect(publishLine).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} +\\+0 ms  publish  to exchange ${exchange.replace(/\./g, '\\.')} with routing key ${routingKey.replace(/\./g, '\\.')} → routed to \\[${queue.replace(/\./g, '\\.')}\\]`));
    expect(publishLine).toContain(`"${base} publisher"`);
    expect(publishLine).toMatch(/node rabbit@\S+, user guest/);
    expect(deliverLine).toMatch(/\+\d[\d,]* ms  deliver  from queue /);
    expect(deliverLine).toContain(`from queue ${queue} to a consumer on connection "${base} consumer"`);
    expect(deliverLine).toContain('first delivery');
    // off again, unless it was on before this test
    expect(await tracingOn(ctl, VHOST)).toBe(wasOnBefore);
  });

  it('reads a running trace: tracing that was on stays on', async () => {
    if (!wasOnBefore) await ctl('trace_on', '-p', VHOST);
    try {
      const lines: string[] = [];
      const msgId = uniqueName('msg');
      const session = await startTrace({ amqpUrl: AMQP_URL, vhost: VHOST, ctl, msgId, onLine: (l) => lines.push(l) });
      try {
        expect(session.turnedOn).toEqual([]);
        expect(session.alreadyOn).toEqual(session.nodes);
        await publish(msgId);
        await consumeOne();
        await waitFor('the publish and deliver lines', () => lines.length >= 2, 20_000);
      } finally {
        await session.stop();
      }
      expect(await tracingOn(ctl, VHOST)).toBe(true);
    } finally {
      if (!wasOnBefore) await ctl('trace_off', '-p', VHOST);
    }
    expect(await tracingOn(ctl, VHOST)).toBe(wasOnBefore);
  });

  it('--send through an API: follows the mail it sent, reads its status, and stops once it is final', async () => {
    // a stand-in for the app: POST /mail/send publishes (before it answers, as the app may), GET /mail/:id says
    // "delivered" until the test consumed the message, then "consumed"
    const msgId = uniqueName('sent');
    let consumed = false;
    const server: Server = createServer((req, res) => {
      void (async () => {
        res.setHeader('content-type', 'application/json');
        if (req.method === 'POST' && req.url === '/mail/send') {
          await publish(msgId);
          res.statusCode = 202;
          res.end(JSON.stringify({ msgId, status: 'sending' }));
          setTimeout(() => void consumeOne().then(() => (consumed = true)), 300);
        } else if (req.method === 'GET' && req.url === `/mail/${msgId}`) {
          res.end(JSON.stringify({ msgId, status: consumed ? 'consumed' : 'delivered', tryCount: 0, maxTries: 8, recipients: [{ address: 'a@example.com', state: consumed ? 'accepted' : 'pending' }] }));
        } else {
          res.statusCode = 404;
          res.end('{}');
        }
      })();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const out: string[] = [];
    const started = Date.now();
    try {
      const code = await runTrace({ send: 'a@example.com', api, seconds: 60, amqpUrl: AMQP_URL, vhost: VHOST, ctlCommand: defaultCtlCommand(), pollMs: 200, out: (l) => out.push(l) });
      expect(code).toBe(0);
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(Date.now() - started).toBeLessThan(45_000); // stopped at the final status, not after --seconds
    const text = out.join('\n');
    expect(text).toContain(`# sent one mail to a@example.com through ${api}: msgId ${msgId}`);
    expect(text).toMatch(new RegExp(`publish  to exchange ${exchange.replace(/\./g, '\\.')} .*→ routed to \\[`));
    expect(text).toMatch(/deliver  from queue .* first delivery/);
    expect(text).toMatch(/app      status consumed \(final\) · try count 0 of 8 · a@example\.com accepted/);
    expect(text).not.toContain('acks are not traced');
    if (!wasOnBefore) expect(out.at(-1)).toMatch(/^# tracing turned off on rabbit@/);
    expect(await tracingOn(ctl, VHOST)).toBe(wasOnBefore);
  });
});
