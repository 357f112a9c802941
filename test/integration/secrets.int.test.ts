// Secrets never show: not in configuration errors, not in what the process prints when the database or the broker
// refuses its password, not in logs or answers when API keys are wrong or misplaced, and not when an SMTP server
// refuses the login (even one that echoes the password back).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config';
import { Status } from '../../src/core/status';
import { SmtpMailer } from '../../src/mail/smtp-lanes';
import { startFixture, type Fixture } from '../support/fixture';
import { AMQP_URL, FAST, SERVER_DB_URL, rowOf } from '../support/services';
import { KEY_A, KEY_B, SECURED, captureLogs, rawRequest } from '../support/security';
import { waitFor } from '../support/wait';

const DB_PW = 'DbPw_s3cret_4711';
const AMQP_PW = 'AmqpPw_s3cret_4712';
const SMTP_PW = 'SmtpPw_s3cret_4713';
const PLAIN_KEY = 'PlainKey_s3cret_4714_abcdefgh';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const SECRETS = [DB_PW, AMQP_PW, SMTP_PW, PLAIN_KEY, KEY_A, KEY_B, b64(SMTP_PW), b64(`\u0000mailer\u0000${SMTP_PW}`)];

function expectNoSecret(text: string): void {
  for (const s of SECRETS) expect(text).not.toContain(s);
}

/** An SMTP server that insists on AUTH and refuses every login, repeating the password it was given. */
async function refusingSmtp(): Promise<{ url: (user: string, pw: string) => string; stop: () => Promise<void> }> {
  const server = new SMTPServer({
    authOptional: false,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth: (auth, _session, cb) => cb(Object.assign(new Error(`Authentication failed for ${auth.username} with password ${auth.password}`), { responseCode: 535 })),
  });
  server.on('error', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.server.address() as AddressInfo).port;
  return { url: (user, pw) => `smtp://${user}:${pw}@127.0.0.1:${port}?ignoreTLS=true`, stop: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Runs src/main.ts with `env` until its output shows `until` (then stops it) or it exits; returns everything it printed. */
async function runMain(env: Record<string, string>, until?: { what: string; shown: (out: string) => boolean }): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [require.resolve('tsx/cli'), path.resolve(__dirname, '../../src/main.ts')], { env: { ...process.env, ...FAST, PORT: '0', LOG_LEVEL: 'trace', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let gone = false;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      gone = true;
      resolve(code);
    }),
  );
  const onData = (d: Buffer) => (out += d.toString());
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  try {
    // an early exit ends the wait too: the caller's checks then say what the output lacks
    if (until) await waitFor(until.what, () => gone || until.shown(out), 25_000);
  } finally {
    if (until) child.kill('SIGTERM');
    await exited;
    clearTimeout(timer);
  }
  return { code: await exited, out };
}

describe('secrets in configuration errors', () => {
  test('bad URLs and keys are named, never shown', () => {
    let message = '';
    try {
      loadConfig({
        NODE_ENV: 'production',
        DATABASE_URL: `postgres://mail:${DB_PW}@db/mail`,
        AMQP_URL: `http://mail:${AMQP_PW}@mq`,
        SMTP_URL: `http://mailer:${SMTP_PW}@smtp.example.com`,
        API_KEYS: `${PLAIN_KEY},sha256:${KEY_A}`,
      });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/DATABASE_URL/);
    expect(message).toMatch(/AMQP_URL/);
    expect(message).toMatch(/SMTP_URL/);
    expect(message).toMatch(/API_KEYS: entry 2/);
    expect(message).toMatch(/API_KEYS: holds a plain key/);
    expectNoSecret(message);
  });
});

