// The pure part of `npm run trace` (scripts/trace.ts): which firehose events belong to one mail, and the timeline
// line each one becomes. No I/O here, so test/unit/trace-timeline.test.ts checks it on recorded event shapes.
//
// RabbitMQ's firehose (rabbitmqctl trace_on) copies every publish and every delivery of a vhost, on the node where it
// happens, to the topic exchange amq.rabbitmq.trace: routing key `publish.<exchange>` (the exchange the client
// published to, `publish.` alone for the default exchange) or `deliver.<queue>`, the original body, and headers:
//   exchange_name, routing_keys (the routing key and any CC/BCC), properties (the message's properties under their
//   AMQP names: message_id, correlation_id, delivery_mode, headers, ...), node, vhost, connection (the broker's name
//   for the connection, "client-ip:port -> server-ip:port"), channel, user; routed_queues on a publish (the queues the
//   message went to: empty when unroutable); redelivered (0 or 1) on a delivery.
// Acknowledgements are not traced: what the consumer did with a delivery is read from the app (GET /mail/:msgId).

/** One message from amq.rabbitmq.trace, as the tracer received it. */
export interface FirehoseEvent {
  /** the trace message's routing key: `publish.<exchange>` or `deliver.<queue>` */
  routingKey: string;
  /** the trace message's headers (AMQP table, as amqplib decodes it) */
  headers: Record<string, unknown>;
  /** when the tracer received it (ms since the epoch): the firehose carries no time of its own */
  receivedAt: number;
}

export interface TraceEntry {
  kind: 'publish' | 'deliver';
  at: number;
  messageId: string;
  /** the exchange the message was published to ('' is the default exchange) */
  exchange: string;
  routingKeys: string[];
  /** publish: the queues it was routed to (empty: unroutable) */
  routedQueues?: string[];
  /** deliver: the queue it was delivered from */
  queue?: string;
  redelivered?: boolean;
  node?: string;
  vhost?: string;
  /** the broker's name of the connection ("client -> server") */
  connection?: string;
  channel?: number;
  user?: string;
}

/** The mail's row as GET /mail/:msgId answers it (the fields the timeline uses). */
export interface MailStatus {
  msgId: string;
  status: string;
  statusCode?: number;
  tryCount?: number;
  maxTries?: number;
  nextTryTime?: string | null;
  lastError?: string | null;
  recipients?: { address: string; state: string }[];
}

const FINAL_STATUSES = new Set(['consumed', 'dead']);
export const isFinalStatus = (status: string): boolean => FINAL_STATUSES.has(status);
const RETRYING = new Set(['delivery_failed', 'consume_failed']);

/** amqplib gives table strings as strings, byte arrays as Buffers; either way, text. */
function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return undefined;
}

const texts = (v: unknown): string[] => (Array.isArray(v) ? v.map(text).filter((s): s is string => s !== undefined) : []);

function num(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  // amqplib decodes some integer types as {'!': type, value}
  if (v && typeof v === 'object' && 'value' in v) return num((v as { value: unknown }).value);
  return undefined;
}

/** The message_id property of the traced message, if it has one. */
export function messageIdOf(headers: Record<string, unknown>): string | undefined {
  const props = headers.properties;
  if (!props || typeof props !== 'object') return undefined;
  return text((props as Record<string, unknown>).message_id);
}

/** A firehose event as a timeline entry; null for anything that is not a publish or a delivery. */
export function parseEvent(ev: FirehoseEvent): TraceEntry | null {
  const dot = ev.routingKey.indexOf('.');
  const kind = dot < 0 ? ev.routingKey : ev.routingKey.slice(0, dot);
  if (kind !== 'publish' && kind !== 'deliver') return null;
  const rest = dot < 0 ? '' : ev.routingKey.slice(dot + 1);
  const h = ev.headers;
  const entry: TraceEntry = {
    kind,
    at: ev.receivedAt,
    messageId: messageIdOf(h) ?? '',
    exchange: text(h.exchange_name) ?? (kind === 'publish' ? rest : ''),
    routingKeys: texts(h.routing_keys),
    node: text(h.node),
    vhost: text(h.vhost),
    connection: text(h.connection),
    channel: num(h.channel),
    user: text(h.user),
  };
  if (kind === 'publish') entry.routedQueues = texts(h.routed_queues);
  else {
    entry.queue = rest;
    entry.redelivered = (num(h.redelivered) ?? 0) !== 0 || h.redelivered === true;
  }
  return entry;
}

