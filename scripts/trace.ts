// npm run trace -- <msgId> : where did my mail go? RabbitMQ's firehose, turned on for a moment and read for one mail.
//
//   npm run trace -- <msgId> [--seconds 60] [--amqp-url URL[,URL...]] [--vhost /] [--ctl "rabbitmqctl"]
//                            [--api http://127.0.0.1:8080] [--api-key KEY] [--utc]
//   npm run trace -- --send someone@example.com [--api ...]     sends one mail through the API, then traces it
//
// It turns the firehose on for the vhost on every running node of the cluster (tracing is per node: each node traces
// the publishes and deliveries that happen on it), reads amq.rabbitmq.trace through an exclusive queue of its own,
// prints each publish and delivery of the mail (message property messageId = msgId, as src/broker/publisher.ts
// publishes) as one timeline line, and turns tracing off again on the nodes where it turned it on: at the end, on
// Ctrl-C or SIGTERM, and on errors. Where tracing was already on it leaves it on (it reads a running trace).
// Acknowledgements are not in the firehose: with --api (or BASE_URL, as for npm run chaos and postman) it reads the
// mail's status from the app (GET /mail/:msgId) and stops once the mail is final after a delivery; otherwise it runs
// for --seconds.
//
// The AMQP user needs read permission on amq.rabbitmq.trace and configure/write on its own server-named queue (the
// app's least-privilege user "mail" has neither: use an administrator or guest on loopback). rabbitmqctl must be able
// to reach the nodes (--ctl "docker compose -f docker/compose.cluster.yaml exec -T rabbit1 rabbitmqctl" for the
// cluster file's containers; "sudo rabbitmqctl" where it needs root). A tracer killed with SIGKILL cannot turn
// tracing off: `rabbitmqctl trace_off -p <vhost> -n <node>` does.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { connectAny } from '../src/broker/amqp-urls';
import { maskUrl } from '../src/logger';
import {
  connectionNamesFromCtl,
  isFinalStatus,
  runningNodesFromCtl,
  Timeline,
  tracingFromCtl,
  type FirehoseEvent,
  type MailStatus,
  type TraceEntry,
} from './trace-timeline';

const run = promisify(execFile);

export const TRACE_EXCHANGE = 'amq.rabbitmq.trace';
/** events kept while the msgId is not known yet (--send), and the trace queue's bound if the tracer falls behind */
const MAX_BUFFERED = 100_000;

export type Ctl = (...args: string[]) => Promise<string>;

/** rabbitmqctl on the PATH, else where Debian puts it. */
export function defaultCtlCommand(env: NodeJS.ProcessEnv = process.env): string {
  if (env.RABBITMQCTL) return env.RABBITMQCTL;
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    try {
      accessSync(path.join(dir, 'rabbitmqctl'), constants.X_OK);
      return 'rabbitmqctl';
    } catch {
      // not here
    }
  }
  return '/usr/sbin/rabbitmqctl';
}

