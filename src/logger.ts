// pino: readable in development, JSON otherwise; secrets are redacted wherever they appear as fields.
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(opts: { level: string; pretty: boolean; destination?: pino.DestinationStream }): Logger {
  const options: pino.LoggerOptions = {
    level: opts.level,
    redact: { paths: ['password', '*.password', 'pass', '*.pass', 'apiKey', '*.apiKey', 'authorization', '*.authorization', 'req.headers.authorization', 'req.headers["x-api-key"]', ...SECRET_PATHS], censor: censorSecret },
    ...(opts.pretty && !opts.destination ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** More fields that hold secrets: API keys and headers however they are named, and connection URLs. */
const SECRET_PATHS = [
  'api_key', '*.api_key', 'apiKeys', '*.apiKeys', 'API_KEYS', '*.API_KEYS', 'key', 'secret', '*.secret', 'token', '*.token',
  'headers.authorization', 'headers["x-api-key"]', '*.headers.authorization', '*.headers["x-api-key"]', 'req.headers.cookie',
  'DATABASE_URL', '*.DATABASE_URL', 'AMQP_URL', '*.AMQP_URL', 'SMTP_URL', '*.SMTP_URL',
];

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
