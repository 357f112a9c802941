// Helpers for the abuse, auth, rate-limit, idempotency and secrets suites: the environment of an API-only app
// (ROLES=api, so nothing consumes the queue and its depth counts every publish), API keys, and counters for rows and
// queued messages. Their apps need no SMTP server: startFixture({ sink: 'none', env: SECURED }).
import { connect } from 'amqplib';
import { Writable } from 'node:stream';
import type { TopologyNames } from '../../src/broker/topology';
import { apiKeyConfigEntry } from '../../src/http/security/api-keys';
import { createLogger, type Logger } from '../../src/logger';
import type { Pool } from '../../src/store/db';
import { AMQP_URL } from './services';

/** Two keys, as a client holds them; the server is configured with their hashes only. */
export const KEY_A = 'mdk_test_key_A_0123456789abcdefghijklmnopqrstuv';
export const KEY_B = 'mdk_test_key_B_zyxwvutsrqponmlkjihgfedcba9876543';
export const API_KEYS = [KEY_A, KEY_B].map(apiKeyConfigEntry).join(',');

/** A test configuration's env for an API-only process with keys and the limits set high enough not to interfere. */
export const SECURED: Record<string, string> = {
  ROLES: 'api',
  API_KEYS,
  RATE_LIMIT_PER_KEY: '1000000',
  RATE_LIMIT_PER_RECIPIENT: '1000000',
};

export interface Counts {
  mails: number;
  keys: number;
}

export async function counts(pool: Pool): Promise<Counts> {
  const [m] = await pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM msg_log');
  const [k] = await pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM idempotency_key');
  return { mails: Number(m!.n), keys: Number(k!.n) };
}

/** Messages waiting in the test's queue (nothing consumes it in an API-only process). */
export async function queueDepth(t: TopologyNames): Promise<number> {
  const conn = await connect(AMQP_URL);
  try {
    const ch = await conn.createChannel();
    const q = await ch.checkQueue(t.queue);
    return q.messageCount;
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** A logger writing JSON lines into memory, at every level, so a test can search what was logged. */
export function captureLogs(): { logger: Logger; text: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { logger: createLogger({ level: 'trace', pretty: false, destination }), text: () => chunks.join('') };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** the parsed body, or undefined when it is not JSON */
  body: any;
}

/** One HTTP request exactly as given: no client-side normalising of the path, headers or body. */
export async function rawRequest(baseUrl: string, opts: { method?: string; path: string; headers?: Record<string, string | string[]>; body?: string | Buffer; agent?: import('node:http').Agent }): Promise<RawResponse> {
  const { request } = await import('node:http');
  const u = new URL(baseUrl);
  return new Promise<RawResponse>((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method: opts.method ?? 'POST', path: opts.path, headers: opts.headers ?? {}, setHost: true, ...(opts.agent ? { agent: opts.agent } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}
