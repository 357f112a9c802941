// Entry point: read the configuration once, start, and stop gracefully on SIGTERM/SIGINT.
import { existsSync } from 'node:fs';
import { MailDispatchApp } from './app';
import { ConfigError, loadConfig } from './config';
import { TUNING } from './tuning';

async function main(): Promise<void> {
  // A .env next to package.json is read once, before the configuration; real environment variables win.
  if (existsSync('.env')) process.loadEnvFile('.env');
  let app: MailDispatchApp;
  try {
    app = new MailDispatchApp(loadConfig());
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.logger.info({ signal }, 'stopping');
    const force = setTimeout(() => {
      app.logger.error('graceful stop took too long; exiting');
      process.exit(1);
    }, TUNING.forceExitMs);
    force.unref();
    app.stop().then(
      () => process.exit(0),
      (err) => {
        app.logger.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  // Development only: SIGUSR2 kills a listener thread as a crash would, for the fault scenarios.
  if (app.config.DEV_FAULTS) process.on('SIGUSR2', () => void app.killListenerThread().then((killed) => app.logger.warn({ killed }, 'DEV_FAULTS: a listener thread was killed')));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await app.start();
  } catch (err) {
    app.logger.fatal({ err: (err as Error).message }, 'could not start');
    await app.stop().catch(() => undefined);
    process.exit(1);
  }
}

void main();
