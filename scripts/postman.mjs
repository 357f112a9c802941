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
// The app must run with DEV_FAULTS=true (scenarios 2 and 3 play faults; scenario 4's check-backs are answered by the
// app's dev receiver, POST /dev/check-back/:decision) and with CHECKBACK_ALLOWED_HOSTS naming the host of BASE_URL (the
// app asks its own receiver). A short PREPARE_TIMEOUT_MS (e.g. 5000) makes scenario 4 quick; with the default it waits
// about a minute. The Webhooks folder needs the app to send its events to its own dev receiver (WEBHOOK_URL =
// BASE_URL/dev/webhooks, with a WEBHOOK_SECRET). The preflight below says in one line which setting is missing, and
// runs nothing then:
//
//   DEV_FAULTS=true CHECKBACK_ALLOWED_HOSTS=127.0.0.1 PREPARE_TIMEOUT_MS=5000 \
//   WEBHOOK_URL=http://127.0.0.1:8080/dev/webhooks WEBHOOK_SECRET=whsec_ZGV2ZWxvcG1lbnQtb25seS13ZWJob29rLXNlY3JldA== npm start
//
// The jest suite can import { runPostman } instead of spawning this script.
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
export const COLLECTION_PATH = path.resolve(here, '../postman/mail-dispatch.postman_collection.json');
export const ENVIRONMENT_PATH = path.resolve(here, '../postman/local.postman_environment.json');

/**
 * newman, loaded when a run needs it, without the one warning it makes Node 24 print: newman 6.2.2 (the latest) reads
 * every property of `fs` when it loads, the deprecated fs.F_OK among them (DEP0176, postmanlabs/newman#3324), which says
 * nothing about this project or its collection. Every other warning goes through.
 */
async function loadNewman() {
  const emitWarning = process.emitWarning;
  process.emitWarning = function (warning, ...args) {
    const code = typeof args[0] === 'object' && args[0] !== null ? args[0].code : args[1];
    if (code === 'DEP0176') return;
    return emitWarning.call(this, warning, ...args);
  };
  try {
    return (await import('newman')).default;
  } finally {
    process.emitWarning = emitWarning;
  }
}

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
export async function runPostman({ baseUrl, apiKey, pollIntervalMs, maxPolls, reporters = ['cli'] } = {}) {
  const overrides = { baseUrl, apiKey, pollIntervalMs, maxPolls };
  const envVar = Object.entries(overrides)
    .filter(([, value]) => value !== undefined && value !== null)
    .map(([key, value]) => ({ key, value: String(value) }));

  const newman = await loadNewman();
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

/** How to start the app for the whole collection, for the host (and port) of `baseUrl`. */
/** A secret for trying webhooks locally (the scenarios' dev receiver verifies with it); never one for production. */
export const DEV_WEBHOOK_SECRET = 'whsec_ZGV2ZWxvcG1lbnQtb25seS13ZWJob29rLXNlY3JldA==';

function startHint(baseUrl) {
  const hooks = new URL('/dev/webhooks', baseUrl).href;
  return `\`DEV_FAULTS=true CHECKBACK_ALLOWED_HOSTS=${hostOf(baseUrl)} PREPARE_TIMEOUT_MS=5000 WEBHOOK_URL=${hooks} WEBHOOK_SECRET=${DEV_WEBHOOK_SECRET} npm start\``;
}

/** host or host:port, as CHECKBACK_ALLOWED_HOSTS compares it (src/core/check-back.ts). */
function hostOf(baseUrl) {
  const url = new URL(baseUrl);
  const host = url.hostname.toLowerCase();
  return url.port ? `${host}:${url.port}` : host;
}

/**
 * The documented failure scenarios need an app started with DEV_FAULTS=true, and scenario 4 (two-phase sending) an app
 * that allows check-backs to itself. Asks the app (GET /api/info, then GET /dev/check-back) first, so that one line says
 * what is wrong instead of a page of failed assertions; null when the run may go on.
 */
export async function preflight({ baseUrl = 'http://127.0.0.1:8080', apiKey } = {}) {
  const headers = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  let res;
  try {
    res = await fetch(new URL('/api/info', baseUrl), { headers, signal: AbortSignal.timeout(5000) });
  } catch (err) {
    return `no app answers at ${baseUrl} (${err.cause?.code ?? err.message}): start it with ${startHint(baseUrl)}, or set BASE_URL`;
  }
  if (res.status === 401) return `the app at ${baseUrl} wants an API key: set API_KEY`;
  if (!res.ok) return `the app at ${baseUrl} answered ${res.status} to GET /api/info`;
  const info = await res.json();
  if (!Array.isArray(info.devFaults) || info.devFaults.length === 0) {
    return `the app at ${baseUrl} runs without DEV_FAULTS=true, which the documented failure scenarios need: start it with ${startHint(baseUrl)}`;
  }
  // Scenario 4: the app's dev check-back receiver (DEV_FAULTS only) must be there, and reachable by the app's own check-backs.
  const receiver = await fetch(new URL('/dev/check-back', baseUrl), { headers, signal: AbortSignal.timeout(5000) }).catch((err) => err);
  if (receiver instanceof Error || !receiver.ok) {
    const why = receiver instanceof Error ? (receiver.cause?.code ?? receiver.message) : `answered ${receiver.status}`;
    return `the app at ${baseUrl} has no dev check-back receiver (GET /dev/check-back ${why}), which scenario 4 needs: run this version of the app with ${startHint(baseUrl)}`;
  }
  const { allowedHosts = [] } = await receiver.json();
  const host = hostOf(baseUrl);
  if (!allowedHosts.includes(host) && !allowedHosts.includes(new URL(baseUrl).hostname.toLowerCase())) {
    const now = allowedHosts.length ? `CHECKBACK_ALLOWED_HOSTS is ${allowedHosts.join(',')}` : 'CHECKBACK_ALLOWED_HOSTS is empty';
    return `the app at ${baseUrl} does not allow check-backs to ${host} (${now}), which scenario 4 (two-phase sending) needs: start it with ${startHint(baseUrl)}`;
  }
  // The Webhooks folder: the app sends its events (WEBHOOK_URL) to its own dev receiver, which verifies them.
  if (!info.webhooks) return `the app at ${baseUrl} sends no webhooks (WEBHOOK_URL is not set), which the Webhooks folder needs: start it with ${startHint(baseUrl)}`;
  return null;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const options = optionsFromEnv();
  preflight(options)
    .then((problem) => {
      if (problem) {
        console.error(`postman: ${problem}`);
        process.exit(1);
      }
      return runPostman(options);
    })
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
