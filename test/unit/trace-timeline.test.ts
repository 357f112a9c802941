// The pure part of `npm run trace` (scripts/trace-timeline.ts) on firehose events as RabbitMQ 3.10 sent them
// (recorded with amqplib from amq.rabbitmq.trace: a routed publish, an unroutable one, a delivery and its redelivery).
import {
  clock,
  connectionNamesFromCtl,
  formatEntry,
  formatStatus,
  matchEvent,
  messageIdOf,
  parseEvent,
  runningNodesFromCtl,
  Timeline,
  tracingFromCtl,
  type FirehoseEvent,
} from '../../scripts/trace-timeline';

const T0 = Date.UTC(2026, 11, 1, 17, 20, 26, 255);

const props = { timestamp: 1700000000, message_id: 'M1', correlation_id: 'M1', delivery_mode: 2, headers: { 'x-a': 1 }, content_type: 'application/json' };

/** publish.<exchange>: routed to one queue */
const publishRouted: FirehoseEvent = {
  routingKey: 'publish.mail.exchange',
  receivedAt: T0,
  headers: {
    exchange_name: 'mail.exchange',
    routing_keys: ['mail.routing.key'],
    properties: props,
    node: 'rabbit@rabbit1',
    vhost: '/',
    connection: '172.18.0.6:47768 -> 172.18.0.2:5672',
    channel: 1,
    user: 'mail',
    routed_queues: ['mail.queue'],
  },
};

/** the same mail misrouted: routed_queues empty */
const publishUnroutable: FirehoseEvent = {
  routingKey: 'publish.mail.exchange',
  receivedAt: T0 + 5,
  headers: { ...publishRouted.headers, routing_keys: ['wrong.key'], routed_queues: [] },
};

/** deliver.<queue>: no exchange_name-specific routing key part, redelivered as an integer */
const deliver = (redelivered: 0 | 1, at: number): FirehoseEvent => ({
  routingKey: 'deliver.mail.queue',
  receivedAt: at,
  headers: {
    exchange_name: 'mail.exchange',
    routing_keys: ['mail.routing.key'],
    properties: props,
    node: 'rabbit@rabbit2',
    redelivered,
    vhost: '/',
    connection: '172.18.0.7:47780 -> 172.18.0.3:5672',
    channel: 2,
    user: 'mail',
  },
});

/** a message of someone else's, on the default exchange, with no properties at all */
const other: FirehoseEvent = {
  routingKey: 'publish.',
  receivedAt: T0 + 1,
  headers: { exchange_name: '', routing_keys: ['some.queue'], properties: {}, node: 'rabbit@rabbit1', routed_queues: ['some.queue'] },
};

describe('matching firehose events to one mail', () => {
  it('reads the message_id property, as a string or as bytes', () => {
    expect(messageIdOf(publishRouted.headers)).toBe('M1');
    expect(messageIdOf({ properties: { message_id: Buffer.from('382443224270721024') } })).toBe('382443224270721024');
    expect(messageIdOf(other.headers)).toBeUndefined();
    expect(messageIdOf({})).toBeUndefined();
  });

  it('keeps only the events whose message_id is the msgId (not the correlation id, not a prefix)', () => {
    expect(matchEvent(publishRouted, 'M1')).not.toBeNull();
    expect(matchEvent(publishRouted, 'M')).toBeNull();
    expect(matchEvent(other, 'M1')).toBeNull();
    expect(matchEvent({ ...publishRouted, headers: { ...publishRouted.headers, properties: { correlation_id: 'M1' } } }, 'M1')).toBeNull();
  });

  it('parses a publish: exchange, routing keys, routed queues, node, connection, channel, user', () => {
    expect(parseEvent(publishRouted)).toEqual({
      kind: 'publish',
      at: T0,
      messageId: 'M1',
      exchange: 'mail.exchange',
      routingKeys: ['mail.routing.key'],
      routedQueues: ['mail.queue'],
      node: 'rabbit@rabbit1',
      vhost: '/',
      connection: '172.18.0.6:47768 -> 172.18.0.2:5672',
      channel: 1,
      user: 'mail',
    });
  });

  it('parses a delivery: the queue from the routing key, redelivered from 0/1', () => {
    const first = parseEvent(deliver(0, T0 + 7))!;
    expect(first).toMatchObject({ kind: 'deliver', queue: 'mail.queue', redelivered: false, node: 'rabbit@rabbit2', channel: 2 });
    expect(first.routedQueues).toBeUndefined();
    expect(parseEvent(deliver(1, T0 + 9))!.redelivered).toBe(true);
  });

  it('ignores routing keys that are neither publish nor deliver', () => {
    expect(parseEvent({ ...publishRouted, routingKey: 'ack.mail.queue' })).toBeNull();
  });
});

