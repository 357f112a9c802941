#!/usr/bin/env node
// Runs the documented scenarios (the Postman collection, postman/) against an app this script starts itself with the
// settings they need, then stops it: nothing to set up by hand.
//
//   npm run scenarios
//   RELIABILITY_SCHEME=delayed-check npm run scenarios      (the same scenarios in the other reliability scheme)
//
// The app gets its own database (mail_dispatch_scenarios on the server of DATABASE_URL) and its own exchange and
// queues (scenarios.mail.*), so a development app and its mails are left alone; an SMTP server of the script's own
// accepts what is sent. DATABASE_URL, MQ_EXCHANGE, MQ_QUEUE, MQ_ROUTING_KEY and AMQP_URL override those. Its exit
// code is 0 when every assertion passed. The timings are the fast ones of README, "The documented scenarios".
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SMTPServer } from 'smtp-server';
import { DEV_WEBHOOK_SECRET, preflight, runPostman } from './postman.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const SCENARIO_SETTINGS = {
  DEV_FAULTS: 'true',
  PUBLISH_GRACE_MS: '3000',
  CONFIRM_TIMEOUT_MS: '2000',
  BACKOFF_BASE_MS: '500',
  MAX_TRIES: '3',
  REDELIVERY_CRON: '*/1 * * * * *',
  CHECKBACK_ALLOWED_HOSTS: '127.0.0.1',
  PREPARE_TIMEOUT_MS: '5000',
  // RELIABILITY_SCHEME=delayed-check (set in the environment): a lost publish is found by its check this soon
  CHECK_DELAY_MS: '2000',
};

async function freePort() {
  const srv = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/** An SMTP server that accepts every mail (scenario 3's failures are played by the app's DEV_FAULTS wrapper). */
async function startSink() {
  const server = new SMTPServer({ authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false, onData: (stream, _s, done) => stream.on('end', () => done()).resume() });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `smtp://127.0.0.1:${server.server.address().port}?ignoreTLS=true`, stop: () => new Promise((r) => server.close(r)) };
}

function scenarioDatabase(url = 'mysql://root@127.0.0.1:3306/mail_dispatch') {
  const u = new URL(url);
  u.pathname = '/mail_dispatch_scenarios';
  return u.toString();
}

async function startApp(env) {
  // tsx as a loader in this process's node: one process, so stopping it stops the app
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/main.ts')], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (d) => (log = (log + d.toString()).slice(-4000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const url = `http://127.0.0.1:${env.PORT}`;
  for (const until = Date.now() + 60_000; Date.now() < until; await new Promise((r) => setTimeout(r, 200))) {
    if (child.exitCode !== null) throw new Error(`the app exited at start (code ${child.exitCode}):\n${log}`);
    const res = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(1000) }).catch(() => null);
    if (res?.ok) return { url, stop: () => new Promise((r) => (child.exitCode !== null ? r() : (child.once('exit', r), child.kill('SIGTERM')))) };
  }
  child.kill('SIGKILL');
  throw new Error(`the app was not ready within 60 s:\n${log}`);
}

async function main() {
  const sink = await startSink();
  const env = {
    ...process.env,
    ...SCENARIO_SETTINGS,
    NODE_ENV: 'development',
    HOST: '127.0.0.1',
    PORT: String(await freePort()),
    WEBHOOK_SECRET: DEV_WEBHOOK_SECRET,
    API_KEYS: '',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    SMTP_URL: sink.url,
    DATABASE_URL: process.env.DATABASE_URL ?? scenarioDatabase(),
    MQ_EXCHANGE: process.env.MQ_EXCHANGE ?? 'scenarios.mail.exchange',
    MQ_QUEUE: process.env.MQ_QUEUE ?? 'scenarios.mail.queue',
    MQ_ROUTING_KEY: process.env.MQ_ROUTING_KEY ?? 'scenarios.mail.routing.key',
  };
  // the Webhooks folder: the app's events go to its own development receiver
  env.WEBHOOK_URL = `http://127.0.0.1:${env.PORT}/dev/webhooks`;
  let app;
  try {
    console.log(`scenarios: starting the app on ${env.PORT} (database ${new URL(env.DATABASE_URL).pathname.slice(1)}, queue ${env.MQ_QUEUE}, RELIABILITY_SCHEME ${env.RELIABILITY_SCHEME ?? 'msg-log'})`);
    app = await startApp(env);
    const problem = await preflight({ baseUrl: app.url });
    if (problem) throw new Error(problem);
    const { failures, assertions } = await runPostman({ baseUrl: app.url, apiKey: '', pollIntervalMs: 250, maxPolls: 120 });
    console.log(failures ? `scenarios: ${failures} failure(s) across ${assertions} assertion(s)` : `scenarios: all ${assertions} assertion(s) passed`);
    process.exitCode = failures ? 1 : 0;
  } catch (err) {
    console.error(`scenarios: ${err.message}`);
    process.exitCode = 1;
  } finally {
    await app?.stop();
    await sink.stop();
  }
}

await main();
