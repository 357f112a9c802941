// pino: readable in development, JSON otherwise; secrets are redacted wherever they appear as fields.
// JSON goes to stdout through src/log-writer.ts: a turn's lines in one synchronous write of whole lines (under 4 KB,
// PIPE_BUF, so never mixed with the listener thread's in a pipe), the rest written at exit. pino's default destination
// is asynchronous, and at exit it flushes with sonic-boom's flushSync, which retries EPIPE for ever: a process whose
// stdout reader had gone never ended (test/unit/logger-exit.test.ts).
import pino from 'pino';
import { LineWriter } from './log-writer';

export type Logger = pino.Logger;

export function createLogger(opts: { level: string; pretty: boolean; destination?: pino.DestinationStream }): Logger {
  const options: pino.LoggerOptions = {
    level: opts.level,
    // Our own redaction rather than pino's `redact`: @pinojs/redact parses every path again on every line, which was a
    // quarter of all the bytes the app allocated per mail (heap sampling on Node 24, docs/performance-log.md); this one
    // walks each line's fields once against fixed sets and copies only a line that holds a secret.
    formatters: { log: redactSecrets, bindings: redactSecrets },
    // a child's bindings skip the formatters: its secret fields are censored by name
    serializers: BINDING_SERIALIZERS,
    ...(opts.pretty && !opts.destination ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  };
  if (opts.pretty && !opts.destination) return pino(options);
  return pino(options, opts.destination ?? new LineWriter(1));
}

/** Fields that hold secrets: passwords, API keys and headers however they are named, connection URLs. */
const SECRET_FIELDS = new Set(['password', 'pass', 'apiKey', 'authorization', 'api_key', 'apiKeys', 'API_KEYS', 'secret', 'token', 'DATABASE_URL', 'AMQP_URL', 'SMTP_URL']);
/** A top-level `key` is a secret too (a nested one names something else: a queue's, a routing key). */
const TOP_ONLY = new Set(['key']);
/** In a `headers` field, at the top or one level down (`req.headers`, `x.headers`). */
const SECRET_HEADERS = new Set(['authorization', 'x-api-key', 'cookie']);

type Fields = Record<string, unknown>;

const BINDING_SERIALIZERS: Record<string, (v: unknown) => unknown> = {
  ...Object.fromEntries([...SECRET_FIELDS, ...TOP_ONLY].map((k) => [k, censorSecret])),
  headers: (v) => (isObject(v) ? redactHeaders(v) : v),
  req: (v) => (isObject(v) ? redactLevel(v, false) : v),
};
const isObject = (v: unknown): v is Fields => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A log line's fields with every secret censored: a secret field at the top or one level down, and secret headers in
 * a `headers` field at either level. The object itself is never changed: a line with a secret gets a shallow copy.
 */
export function redactSecrets<T extends object>(fields: T): T {
  return redactLevel(fields as Fields, true) as T;
}

function redactLevel(fields: Fields, top: boolean): Fields {
  let out = fields;
  for (const k in fields) {
    const v = fields[k];
    let r = v;
    if (SECRET_FIELDS.has(k) || (top && TOP_ONLY.has(k))) r = censorSecret(v);
    else if (k === 'headers' && isObject(v)) r = redactHeaders(v);
    else if (top && isObject(v)) r = redactLevel(v, false);
    if (r !== v) {
      if (out === fields) out = { ...fields };
      out[k] = r;
    }
  }
  return out;
}

function redactHeaders(headers: Fields): Fields {
  let out = headers;
  for (const k in headers) {
    if (!SECRET_HEADERS.has(k.toLowerCase())) continue;
    if (out === headers) out = { ...headers };
    out[k] = censorSecret(headers[k]);
  }
  return out;
}

/** URLs keep everything but their password; anything else in a secret field is replaced. */
function censorSecret(value: unknown): unknown {
  if (typeof value === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return maskUrl(value);
  return '[redacted]';
}

/** Shows a URL without its password, for logs and messages. */
export function maskUrl(url: string): string {
  // a list of nodes (AMQP_URL for a cluster): each one masked
  if (url.includes(',')) return url.split(',').map((u) => maskUrl(u.trim())).join(',');
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '[unparseable url]';
  }
}
