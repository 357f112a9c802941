#!/usr/bin/env node
// Runs the Postman end-to-end scenarios (postman/*.json) against a running app
// with newman's programmatic API.
//
//   node scripts/postman.mjs
//
// Environment overrides (all optional):
//   BASE_URL          -> baseUrl         (default http://127.0.0.1:8080)
//   API_KEY           -> apiKey          (sent as "Authorization: Bearer ..." when non-empty)
//   POLL_INTERVAL_MS  -> pollIntervalMs  (wait between status polls, default 500)
//   MAX_POLLS         -> maxPolls        (polls per scenario before failing, default 240)
//
// Exit code: 0 when every assertion passed, 1 on any failure or run error.
//
// The jest suite can import { runPostman } instead of spawning this script.
import newman from 'newman';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
export const COLLECTION_PATH = path.resolve(here, '../postman/mail-dispatch.postman_collection.json');
export const ENVIRONMENT_PATH = path.resolve(here, '../postman/local.postman_environment.json');

/**
 * Runs the collection once.
 *
 * @param {object} [options]
 * @param {string} [options.baseUrl]         overrides the environment's baseUrl
 * @param {string} [options.apiKey]          overrides apiKey ("" sends no Authorization header)
 * @param {number|string} [options.pollIntervalMs]
 * @param {number|string} [options.maxPolls]
 * @param {string[]} [options.reporters]     newman reporters, default ['cli']; [] for silence
 * @returns {Promise<{ failures: number, assertions: number }>} rejects when newman cannot run at all
 */
export function runPostman({ baseUrl, apiKey, pollIntervalMs, maxPolls, reporters = ['cli'] } = {}) {
  const overrides = { baseUrl, apiKey, pollIntervalMs, maxPolls };
  const envVar = Object.entries(overrides)
    .filter(([, value]) => value !== undefined && value !== null)
    .map(([key, value]) => ({ key, value: String(value) }));

  return new Promise((resolve, reject) => {
    newman.run(
      {
        collection: COLLECTION_PATH,
        environment: ENVIRONMENT_PATH,
        envVar,
        reporters,
        timeoutRequest: 10000,
      },
      (err, summary) => {
        if (err) {
          reject(err);
          return;
        }
        resolve({
          failures: summary.run.failures.length,
          assertions: summary.run.stats.assertions.total,
        });
      },
    );
  });
}

/** Reads the overrides from process.env; unset or empty variables keep the environment file's value (except API_KEY, where empty is meaningful). */
function optionsFromEnv(env = process.env) {
  const pick = (name) => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
  return {
    baseUrl: pick('BASE_URL'),
    apiKey: env.API_KEY,
    pollIntervalMs: pick('POLL_INTERVAL_MS'),
    maxPolls: pick('MAX_POLLS'),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runPostman(optionsFromEnv())
    .then(({ failures, assertions }) => {
      if (failures > 0) {
        console.error(`postman: ${failures} failure(s) across ${assertions} assertion(s)`);
        process.exitCode = 1;
      } else {
        console.log(`postman: all ${assertions} assertion(s) passed`);
        process.exitCode = 0;
      }
    })
    .catch((err) => {
      console.error('postman: newman could not run the collection:', err);
      process.exitCode = 1;
    });
}
