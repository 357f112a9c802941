// The Postman scenarios (postman/) run with newman against a real app, as `npm run postman` runs them.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { startFixture, type Fixture } from '../support/fixture';

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
  let f: Fixture;

  beforeAll(async () => {
    f = await startFixture({ env: { DEV_FAULTS: 'true' } });
  });

  afterAll(() => f?.stop());

  test('runs the three documented scenarios and the validation cases with every assertion passing', async () => {
    const { code, output } = await runNewman(f.app.url);
    if (code !== 0) process.stderr.write(output);
    expect(output).toMatch(/assertions\s*│\s*\d+\s*│\s*0\s*│/);
    expect(code).toBe(0);
  }, 120_000);

  test('against an app started without DEV_FAULTS it says so in one line and runs nothing', async () => {
    const plain = await f.startApp({ roles: 'api', env: { DEV_FAULTS: 'false' } });
    const { code, output } = await runNewman(plain.url);
    expect(code).toBe(1);
    expect(output.trim().split('\n')).toEqual([expect.stringMatching(/^postman: the app at .* runs without DEV_FAULTS=true/)]);
  }, 60_000);

  test('with no app at the address it says so in one line', async () => {
    const { code, output } = await runNewman('http://127.0.0.1:9');
    expect(code).toBe(1);
    expect(output.trim().split('\n')).toEqual([expect.stringMatching(/^postman: no app answers at http:\/\/127\.0\.0\.1:9/)]);
  }, 60_000);
});
