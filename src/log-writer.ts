// Where the JSON log goes: stdout, with the lines of one turn of the event loop written together when the turn ends.
// A write per line was a system call and a wake-up of stdout's reader per line, two a mail (the API's `mail accepted`,
// the listener's `mail consumed`), on the cores the app shares with its database, broker and relay; a turn's lines in
// one write cost one (docs/performance.md "Logging at the default level").
// What holds: every write is whole lines and at most PIPE_BUF bytes, so in a pipe it never mixes with the other
// thread's writes; a line leaves when its turn ends; at exit (process.exit, the loop's end, an uncaught exception)
// the rest is written before the process ends; a reader that went away (EPIPE) turns logging into a no-op rather than
// an exit that never ends. What a write per line would keep and this does not: the last turn's lines of a process
// killed outright (SIGKILL, the kernel's out-of-memory killer, V8 out of heap).
import { writeSync } from 'node:fs';

/** POSIX: a write of at most this many bytes into a pipe is never interleaved with another writer's. */
export const PIPE_BUF = 4096;
/** A full pipe on a non-blocking descriptor (EAGAIN): wait this long for its reader before trying again. */
const FULL_PIPE_WAIT_MS = 1;
const pause = new Int32Array(new SharedArrayBuffer(4));

/** Each thread's writers, written out when the thread or process exits. */
const open = new Set<LineWriter>();
let exitHooked = false;

export class LineWriter {
  private pending = '';
  private pendingBytes = 0;
  private scheduled = false;
  private broken = false;
  private readonly endOfTurn = () => {
    this.scheduled = false;
    this.flush();
  };

  constructor(
    private readonly fd: number,
    private readonly writeTo: (fd: number, data: Buffer, offset: number) => number = writeSync,
  ) {
    open.add(this);
    if (!exitHooked) {
      exitHooked = true;
      process.on('exit', () => {
        for (const w of open) w.flush();
      });
    }
  }

  /** pino's destination: one line, ending in a newline. */
  write(line: string): boolean {
    if (this.broken) return true;
    const bytes = Buffer.byteLength(line);
    if (this.pendingBytes + bytes > PIPE_BUF) this.flush();
    this.pending += line;
    this.pendingBytes += bytes;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.endOfTurn);
    }
    return true;
  }

  /** Writes what is pending now, synchronously (pino's `logger.flush(cb)` lands here). */
  flush(cb?: (err?: Error) => void): void {
    if (this.pendingBytes > 0) {
      const data = Buffer.from(this.pending);
      this.pending = '';
      this.pendingBytes = 0;
      if (!this.broken) this.writeAll(data);
    }
    cb?.();
  }

  /** No more lines: what is pending is written, and the exit has nothing left to do for this writer. */
  close(): void {
    this.flush();
    open.delete(this);
  }

  private writeAll(data: Buffer): void {
    let offset = 0;
    while (offset < data.length) {
      try {
        offset += this.writeTo(this.fd, data, offset);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          Atomics.wait(pause, 0, 0, FULL_PIPE_WAIT_MS);
          continue;
        }
        // EPIPE, EBADF: nobody reads the log any more; the app goes on without it
        this.broken = true;
        return;
      }
    }
  }
}
