// The Postman scenarios (postman/) run with newman against a real app, as `npm run postman` runs them.
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { MailDispatchApp } from '../../src/app';
import { SmtpSink } from '../support/smtp-sink';
import { createTestDb, deleteTopology, startApp, testConfig, uniqueTopology, type TestDb } from '../support/services';

function runNewman(baseUrl: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.resolve(__dirname, '../../scripts/postman.mjs')], {
      env: { ...process.env, BASE_URL: baseUrl, POLL_INTERVAL_MS: '250', MAX_POLLS: '120' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('the Postman collection', () => {
  const topology = uniqueTopology();
  let db: TestDb;
  let sink: SmtpSink;
  let app: MailDispatchApp;

  beforeAll(async () => {
    sink = await new SmtpSink().start();
    db = await createTestDb();
    app = await startApp(testConfig(db, topology, sink.url, { DEV_FAULTS: 'true' }));
  });

  afterAll(async () => {
    await app?.stop();
    await sink?.stop();
    await db?.drop();
    await deleteTopology(topology);
  });

  test('runs the three documented scenarios and the validation cases with every assertion passing', async () => {
    const { code, output } = await runNewman(app.url);
    if (code !== 0) process.stderr.write(output);
    expect(output).toMatch(/assertions\s*│\s*\d+\s*│\s*0\s*│/);
    expect(code).toBe(0);
  }, 120_000);
});