describe('timeline lines', () => {
  const o = { firstAt: T0, utc: true };

  it('a routed publish says where it went, from which connection and node', () => {
    expect(formatEntry(parseEvent(publishRouted)!, o)).toBe(
      '17:20:26.255       +0 ms  publish  to exchange mail.exchange with routing key mail.routing.key → routed to [mail.queue]' +
        ' · from connection 172.18.0.6:47768 -> 172.18.0.2:5672 channel 1 · node rabbit@rabbit1, user mail',
    );
  });

  it('an unroutable publish says so', () => {
    expect(formatEntry(parseEvent(publishUnroutable)!, o)).toContain(
      '+5 ms  publish  to exchange mail.exchange with routing key wrong.key → routed to no queue (unroutable: returned to a mandatory publisher, else dropped)',
    );
  });

  it('the default exchange is named as such', () => {
    expect(formatEntry(parseEvent(other)!, o)).toContain('to exchange (default exchange) with routing key some.queue → routed to [some.queue]');
  });

  it('a delivery names the queue, the consumer connection by its connection_name when known, and the redelivered flag', () => {
    const names = new Map([['172.18.0.7:47780 -> 172.18.0.3:5672', 'mail-dispatch listener app2']]);
    expect(formatEntry(parseEvent(deliver(0, T0 + 1234))!, { ...o, connectionNames: names })).toBe(
      '17:20:27.489   +1,234 ms  deliver  from queue mail.queue to a consumer on connection "mail-dispatch listener app2"' +
        ' (172.18.0.7:47780 -> 172.18.0.3:5672) channel 2 · node rabbit@rabbit2, user mail · first delivery',
    );
    expect(formatEntry(parseEvent(deliver(1, T0 + 2000))!, o)).toMatch(/REDELIVERED \(an earlier delivery was not acked\)$/);
  });

  it('the app status line: final, or the next try and the error', () => {
    expect(formatStatus({ msgId: 'M1', status: 'consumed', tryCount: 0, maxTries: 8, recipients: [{ address: 'a@example.com', state: 'accepted' }] }, T0 + 80, o)).toBe(
      '17:20:26.335      +80 ms  app      status consumed (final) · try count 0 of 8 · a@example.com accepted',
    );
    expect(
      formatStatus(
        { msgId: 'M1', status: 'consume_failed', tryCount: 1, maxTries: 8, nextTryTime: '2026-12-01T17:20:56.000Z', lastError: 'SMTP answered 451' },
        T0 + 90,
        o,
      ),
    ).toContain('app      status consume_failed · try count 1 of 8 · next try at 17:20:56.000 · last error: SMTP answered 451');
    // sending: its next_try_time is only the job's deadline for a confirm, not a try
    expect(formatStatus({ msgId: 'M1', status: 'sending', tryCount: 0, maxTries: 8, nextTryTime: '2026-12-01T17:22:26.000Z' }, T0 + 5, o)).toBe(
      '17:20:26.260       +5 ms  app      status sending · try count 0 of 8',
    );
  });

  it('clock pads hours, minutes, seconds and milliseconds', () => {
    expect(clock(Date.UTC(2026, 0, 2, 3, 4, 5, 6), true)).toBe('03:04:05.006');
  });
});

describe('Timeline', () => {
  it('keeps the mail events in order, counts from the first line, and knows when the mail was delivered', () => {
    const tl = new Timeline('M1', true);
    expect(tl.add(other)).toBeNull();
    const p = tl.add(publishRouted)!;
    expect(tl.published).toBe(true);
    expect(tl.delivered).toBe(false);
    const d = tl.add(deliver(0, T0 + 40))!;
    expect(tl.delivered).toBe(true);
    expect(tl.line(p)).toContain('      +0 ms  publish');
    expect(tl.line(d)).toContain('     +40 ms  deliver');
    expect(tl.entries.map((e) => e.kind)).toEqual(['publish', 'deliver']);
  });

  it('prints a status line only when the status or the try count changes', () => {
    const tl = new Timeline('M1', true);
    expect(tl.statusLine({ msgId: 'M1', status: 'sending', tryCount: 0 }, T0)).toContain('status sending');
    expect(tl.statusLine({ msgId: 'M1', status: 'sending', tryCount: 0 }, T0 + 500)).toBeNull();
    expect(tl.statusLine({ msgId: 'M1', status: 'delivered', tryCount: 0 }, T0 + 1000)).toContain('+1,000 ms  app      status delivered');
    expect(tl.statusLine({ msgId: 'M1', status: 'consume_failed', tryCount: 1 }, T0 + 1500)).toContain('status consume_failed');
  });

  it('lists the connections whose user-provided names are not known yet', () => {
    const tl = new Timeline('M1', true);
    tl.add(publishRouted);
    tl.add(deliver(0, T0 + 1));
    tl.connectionNames.set('172.18.0.6:47768 -> 172.18.0.2:5672', 'mail-dispatch api app1');
    expect(tl.unnamedConnections()).toEqual(['172.18.0.7:47780 -> 172.18.0.3:5672']);
  });
});

describe('rabbitmqctl answers', () => {
  it('connection names from list_connections name client_properties --formatter json', () => {
    const json = `[
{"name":"127.0.0.1:55844 -> 127.0.0.1:5672","client_properties":[["product","longstr","amqplib"],["capabilities","table",[["publisher_confirms","bool",true]]]]}
,{"name":"127.0.0.1:33164 -> 127.0.0.1:5672","client_properties":[["connection_name","longstr","held-conn"],["product","longstr","amqplib"]]}
]`;
    expect([...connectionNamesFromCtl(json)]).toEqual([['127.0.0.1:33164 -> 127.0.0.1:5672', 'held-conn']]);
    expect(connectionNamesFromCtl('not json').size).toBe(0);
  });

  it('running nodes from cluster_status --formatter json', () => {
    expect(runningNodesFromCtl('{"running_nodes":["rabbit@rabbit1","rabbit@rabbit2","rabbit@rabbit3"],"disk_nodes":[]}')).toEqual(['rabbit@rabbit1', 'rabbit@rabbit2', 'rabbit@rabbit3']);
    expect(() => runningNodesFromCtl('{"running_nodes":[]}')).toThrow(/no running node/);
  });

  it('tracing of one vhost from list_vhosts name tracing --formatter json', () => {
    const json = '[\n{"name":"/","tracing":false}\n,{"name":"other","tracing":true}\n]';
    expect(tracingFromCtl(json, '/')).toBe(false);
    expect(tracingFromCtl(json, 'other')).toBe(true);
    expect(() => tracingFromCtl(json, 'missing')).toThrow(/no vhost "missing"/);
  });
});