/** A rabbitmqctl runner from a command line ("rabbitmqctl", "sudo rabbitmqctl", "docker compose exec -T rabbit1 rabbitmqctl"). */
export function makeCtl(command: string, timeoutMs = 90_000): Ctl {
  const [file, ...pre] = command.trim().split(/\s+/);
  if (!file) throw new Error('--ctl is empty');
  return async (...args: string[]) => {
    try {
      const { stdout } = await run(file, [...pre, '-q', ...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`${command} ${args.join(' ')} failed: ${(e.stderr || e.message).trim().split('\n').slice(0, 3).join(' ')}`);
    }
  };
}

/** The vhost an AMQP URL names ('/' when it names none). */
export function vhostOfUrl(url: string): string {
  const p = new URL(url).pathname;
  return p === '' || p === '/' ? '/' : decodeURIComponent(p.slice(1));
}

/** The same URL on another vhost. */
export function withVhost(url: string, vhost: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(vhost)}`;
  return u.toString();
}


export interface StartOptions {
  /** one URL or several separated by commas (the nodes of a cluster) */
  amqpUrl: string;
  /** the vhost to trace (default: the URL's) */
  vhost?: string;
  ctl: Ctl;
  /** the mail to follow; null until known (--send learns it from the API) */
  msgId: string | null;
  /** each timeline line as it is made */
  onLine: (line: string) => void;
  /** each matching entry, after its line */
  onEntry?: (e: TraceEntry) => void;
  utc?: boolean;
}

export interface TraceSession {
  readonly vhost: string;
  readonly nodes: string[];
  /** nodes where this session turned tracing on (and will turn it off) */
  readonly turnedOn: string[];
  /** nodes where tracing was already on (left on) */
  readonly alreadyOn: string[];
  readonly timeline: Timeline | null;
  /** follow this msgId from now on (and from the events received before it was known) */
  follow(msgId: string): void;
  /** Prints a line of the caller's (null: none) after the event lines before it, so lines stay in order. */
  emit(make: () => string | null): Promise<void>;
  /** resolves when the broker closes the tracer's connection */
  readonly closed: Promise<string>;
  /** Turns tracing off where this session turned it on and closes the connection; safe to call twice. */
  stop(): Promise<string[]>;
}

/** Whether tracing is on for `vhost` on `node`. */
export async function tracingOn(ctl: Ctl, vhost: string, node?: string): Promise<boolean> {
  return tracingFromCtl(await ctl('list_vhosts', ...(node ? ['-n', node] : []), 'name', 'tracing', '--formatter', 'json'), vhost);
}

/**
 * Binds an exclusive queue to amq.rabbitmq.trace, then turns the firehose on for the vhost on every running node
 * where it is off. On a failure half-way, what was turned on is turned off again before the error is thrown.
 */
export async function startTrace(o: StartOptions): Promise<TraceSession> {
  const vhost = o.vhost ?? vhostOfUrl(o.amqpUrl.split(',')[0]!.trim());
  const urls = o.amqpUrl
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean)
    .map((u) => (o.vhost ? withVhost(u, o.vhost) : u))
    .join(',');
  const nodes = runningNodesFromCtl(await o.ctl('cluster_status', '--formatter', 'json'));
  const turnedOn: string[] = [];
  const alreadyOn: string[] = [];
  let model: ChannelModel | null = null;
  let stopped: Promise<string[]> | null = null;
  let timeline: Timeline | null = o.msgId ? new Timeline(o.msgId, o.utc) : null;
  let buffered: FirehoseEvent[] = [];
  // lines go out in the order the events came, each after its connection's name was looked up (if it had to be)
  let printing: Promise<void> = Promise.resolve();
  const lookedUp = new Set<string>();

  const nameConnections = async (tl: Timeline): Promise<void> => {
    const unknown = tl.unnamedConnections().filter((c) => !lookedUp.has(c));
    if (unknown.length === 0) return;
    unknown.forEach((c) => lookedUp.add(c));
    try {
      const names = connectionNamesFromCtl(await o.ctl('list_connections', 'name', 'client_properties', '--formatter', 'json'));
      for (const [k, v] of names) tl.connectionNames.set(k, v);
    } catch {
      // the names are a nicety: the line still says which connection
    }
  };
  const take = (ev: FirehoseEvent) => {
    const tl = timeline;
    if (!tl) {
      if (buffered.length < MAX_BUFFERED) buffered.push(ev);
      return;
    }
    const e = tl.add(ev);
    if (!e) return;
    printing = printing
      .then(async () => {
        await nameConnections(tl);
        o.onLine(tl.line(e));
        o.onEntry?.(e);
      })
      .catch(() => undefined);
  };

  const stop = (): Promise<string[]> =>
    (stopped ??= (async () => {
      const errors: string[] = [];
      await printing.catch(() => undefined);
      for (const node of turnedOn) {
        await o.ctl('trace_off', '-p', vhost, '-n', node).catch((err: Error) => errors.push(`tracing is still ON for vhost ${vhost} on ${node}: ${err.message}`));
      }
      await model?.close().catch(() => undefined);
      return errors;
    })());

  try {
    const { model: m } = await connectAny(urls, `mail-dispatch trace pid ${process.pid}`);
    model = m;
    let closedBy: (why: string) => void = () => undefined;
    const closed = new Promise<string>((r) => (closedBy = r));
    m.on('error', (err: Error) => closedBy(`the tracer's connection failed: ${err.message}`));
    m.on('close', () => closedBy("the broker closed the tracer's connection"));
    const ch: Channel = await m.createChannel();
    ch.on('error', () => undefined);
    // bounded, so a tracer that falls behind on a busy vhost costs the broker at most this many messages
    const q = await ch.assertQueue('', { exclusive: true, autoDelete: true, durable: false, arguments: { 'x-max-length': MAX_BUFFERED } });
    await ch.bindQueue(q.queue, TRACE_EXCHANGE, 'publish.#');
    await ch.bindQueue(q.queue, TRACE_EXCHANGE, 'deliver.#');
    await ch.consume(
      q.queue,
      (msg: ConsumeMessage | null) => {
        if (msg) take({ routingKey: msg.fields.routingKey, headers: (msg.properties.headers ?? {}) as Record<string, unknown>, receivedAt: Date.now() });
      },
      { noAck: true },
    );
    // bound first, so nothing the firehose sends once it is on is missed
    const before = await Promise.all(nodes.map((n) => tracingOn(o.ctl, vhost, n)));
    for (const [i, node] of nodes.entries()) {
      if (before[i]) {
        alreadyOn.push(node);
        continue;
      }
      turnedOn.push(node); // before the call: a trace_on that timed out may still have happened
      await o.ctl('trace_on', '-p', vhost, '-n', node);
    }
    return {
      vhost,
      nodes,
      turnedOn,
      alreadyOn,
      closed,
      get timeline() {
        return timeline;
      },
      follow(msgId: string) {
        timeline = new Timeline(msgId, o.utc);
        const old = buffered;
        buffered = [];
        old.forEach(take);
      },
      emit(make: () => string | null) {
        printing = printing
          .then(() => {
            const line = make();
            if (line !== null) o.onLine(line);
          })
          .catch(() => undefined);
        return printing;
      },
      stop,
    };
  } catch (err) {
    const errors = await stop();
    if (errors.length > 0) throw new Error(`${(err as Error).message}; and ${errors.join('; ')}`);
    throw err;
  }
}

