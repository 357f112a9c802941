// The log's writer (src/log-writer.ts): a turn's lines in one write of whole lines, at most PIPE_BUF bytes each; a
// full pipe waited out, a short write finished, a reader that went away ends the writing and nothing else.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { LineWriter, PIPE_BUF } from '../../src/log-writer';

/** A descriptor's writes as the writer made them; `answers` plays the system call's replies in turn. */
function recorder(answers: Array<number | string | 'all'> = []) {
  const writes: string[] = [];
  const write = (_fd: number, data: Buffer, offset: number): number => {
    const answer = answers.shift() ?? 'all';
    if (typeof answer === 'string' && answer !== 'all') throw Object.assign(new Error(answer), { code: answer });
    const n = answer === 'all' ? data.length - offset : answer;
    writes.push(data.subarray(offset, offset + n).toString());
    return n;
  };
  return { writes, write };
}

const line = (i: number, pad = 0) => `${JSON.stringify({ i, msg: 'x'.repeat(pad) })}\n`;

test('the lines of one turn leave in one write when the turn ends, and the next turn starts another', async () => {
  const { writes, write } = recorder();
  const out = new LineWriter(1, write);
  out.write(line(1));
  out.write(line(2));
  expect(writes).toEqual([]);
  await nextTurn();
  expect(writes).toEqual([line(1) + line(2)]);
  out.write(line(3));
  await nextTurn();
  expect(writes).toEqual([line(1) + line(2), line(3)]);
  out.close();
});

test('a turn that logs more than PIPE_BUF bytes writes whole lines in pieces of at most PIPE_BUF bytes', async () => {
  const { writes, write } = recorder();
  const out = new LineWriter(1, write);
  const lines = Array.from({ length: 100 }, (_, i) => line(i, 150));
  for (const l of lines) out.write(l);
  await nextTurn();
  expect(writes.length).toBeGreaterThan(3);
  for (const w of writes) {
    expect(Buffer.byteLength(w)).toBeLessThanOrEqual(PIPE_BUF);
    expect(w.endsWith('\n')).toBe(true);
  }
  expect(writes.join('')).toBe(lines.join(''));
  out.close();
});

test('a full pipe is waited out and a short write is finished, so every byte leaves once and in order', () => {
  const { writes, write } = recorder(['EAGAIN', 5, 'EAGAIN', 'all']);
  const out = new LineWriter(1, write);
  out.write(line(1));
  out.write(line(2));
  out.flush();
  expect(writes.join('')).toBe(line(1) + line(2));
  expect(writes).toHaveLength(2);
  out.close();
});

test('once nobody reads the log (EPIPE) the writer stops writing and logging goes on without an error', async () => {
  const { writes, write } = recorder(['EPIPE']);
  const out = new LineWriter(1, write);
  out.write(line(1));
  await nextTurn();
  expect(() => out.write(line(2))).not.toThrow();
  await nextTurn();
  out.flush();
  expect(writes).toEqual([]);
  out.close();
});

test('flush writes what is pending at once and then calls back, as pino`s logger.flush expects', () => {
  const { writes, write } = recorder();
  const out = new LineWriter(1, write);
  out.write(line(1));
  const done = jest.fn();
  out.flush(done);
  expect(writes).toEqual([line(1)]);
  expect(done).toHaveBeenCalledTimes(1);
  out.close();
});
