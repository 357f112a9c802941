// pino: readable in development, JSON otherwise; secrets are redacted wherever they appear as fields.
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(opts: { level: string; pretty: boolean }): Logger {
  return pino({
    level: opts.level,
    redact: { paths: ['password', '*.password', 'pass', '*.pass', 'apiKey', '*.apiKey', 'authorization', '*.authorization', 'req.headers.authorization', 'req.headers["x-api-key"]'], censor: '[redacted]' },
    ...(opts.pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  });
}

/** Shows a URL without its password, for logs and messages. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '[unparseable url]';
  }
}