/** The entry of an event that belongs to the mail `msgId` (its message_id property), else null. */
export function matchEvent(ev: FirehoseEvent, msgId: string): TraceEntry | null {
  if (messageIdOf(ev.headers) !== msgId) return null;
  return parseEvent(ev);
}

export interface FormatOptions {
  /** the time of the timeline's first line: "+ms" counts from it */
  firstAt: number;
  /** user-provided connection names (client property connection_name) by the broker's connection name */
  connectionNames?: ReadonlyMap<string, string>;
  /** print times in UTC instead of local time (tests) */
  utc?: boolean;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** hh:mm:ss.mmm */
export function clock(ms: number, utc = false): string {
  const d = new Date(ms);
  return utc
    ? `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`
    : `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** "12:00:01.250   +250 ms  " — the two columns every line starts with */
function prefix(at: number, o: FormatOptions): string {
  const since = Math.max(0, at - o.firstAt);
  return `${clock(at, o.utc)} ${`+${since.toLocaleString('en-US')} ms`.padStart(11)}  `;
}

const exchangeName = (x: string) => (x === '' ? '(default exchange)' : x);

function connectionText(e: TraceEntry, names?: ReadonlyMap<string, string>): string {
  if (!e.connection) return '';
  const named = names?.get(e.connection);
  const ch = e.channel !== undefined ? ` channel ${e.channel}` : '';
  return named ? `"${named}" (${e.connection})${ch}` : `${e.connection}${ch}`;
}

/** One timeline line for a traced publish or delivery. */
export function formatEntry(e: TraceEntry, o: FormatOptions): string {
  const where = [e.node && `node ${e.node}`, e.user && `user ${e.user}`].filter(Boolean).join(', ');
  const conn = connectionText(e, o.connectionNames);
  if (e.kind === 'publish') {
    const keys = e.routingKeys.length === 1 ? `routing key ${e.routingKeys[0]}` : `routing keys ${e.routingKeys.join(', ') || '(none)'}`;
    const routed =
      e.routedQueues && e.routedQueues.length > 0
        ? `routed to [${e.routedQueues.join(', ')}]`
        : 'routed to no queue (unroutable: returned to a mandatory publisher, else dropped)';
    return `${prefix(e.at, o)}publish  to exchange ${exchangeName(e.exchange)} with ${keys} → ${routed}` +
      `${conn ? ` · from connection ${conn}` : ''}${where ? ` · ${where}` : ''}`;
  }
  return `${prefix(e.at, o)}deliver  from queue ${e.queue} to a consumer${conn ? ` on connection ${conn}` : ''}` +
    `${where ? ` · ${where}` : ''} · ${e.redelivered ? 'REDELIVERED (an earlier delivery was not acked)' : 'first delivery'}`;
}

/** One timeline line for the mail's status as the app reports it (acks are not in the firehose: this is how we know). */
export function formatStatus(s: MailStatus, at: number, o: FormatOptions): string {
  const parts = [`status ${s.status}${isFinalStatus(s.status) ? ' (final)' : ''}`];
  if (s.tryCount !== undefined) parts.push(`try count ${s.tryCount}${s.maxTries !== undefined ? ` of ${s.maxTries}` : ''}`);
  // a failed try waits for the job until then (for sending and delivered it is only the job's deadline)
  if (RETRYING.has(s.status) && s.nextTryTime) parts.push(`next try at ${clock(Date.parse(s.nextTryTime), o.utc)}`);
  if (s.lastError) parts.push(`last error: ${s.lastError}`);
  if (s.recipients && s.recipients.length > 0) parts.push(s.recipients.map((r) => `${r.address} ${r.state}`).join(', '));
  return `${prefix(at, o)}app      ${parts.join(' · ')}`;
}

/** A line the tracer itself says (setup, notes), in the same columns. */
export function formatNote(note: string, at: number, o: FormatOptions): string {
  return `${prefix(at, o)}note     ${note}`;
}

/**
 * The timeline of one mail: feed it every firehose event (and the app's status when it changes); it keeps the
 * matching entries and says whether the mail has been delivered.
 */
export class Timeline {
  readonly entries: TraceEntry[] = [];
  private firstAt: number | null = null;
  private lastStatus: string | null = null;
  readonly connectionNames = new Map<string, string>();

  constructor(
    readonly msgId: string,
    private readonly utc = false,
  ) {}

  private opts(at: number): FormatOptions {
    if (this.firstAt === null) this.firstAt = at;
    return { firstAt: this.firstAt, connectionNames: this.connectionNames, utc: this.utc };
  }

  /** The entry for an event of this mail (and records it), or null when the event is another message's. */
  add(ev: FirehoseEvent): TraceEntry | null {
    const e = matchEvent(ev, this.msgId);
    if (e) this.entries.push(e);
    return e;
  }

  line(e: TraceEntry): string {
    return formatEntry(e, this.opts(e.at));
  }

  /** A status line when the status differs from the last one seen, else null. */
  statusLine(s: MailStatus, at: number): string | null {
    const key = `${s.status}/${s.tryCount ?? ''}`;
    if (key === this.lastStatus) return null;
    this.lastStatus = key;
    return formatStatus(s, at, this.opts(at));
  }

  note(text: string, at: number): string {
    return formatNote(text, at, this.opts(at));
  }

  get published(): boolean {
    return this.entries.some((e) => e.kind === 'publish');
  }

  get delivered(): boolean {
    return this.entries.some((e) => e.kind === 'deliver');
  }

  /** Connections named in the entries whose user-provided name is not known yet. */
  unnamedConnections(): string[] {
    return [...new Set(this.entries.map((e) => e.connection).filter((c): c is string => !!c && !this.connectionNames.has(c)))];
  }
}

/**
 * The user-provided connection names (client property connection_name) by connection name, from
 * `rabbitmqctl list_connections name client_properties --formatter json`. Connections without one are left out.
 */
export function connectionNamesFromCtl(json: string): Map<string, string> {
  const out = new Map<string, string>();
  let rows: unknown;
  try {
    rows = JSON.parse(json);
  } catch {
    return out;
  }
  if (!Array.isArray(rows)) return out;
  for (const row of rows as { name?: unknown; client_properties?: unknown }[]) {
    if (typeof row?.name !== 'string' || !Array.isArray(row.client_properties)) continue;
    // client_properties: [[key, type, value], ...]
    const entry = (row.client_properties as unknown[][]).find((p) => Array.isArray(p) && p[0] === 'connection_name');
    if (entry && typeof entry[2] === 'string') out.set(row.name, entry[2]);
  }
  return out;
}

/** The running nodes of a cluster, from `rabbitmqctl cluster_status --formatter json`. */
export function runningNodesFromCtl(json: string): string[] {
  const s = JSON.parse(json) as { running_nodes?: unknown };
  if (!Array.isArray(s.running_nodes) || s.running_nodes.length === 0) throw new Error('cluster_status names no running node');
  return s.running_nodes.map(String);
}

/** Whether tracing is on for `vhost`, from `rabbitmqctl list_vhosts name tracing --formatter json` (one node's view). */
export function tracingFromCtl(json: string, vhost: string): boolean {
  const rows = JSON.parse(json) as { name?: unknown; tracing?: unknown }[];
  const row = rows.find((r) => r.name === vhost);
  if (!row) throw new Error(`no vhost ${JSON.stringify(vhost)} on the broker`);
  return row.tracing === true || row.tracing === 'true';
}