export interface TraceOptions {
  msgId?: string;
  send?: string;
  seconds: number;
  amqpUrl: string;
  vhost?: string;
  ctlCommand: string;
  api?: string;
  apiKey?: string;
  utc?: boolean;
  /** how often the app's status is read */
  pollMs?: number;
  /** after a final status, how long to wait for the delivery's event before giving up on it */
  graceMs?: number;
  out?: (line: string) => void;
  /** resolves to stop early (the CLI: SIGINT or SIGTERM) */
  interrupt?: Promise<string>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function api<T>(o: TraceOptions, method: 'GET' | 'POST', route: string, body?: unknown): Promise<{ status: number; json: T }> {
  const url = `${o.api!.replace(/\/$/, '')}${route}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: {
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`${method} ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = { raw: text.slice(0, 200) };
  }
  return { status: res.status, json: json as T };
}

/** Sends one mail through the API and returns its msgId. */
async function sendOne(o: TraceOptions, to: string): Promise<string> {
  const { status, json } = await api<{ msgId?: string; title?: string; detail?: string }>(o, 'POST', '/mail/send', {
    subject: `npm run trace ${new Date().toISOString()}`,
    content: 'A mail sent by `npm run trace -- --send` to follow its way through RabbitMQ.',
    tos: to,
  });
  if (status !== 202 || typeof json.msgId !== 'string') throw new Error(`POST /mail/send answered ${status}: ${json.detail ?? json.title ?? JSON.stringify(json)}`);
  return json.msgId;
}

/**
 * The whole command: start the trace, send (--send), follow the mail until it is final after a delivery (with the
 * API) or --seconds pass, and turn tracing off. Resolves to the exit code: 0 when the mail was seen, 2 when nothing
 * of it was seen.
 */
