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

/** Runs `body` after creating the product's logger in a child process; resolves with its exit code and stdout's lines. */
function runWithLogger(body: string): Promise<{ code: number | null; lines: Array<Record<string, unknown>> }> {
  const script = `const { createLogger } = require('./src/logger.ts');\nconst log = createLogger({ level: 'info', pretty: false });\n${body}`;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.resume();
  return new Promise((resolve) =>
    child.once('close', (code) =>
      resolve({
        code,
        lines: out
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      }),
    ),
  );
}

test('the lines logged in the turn in which the process exits are all written before it ends', async () => {
  const { code, lines } = await runWithLogger(`for (let i = 0; i < 3; i++) log.info({ i }, 'before exit');\nprocess.exit(0);`);
  expect(code).toBe(0);
  expect(lines.map((l) => l.i)).toEqual([0, 1, 2]);
}, 20_000);

test('the lines logged in the turn of an uncaught exception are all written before the process dies of it', async () => {
  const { code, lines } = await runWithLogger(`for (let i = 0; i < 3; i++) log.info({ i }, 'before the crash');\nthrow new Error('crash');`);
  expect(code).toBe(1);
  expect(lines.map((l) => l.i)).toEqual([0, 1, 2]);
}, 20_000);

test('a worker thread that exits writes the lines of its last turn, as a listener thread does when it stops', async () => {
  // tsx/cjs: a worker started from source loads TypeScript as src/listener/listener-threads.ts has it do
  const worker = `require('tsx/cjs'); const { createLogger } = require('./src/logger.ts'); const log = createLogger({ level: 'info', pretty: false }); for (let i = 0; i < 3; i++) log.info({ i }, 'in the thread'); process.exit(0);`;
  const { code, lines } = await runWithLogger(
    `const { Worker } = require('node:worker_threads');\nnew Worker(${JSON.stringify(worker)}, { eval: true }).once('exit', () => { log.info({ i: 3 }, 'after the thread'); });`,
  );
  expect(code).toBe(0);
  expect(lines.map((l) => l.i)).toEqual([0, 1, 2, 3]);
}, 20_000);
