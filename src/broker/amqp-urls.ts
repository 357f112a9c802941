// AMQP_URL is one broker node or a comma-separated list of the nodes of a cluster: a connection goes to any node
// that answers (in the list's order, starting where the last attempt left off), so losing a node loses nothing but
// the connections that were on it.
import { connect, type ChannelModel } from 'amqplib';
import { TUNING } from '../tuning';

/** The nodes of AMQP_URL, in order. */
export function amqpUrls(value: string): string[] {
  return value
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
}

/** host:port of a node, for logs and connection names. */
export function nodeOf(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || (u.protocol === 'amqps:' ? 5671 : 5672)}`;
}

/** A heartbeat unless the URL sets one. */
export function withHeartbeat(url: string): string {
  const u = new URL(url);
  if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(TUNING.amqpHeartbeatS));
  return u.toString();
}

/** Opens a connection to one node. */
export function connectTo(url: string, connectionName: string): Promise<ChannelModel> {
  return connect(withHeartbeat(url), {
    clientProperties: { connection_name: connectionName },
    // A handshake that never gets an answer (a black-holed node) must fail, or the next node is never tried.
    timeout: TUNING.amqpConnectTimeoutMs,
  });
}

/** Connects to the first node of the list that answers, from `start` on; fails with the last node's error. */
export async function connectAny(value: string, connectionName = `mail-dispatch tool pid ${process.pid}`, start = 0): Promise<{ model: ChannelModel; url: string; index: number }> {
  const urls = amqpUrls(value);
  let last: unknown = new Error('AMQP_URL names no node');
  for (let i = 0; i < urls.length; i++) {
    const index = (start + i) % urls.length;
    try {
      return { model: await connectTo(urls[index], connectionName), url: urls[index], index };
    } catch (err) {
      last = err;
    }
  }
  throw last;
}