export async function runTrace(o: TraceOptions): Promise<number> {
  const out = o.out ?? ((l: string) => console.log(l));
  if (!o.msgId && !o.send) throw new Error('give a msgId, or --send <address> to send one');
  if (o.send && !o.api) throw new Error('--send needs --api (or BASE_URL)');
  const ctl = makeCtl(o.ctlCommand);
  const pollMs = o.pollMs ?? 500;
  const graceMs = o.graceMs ?? 3_000;
  let session: TraceSession | null = null;
  let stopReason: string | null = null;
  // never settles without an interrupt (a race against `undefined` would settle at once)
  const interrupted: Promise<unknown> = o.interrupt?.then((why) => (stopReason = why)) ?? new Promise(() => undefined);
  try {
    session = await startTrace({ amqpUrl: o.amqpUrl, vhost: o.vhost, ctl, msgId: o.msgId ?? null, onLine: out, utc: o.utc });
    void session.closed.then((why) => (stopReason ??= why));
    const on = session.turnedOn.length > 0 ? `tracing turned on on ${session.turnedOn.join(', ')}` : '';
    const already = session.alreadyOn.length > 0 ? `tracing already on on ${session.alreadyOn.join(', ')} (reading a running trace; it stays on)` : '';
    out(`# vhost ${session.vhost}, ${session.nodes.length} node${session.nodes.length === 1 ? '' : 's'}: ${[on, already].filter(Boolean).join('; ')}; via ${maskUrl(o.amqpUrl)}`);
    let msgId = o.msgId;
    if (o.send) {
      msgId = await sendOne(o, o.send);
      session.follow(msgId);
      out(`# sent one mail to ${o.send} through ${o.api}: msgId ${msgId}`);
    }
    out(`# following msgId ${msgId} for at most ${o.seconds} s${o.api ? `; status from ${o.api}` : ''}`);
    if (!o.api) out('# acks are not traced (the firehose shows publishes and deliveries only): give --api to read what the consumer did');
    const deadline = Date.now() + o.seconds * 1000;
    let finalAt: number | null = null;
    let last: MailStatus | null = null;
    while (!stopReason && Date.now() < deadline) {
      if (o.api) {
        try {
          const { status, json } = await api<MailStatus>(o, 'GET', `/mail/${encodeURIComponent(msgId!)}`);
          if (status === 200) {
            last = json;
            const at = Date.now();
            const tl = session.timeline!;
            void session.emit(() => tl.statusLine(json, at));
            if (isFinalStatus(json.status)) finalAt ??= at;
          } else if (status !== 404) out(`# GET /mail/${msgId} answered ${status}`);
        } catch (err) {
          out(`# GET /mail/${msgId} failed: ${(err as Error).message}`);
        }
        if (finalAt !== null && (session.timeline!.delivered || Date.now() - finalAt > graceMs)) break;
      }
      await Promise.race([sleep(pollMs), interrupted]);
    }
    await session.emit(() => null); // the lines still waiting for a connection's name
    if (stopReason) out(`# ${stopReason}: stopping`);
    const tl = session.timeline!;
    if (finalAt !== null && !tl.delivered) out(`# the mail is ${last?.status}, but no delivery of it was traced (consumed before tracing began, or on a node not traced)`);
    if (finalAt === null && !stopReason) out(`# ${o.seconds} s passed${last ? `; the mail is ${last.status}` : ''}`);
    return tl.entries.length > 0 || finalAt !== null ? 0 : 2;
  } finally {
    if (session) {
      const errors = await session.stop();
      for (const e of errors) out(`# ${e}`);
      if (session.turnedOn.length > 0 && errors.length === 0) out(`# tracing turned off on ${session.turnedOn.join(', ')}`);
      if (session.alreadyOn.length > 0) out(`# tracing left on on ${session.alreadyOn.join(', ')} (it was on before)`);
    }
  }
}

export const USAGE = `usage: npm run trace -- <msgId> [options]
       npm run trace -- --send <to-address> --api URL [options]
  --seconds N          stop after N seconds (default 60)
  --amqp-url URL[,URL] the broker, or the nodes of a cluster (default AMQP_URL, else amqp://guest:guest@127.0.0.1:5672)
  --vhost V            the vhost to trace (default: the URL's, /)
  --ctl "COMMAND"      how to run rabbitmqctl (default: rabbitmqctl on the PATH, else /usr/sbin/rabbitmqctl)
  --api URL            the app, to read the mail's status (acks are not traced) (default BASE_URL)
  --api-key KEY        its API key (default API_KEY)
  --send ADDRESS       send one mail through the API first, and trace it
  --utc                times in UTC`;

export function optionsFromArgv(argv: string[], env: NodeJS.ProcessEnv = process.env): TraceOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      seconds: { type: 'string' },
      'amqp-url': { type: 'string' },
      vhost: { type: 'string' },
      ctl: { type: 'string' },
      api: { type: 'string' },
      'api-key': { type: 'string' },
      send: { type: 'string' },
      utc: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals.length > 1) throw new Error(`one msgId at a time (got ${positionals.join(' ')})`);
  const seconds = values.seconds === undefined ? 60 : Number(values.seconds);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error('--seconds must be a positive number');
  return {
    msgId: positionals[0],
    send: values.send,
    seconds,
    amqpUrl: values['amqp-url'] ?? env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    vhost: values.vhost,
    ctlCommand: values.ctl ?? defaultCtlCommand(env),
    api: values.api ?? (env.BASE_URL || undefined),
    apiKey: values['api-key'] ?? (env.API_KEY || undefined),
    utc: values.utc ?? false,
  };
}

async function main(): Promise<void> {
  let opts: TraceOptions | 'help';
  try {
    opts = optionsFromArgv(process.argv.slice(2));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(64);
  }
  if (opts === 'help') {
    console.log(USAGE);
    return;
  }
  let signalledAt = 0;
  const interrupt = new Promise<string>((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      // Ctrl-C reaches this process twice (from the terminal, and relayed by npm/tsx): one stop, said once
      if (signalledAt > 0) {
        if (Date.now() - signalledAt > 1000) console.log('# still turning tracing off; one moment');
        return;
      }
      signalledAt = Date.now();
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
  try {
    process.exitCode = await runTrace({ ...opts, interrupt });
  } catch (err) {
    console.error(`trace: ${(err as Error).message}`);
    process.exitCode = 1;
  }
  // amqplib's sockets are closed; nothing else should keep the process, but a signal handler does
  process.exit();
}

if (require.main === module) void main();
