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
  const maildev = new MailDev({ smtp: opts.smtpPort, web: opts.webPort, ip: '127.0.0.1', silent: true, disableWeb: false });
  await new Promise<void>((resolve, reject) => maildev.listen((err) => (err ? reject(err) : resolve())));
  const catcher = {
    smtpUrl: `smtp://127.0.0.1:${opts.smtpPort}?ignoreTLS=true`,
    webUrl: `http://127.0.0.1:${opts.webPort}`,
    close: () => new Promise<void>((r) => maildev.close(() => r())),
  };
  opts.logger.info(`no SMTP_URL: development mail catcher on ${catcher.smtpUrl}; read the mails at ${catcher.webUrl}`);
  return catcher;
}
