// Development without SMTP_URL: a local MailDev catches the mails, and its web page shows them.
import type { Logger } from '../logger';

export interface DevCatcher {
  smtpUrl: string;
  webUrl: string;
  close(): Promise<void>;
}

export async function startDevCatcher(opts: { smtpPort: number; webPort: number; logger: Logger }): Promise<DevCatcher> {
  // Loaded only here: MailDev is a development dependency, absent from production images.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const MailDev = require('maildev') as new (o: Record<string, unknown>) => {
    listen(cb: (err?: Error) => void): void;
    close(cb: () => void): void;
  };
  // MailDev's constructor puts handlers of its own on SIGINT and SIGTERM that exit the process as soon as its servers
  // have closed, which cut the app's graceful stop short (Ctrl-C on `npm start`: no outcome recorded for the sends
  // in hand, no last log lines). They are taken off again: the app stops, and closes the catcher with it.
  const own = { SIGINT: process.listeners('SIGINT'), SIGTERM: process.listeners('SIGTERM') };
  const maildev = new MailDev({ smtp: opts.smtpPort, web: opts.webPort, ip: '127.0.0.1', silent: true, disableWeb: false });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    for (const handler of process.listeners(signal)) if (!own[signal].includes(handler)) process.removeListener(signal, handler);
  }
  await new Promise<void>((resolve, reject) => maildev.listen((err) => (err ? reject(err) : resolve())));
  const catcher = {
    smtpUrl: `smtp://127.0.0.1:${opts.smtpPort}?ignoreTLS=true`,
    webUrl: `http://127.0.0.1:${opts.webPort}`,
    close: () => new Promise<void>((r) => maildev.close(() => r())),
  };
  opts.logger.info(`no SMTP_URL: development mail catcher on ${catcher.smtpUrl}; read the mails at ${catcher.webUrl}`);
  return catcher;
}
