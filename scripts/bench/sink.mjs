// Counting SMTP sink for the benchmark, in its own process: accepts every mail, counts mails and distinct
// Message-IDs. GET http://127.0.0.1:$SINK_HTTP_PORT/count -> {"received","uniqueMessageIds"}; POST /reset zeroes.
import http from 'node:http';
import { SMTPServer } from 'smtp-server';

const smtpPort = Number(process.env.SINK_SMTP_PORT ?? 2625);
const httpPort = Number(process.env.SINK_HTTP_PORT ?? 2680);
let received = 0;
let ids = new Set();

const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  size: 1024 * 1024,
  onData(stream, _session, callback) {
    let head = '';
    stream.on('data', (d) => {
      if (head.length < 4096) head += d.toString();
    });
    stream.on('end', () => {
      received++;
      const m = /^message-id:\s*(\S+)/im.exec(head);
      if (m) ids.add(m[1]);
      callback();
    });
  },
});
server.listen(smtpPort, '127.0.0.1');
http
  .createServer((req, res) => {
    if (req.method === 'POST') {
      received = 0;
      ids = new Set();
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ received, uniqueMessageIds: ids.size }));
  })
  .listen(httpPort, '127.0.0.1', () => process.send?.('ready'));
