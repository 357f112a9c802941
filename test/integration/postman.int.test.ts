// The Postman scenarios (postman/) run with newman: `npm run scenarios` (scripts/scenarios.mjs), which starts the real
// entry point with the settings they need and runs the whole collection, and `npm run postman` (scripts/postman.mjs)
// against an app that is missing one of those settings, which must say so in one line.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { startFixture, type Fixture } from '../support/fixture';
import { uniqueTopology } from '../support/services';

function run(script: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.resolve(__dirname, '../../scripts', script)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('close', (code) => resolve({ code, output }));
  });
}

const runNewman = (baseUrl: string) => run('postman.mjs', { BASE_URL: baseUrl, POLL_INTERVAL_MS: '250', MAX_POLLS: '120' });

const SCENARIO_ENV = { DEV_FAULTS: 'true', CHECKBACK_ALLOWED_HOSTS: '127.0.0.1', PREPARE_TIMEOUT_MS: '3000' };
/** scripts/postman.mjs's development secret (a .mjs module: the value, not an import) */
const DEV_WEBHOOK_SECRET = 'whsec_ZGV2ZWxvcG1lbnQtb25seS13ZWJob29rLXNlY3JldA==';

describe('the Postman collection', () => {
  let f: Fixture<'none'>;

  beforeAll(async () => {
    // the delay queue of RELIABILITY_SCHEME=delayed-check is named after scripts/scenarios.mjs's CHECK_DELAY_MS
    f = await startFixture({ app: false, sink: 'none', env: SCENARIO_ENV, topology: { ...uniqueTopology(), checkDelayMs: 2_000 } });
  });

  afterAll(() => f?.stop());

  test('npm run scenarios starts an app as the scenarios need it and runs the four documented scenarios, a batch, scheduled mails, webhooks, the suppression list and the validation cases, every assertion passing', async () => {
    const { code, output } = await run('scenarios.mjs', { DATABASE_URL: f.db.url, MQ_EXCHANGE: f.topology.exchange, MQ_QUEUE: f.topology.queue, MQ_ROUTING_KEY: f.topology.routingKey });
    if (code !== 0) process.stderr.write(output);
    expect(output).toMatch(/assertions\s*│\s*\d+\s*│\s*0\s*│/);
    // scenario 4 ran to its end: the check-back settled both of its mails
    expect(output).toMatch(/Scenario 4c - poll until the check-back commits it and it is consumed/);
    expect(output).toMatch(/Scenario 4d - committing after the check-back cancelled it is refused/);
    // the batch and the scheduled mails ran to their ends: the repeated batch, and the timeline of the mail sent at its time
    expect(output).toMatch(/Batch - the same batch again with the same Idempotency-Key answers the same/);
    expect(output).toMatch(/Scheduled - the timeline shows scheduled, due at its time, consumed/);
    // the webhook events reached the app's own receiver, signed; the suppressed address was refused, then lifted
    expect(output).toMatch(/Every event is signed with WEBHOOK_SECRET: the receiver verified each signature/);
    expect(output).toMatch(/Suppressions - after the lift a mail to the address is accepted again/);
    expect(output).toMatch(/^scenarios: all \d+ assertion\(s\) passed$/m);
    // nothing for the reader to wonder about, on any supported Node (newman's own DEP0176 on Node 24 included)
    expect(output).not.toMatch(/Warning/);
    expect(code).toBe(0);
  }, 180_000);

  test('RELIABILITY_SCHEME=delayed-check npm run scenarios runs the same collection in the other reliability scheme, every assertion passing', async () => {
    const { code, output } = await run('scenarios.mjs', { RELIABILITY_SCHEME: 'delayed-check', DATABASE_URL: f.db.url, MQ_EXCHANGE: f.topology.exchange, MQ_QUEUE: f.topology.queue, MQ_ROUTING_KEY: f.topology.routingKey });
    if (code !== 0) process.stderr.write(output);
    expect(output).toMatch(/RELIABILITY_SCHEME delayed-check/);
    expect(output).toMatch(/Scenario 2a - poll until consumed/);
    expect(output).toMatch(/Suppressions - after the lift a mail to the address is accepted again/);
    expect(output).toMatch(/^scenarios: all \d+ assertion\(s\) passed$/m);
    expect(code).toBe(0);
  }, 180_000);

  test('against an app started without DEV_FAULTS it says so in one line and runs nothing', async () => {
    const plain = await f.startApp({ roles: 'api', env: { ...SCENARIO_ENV, DEV_FAULTS: 'false' } });
    const { code, output } = await runNewman(plain.url);
    expect(code).toBe(1);
    expect(output.trim().split('\n')).toEqual([expect.stringMatching(/^postman: the app at .* runs without DEV_FAULTS=true/)]);
  }, 60_000);

  test('against an app that allows no check-backs to itself it names CHECKBACK_ALLOWED_HOSTS in one line and runs nothing', async () => {
    const closed = await f.startApp({ roles: 'api', env: { ...SCENARIO_ENV, CHECKBACK_ALLOWED_HOSTS: 'shop.example.com' } });
    const { code, output } = await runNewman(closed.url);
    expect(code).toBe(1);
    const host = new URL(closed.url).host;
    expect(output.trim().split('\n')).toEqual([
      `postman: the app at ${closed.url} does not allow check-backs to ${host} (CHECKBACK_ALLOWED_HOSTS is shop.example.com), which scenario 4 (two-phase sending) needs: start it with \`DEV_FAULTS=true CHECKBACK_ALLOWED_HOSTS=${host} PREPARE_TIMEOUT_MS=5000 WEBHOOK_URL=${closed.url}/dev/webhooks WEBHOOK_SECRET=${DEV_WEBHOOK_SECRET} npm start\``,
    ]);
  }, 60_000);

  test('against an app that sends no webhooks it names WEBHOOK_URL in one line and runs nothing', async () => {
    const quiet = await f.startApp({ roles: 'api', env: SCENARIO_ENV });
    const { code, output } = await runNewman(quiet.url);
    expect(code).toBe(1);
    expect(output.trim().split('\n')).toEqual([expect.stringMatching(/^postman: the app at .* sends no webhooks \(WEBHOOK_URL is not set\), which the Webhooks folder needs: start it with .*WEBHOOK_URL=.*\/dev\/webhooks WEBHOOK_SECRET=whsec_/)]);
  }, 60_000);

  test('with no app at the address it says so in one line', async () => {
    const { code, output } = await runNewman('http://127.0.0.1:9');
    expect(code).toBe(1);
    expect(output.trim().split('\n')).toEqual([expect.stringMatching(/^postman: no app answers at http:\/\/127\.0\.0\.1:9/)]);
  }, 60_000);
});