describe('secrets in what the process prints', () => {
  test('a database refusing the password: the start fails, and the password is nowhere in the output', async () => {
    const { code, out } = await runMain({ DATABASE_URL: `${SERVER_DB_URL.replace('://root@', `://root:${DB_PW}@`)}/mdtest_secrets`, AMQP_URL: AMQP_URL.replace(/:[^:@/]*@/, `:${AMQP_PW}@`), SMTP_URL: `smtp://mailer:${SMTP_PW}@127.0.0.1:9` });
    expect(code).toBe(1);
    expect(out).toMatch(/could not start/);
    expect(out).toMatch(/Access denied/);
    expectNoSecret(out);
  });

  test('a broker refusing the password: reconnect attempts are logged, the URL is masked, the password is nowhere', async () => {
    // A database and broker names of its own; the process is started here, with the wrong broker password.
    const f = await startFixture({ sink: 'none', app: false });
    try {
      const { out } = await runMain(
        { DATABASE_URL: f.db.url, AMQP_URL: AMQP_URL.replace(/:[^:@/]*@/, `:${AMQP_PW}@`), SMTP_URL: `smtp://mailer:${SMTP_PW}@127.0.0.1:9`, ROLES: 'api', API_KEYS: SECURED.API_KEYS!, MQ_EXCHANGE: f.topology.exchange, MQ_QUEUE: f.topology.queue, MQ_ROUTING_KEY: f.topology.routingKey },
        // started, then a few reconnects logged (each a line that could show the password)
        { what: 'the start and 3 failed RabbitMQ connect attempts in the output', shown: (out) => /mail dispatch started/.test(out) && (out.match(/RabbitMQ connect attempt failed/g) ?? []).length >= 3 },
      );
      expect(out).toMatch(/"amqp":"amqp:\/\/guest:\*\*\*@/);
      expect(out).toMatch(/RabbitMQ connect attempt failed/);
      expectNoSecret(out);
    } finally {
      await f.stop();
    }
  });
});

describe('secrets in logs and answers of a running app', () => {
  const logs = captureLogs();
  let smtp: Awaited<ReturnType<typeof refusingSmtp>>;
  let f: Fixture<'none'>;
  let db: Fixture['db'];
  let app: Fixture['app'];

  beforeAll(async () => {
    smtp = await refusingSmtp();
    f = await startFixture({
      sink: 'none',
      smtpUrl: smtp.url('mailer', SMTP_PW),
      roles: 'api,listener,job',
      env: { ...SECURED, BACKOFF_BASE_MS: '60000', BACKOFF_MAX_MS: '60000' },
      overrides: { logger: logs.logger },
    });
    ({ db, app } = f);
  });

  afterAll(async () => {
    await f?.stop();
    await smtp?.stop();
  });

  test('an SMTP login refused (with the password echoed by the server) opens the relay circuit without the password anywhere, and costs the mail no try', async () => {
    const res = await rawRequest(app.url, { path: '/mail/send', headers: { 'content-type': 'application/json', 'x-api-key': KEY_A }, body: JSON.stringify({ subject: 's', content: 'c', tos: 'a@example.com' }) });
    expect(res.status).toBe(202);
    const { msgId } = res.body as { msgId: string };
    // A refused login is the operator's to fix, not the mail's fault: the relay counts as down, the mail waits.
    const relay = await waitFor('the relay reported down', async () => {
      const state = await app.relay.state();
      return state.down ? state : undefined;
    });
    expect(relay.failure?.detail).toMatch(/535/);
    expect(relay.failure?.detail).toContain('***');
    expectNoSecret(JSON.stringify(relay));
    const row = await rowOf(db.pool, msgId);
    expect(row?.try_count).toBe(0);
    expect(row?.status).not.toBe(Status.dead);
    const view = await rawRequest(app.url, { method: 'GET', path: `/mail/${msgId}`, headers: { authorization: `Bearer ${KEY_B}` } });
    expect(view.status).toBe(200);
    expectNoSecret(view.text);
    expect(logs.text()).toMatch(/SMTP relay down/);
    expectNoSecret(logs.text());
  });

  test('the SMTP mailer reports a refused login, as a probe and as a send, with no password in it', async () => {
    const mailer = new SmtpMailer({ url: smtp.url('mailer', SMTP_PW), from: 'noreply@example.com', poolSize: 1, timeoutMs: 5_000 });
    try {
      const err = await mailer.verify().catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect(String((err as Error).message)).toMatch(/535/);
      expectNoSecret(JSON.stringify({ message: (err as Error).message, ...(err as object) }));
      const lane = await mailer.acquire();
      const outcome = await lane.send({ msgId: '1', to: ['a@example.com'], envelopeTo: ['a@example.com'], subject: 's', text: 't' });
      lane.release();
      expect(outcome.kind).toBe('relay-down');
      expect(JSON.stringify(outcome)).toMatch(/535/);
      expectNoSecret(JSON.stringify(outcome));
    } finally {
      await mailer.close();
    }
  });

  test('wrong, misplaced and valid keys: no key in any answer or log line', async () => {
    const attempts: { path: string; headers: Record<string, string> }[] = [
      { path: '/ready', headers: { 'x-api-key': PLAIN_KEY } },
      { path: '/ready', headers: { authorization: `Bearer ${PLAIN_KEY}` } },
      { path: `/ready?api_key=${KEY_A}`, headers: {} },
      { path: `/nowhere?token=${KEY_B}`, headers: {} },
      { path: `/nowhere?token=${KEY_B}`, headers: { 'x-api-key': KEY_A } },
      { path: '/mail/%E0%A4%A', headers: { 'x-api-key': KEY_A } },
      { path: '/mail/123', headers: { 'x-api-key': KEY_A } },
    ];
    for (const a of attempts) {
      const res = await rawRequest(app.url, { method: 'GET', ...a });
      expect(res.status).toBeLessThan(500);
      expectNoSecret(res.text);
      expectNoSecret(JSON.stringify(res.headers));
    }
  });

  test('nothing logged by this app, at trace level, holds a secret', () => {
    const text = logs.text();
    expect(text.length).toBeGreaterThan(0);
    expect(text).toMatch(/request refused: no valid API key/);
    expectNoSecret(text);
  });
});
