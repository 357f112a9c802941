// The development mail catcher (src/mail/dev-catcher.ts: MailDev, started when SMTP_URL is unset in development). It
// catches what is sent to it and shows it on its page, and it leaves the process's signals to the app: Ctrl-C on
// `npm start` must run the app's graceful stop, not MailDev's exit.
import nodemailer from 'nodemailer';
import { createLogger } from '../../src/logger';
import { startDevCatcher, type DevCatcher } from '../../src/mail/dev-catcher';
import { freePort } from '../support/private-mariadb';
import { waitFor } from '../support/wait';

describe('the development mail catcher', () => {
  const before = { SIGINT: process.listeners('SIGINT'), SIGTERM: process.listeners('SIGTERM') };
  let catcher: DevCatcher;

  beforeAll(async () => {
    catcher = await startDevCatcher({ smtpPort: await freePort(), webPort: await freePort(), logger: createLogger({ level: 'silent', pretty: false }) });
  });

  afterAll(() => catcher?.close());

  test('leaves SIGINT and SIGTERM to the app, whose graceful stop they must run', () => {
    expect(process.listeners('SIGINT')).toEqual(before.SIGINT);
    expect(process.listeners('SIGTERM')).toEqual(before.SIGTERM);
  });

  test('catches a mail sent to it and lists it on its page', async () => {
    const port = Number(new URL(catcher.smtpUrl).port);
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
    await transport.sendMail({ from: 'a@example.com', to: 'b@example.com', subject: 'caught by the catcher', text: 'hello' });
    transport.close();
    const subjects = await waitFor('the mail on the catcher`s page', async () => {
      const mails = (await (await fetch(`${catcher.webUrl}/email`)).json()) as Array<{ subject: string }>;
      return mails.length > 0 ? mails.map((m) => m.subject) : null;
    });
    expect(subjects).toContain('caught by the catcher');
  });
});
