// The SMTP stage alone: nodemailer, pooled as the app pools it, into the same sink; the ceiling for end to end.
import nodemailer from 'nodemailer';

export async function smtpStage(port: number, n: number, sink: { reset(): Promise<void> }, poolSize = Number(process.env.SMTP_POOL_SIZE ?? 5), concurrency = 50) {
  await sink.reset();
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, maxConnections: poolSize, maxMessages: Infinity });
  const send = (i: number) => transport.sendMail({ from: 'noreply@example.com', to: 'someone@example.com', subject: 'load test', text: 'x'.repeat(200), messageId: `<stage-${i}@bench>` });
  for (let i = 0; i < 500; i++) await send(-i); // warm-up: open the pool
  await sink.reset();
  let next = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await send(next++);
    }),
  );
  const ms = Date.now() - t0;
  transport.close();
  return { mails: n, poolSize, concurrency, mailsPerSec: Math.round(n / (ms / 1000)) };
}
