// `npm run chaos` against a running deployment, here an in-process app with the suite's fast timings: keeps the
// script working. Its figures go to test-artifacts/chaos-summary.md, not to the fault suite's table.
import path from 'node:path';
import { freePort } from '../support/private-mariadb';
import { AMQP_URL } from '../support/services';
import { optionsFromEnv, runChaos } from '../../scripts/chaos';
import { scenarioFixture } from './harness';

// Scenarios take longer than the unit and integration tests' 60 s default (npm test runs them too).
jest.setTimeout(180_000);

describe('npm run chaos', () => {
  const fx = scenarioFixture();
  beforeAll(() => fx.setup());
  afterAll(() => fx.stop());

  test('plays its scenarios against a running app and reports them all passed', async () => {
    const sinkPort = await freePort();
    const app = await fx.startApp({ smtpUrl: `smtp://127.0.0.1:${sinkPort}?ignoreTLS=true` });
    const root = path.resolve(__dirname, '../..');
    const lines: string[] = [];
    const result = await runChaos({
      ...optionsFromEnv({}),
      baseUrl: app.url,
      databaseUrl: fx.db.url,
      amqpUrl: AMQP_URL,
      queue: fx.topology.queue,
      sinkPort,
      mails: 20,
      quietMs: 300,
      boundMs: 30_000,
      scenarios: ['baseline', 'smtp-4xx', 'smtp-5xx', 'smtp-drop-after-data', 'duplicate-delivery', 'poison'],
      out: path.join(root, 'test-artifacts', 'chaos-selftest-summary.md'),
      resultsDir: path.join(root, 'test-artifacts', 'chaos-selftest'),
      log: (l) => lines.push(l),
    });
    const failed = result.records.filter((r) => !r.ok).map((r) => `${r.line} ${r.checks.filter((c) => !c.ok).map((c) => c.what).join('; ')}`);
    expect(failed).toEqual([]);
    expect(result.records.map((r) => r.scenario)).toEqual(['baseline', 'smtp-4xx', 'smtp-5xx', 'smtp-drop-after-data', 'duplicate-delivery', 'poison']);
    expect(result.ok).toBe(true);
  });
});
