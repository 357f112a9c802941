// The product's logger as a process uses it: a process whose stdout reader has gone (a log collector that died)
// still exits. pino's default destination hung here for ever (sonic-boom's flushSync at exit retries EPIPE).
import { spawn } from 'node:child_process';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

// logs a line, waits for a word on stdin, logs three more and exits
const CHILD = `
const { createLogger } = require('./src/logger.ts');
const log = createLogger({ level: 'info', pretty: false });
log.info('first line');
process.stdin.once('data', () => {
  for (let i = 0; i < 3; i++) log.info({ i }, 'a line after the reader of stdout went away');
  process.exit(0);
});
`;

test('a process whose stdout reader went away logs on and exits when it is told to', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', CHILD], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const first = await new Promise<string>((resolve) => child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString())));
  expect(JSON.parse(first)).toMatchObject({ level: 30, msg: 'first line' });
  // the reader goes: the pipe has no reading end left, and every write to it now fails with EPIPE
  const closed = new Promise((r) => child.stdout.once('close', r));
  child.stdout.destroy();
  await closed;
  child.stdin.write('go\n');
  const timeout = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5_000).unref());
  const outcome = await Promise.race([exited, timeout]);
  if (outcome === 'hung') child.kill('SIGKILL');
  expect(outcome).toBe(0);
}, 20_000);
