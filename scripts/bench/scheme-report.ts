// What `npm run bench -- --schemes` (schemes.ts) shows: the medians over the runs, the table with its footnotes
// (printed), and the JSON it returns to bench.ts.
import { CHECK_DELAY_MS, IDLE_SAMPLE_MS, r2, SCHEMES, SETTLE_MS, type Scheme } from './scheme-counters';
import type { LostResult, PeerResult, Run, SchemeResult, SchemesDeps } from './schemes';

const median = (xs: (number | null | undefined)[]): number | undefined => {
  const v = xs.filter((x): x is number => typeof x === 'number').sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)] : undefined;
};

/** The figures the table shows, of one scheme's (or the peer's) run. */
function figures(r: SchemeResult | PeerResult): Record<string, number | null | undefined> {
  if (r.scheme === 'peer') {
    return { endToEndPerSec: r.endToEndPerSec, acceptPerSec: r.acceptPerSec, p50ms: r.p50ms, p99ms: r.p99ms, cpuMsPerMail: r.cpuMsPerMail, peakRssMb: r.peakRssMb, redisCommandsPerMail: r.redisCommandsPerMail };
  }
  const b = 'error' in r.broker ? undefined : r.broker;
  return {
    endToEndPerSec: r.endToEndPerSec,
    acceptPerSec: r.acceptPerSec,
    p50ms: r.p50ms,
    p99ms: r.p99ms,
    cpuMsPerMail: r.cpuMsPerMail,
    peakRssMb: r.peakRssMb,
    producerStatementsPerMail: r.db.producer.statementsPerMailNetOfIdle,
    producerWritesPerMail: r.db.producer.writeStatementsPerMailNetOfIdle,
    callbackStatementsPerMail: r.db.callback?.statementsPerMailNetOfIdle,
    callbackWritesPerMail: r.db.callback?.writeStatementsPerMailNetOfIdle,
    brokerPublishesPerMail: b?.publishesPerMail,
    brokerDeadLetteredPerMail: b?.deadLetteredPerMail,
    brokerIdlePublishesPerSec: b?.idlePublishesPerSec,
    brokerAppAccountedPublishesPerMail: b?.appAccountedPublishesPerMail,
    brokerAppAccountedPublishesPerMailMax: b?.appAccountedPublishesPerMailMax,
    brokerNotQuiet: b ? (b.quiet ? 0 : 1) : undefined,
  };
}

/** The medians over the runs of every figure the table shows, per scheme and the peer. */
function medians(runs: Run[]): Record<string, Record<string, number | undefined>> {
  const out: Record<string, Record<string, number | undefined>> = {};
  for (const k of [...SCHEMES, 'peer'] as const) {
    const each = runs.flatMap((r) => (r[k] ? [figures(r[k]!)] : []));
    if (!each.length) continue;
    // the broker's figures from the runs where it was quiet, if any was
    const quiet = each.filter((e) => e.brokerNotQuiet === 0);
    out[k] = Object.fromEntries(Object.keys(each[0]!).map((f) => [f, median((f.startsWith('broker') && quiet.length ? quiet : each).map((e) => e[f]))]));
  }
  return out;
}

function table(m: ReturnType<typeof medians>, lost: Partial<Record<Scheme, LostResult>>, runs: number, n: number): string {
  const f = (x: number | undefined, digits = 2) => (x === undefined ? '–' : x.toFixed(digits));
  const rows = Object.entries(m).map(([k, v]) => {
    const l = lost[k as Scheme];
    const peer = k === 'peer';
    return [
      peer ? 'peer (BullMQ)' : k,
      f(v.endToEndPerSec, 0),
      `${f(v.p50ms, 0)} / ${f(v.p99ms, 0)}`,
      peer ? `n/a (Redis: ${f(v.redisCommandsPerMail)} cmds)` : `${f(v.producerStatementsPerMail)} (${f(v.producerWritesPerMail)})`,
      peer || k === 'msg-log' ? 'n/a' : `${f(v.callbackStatementsPerMail)} (${f(v.callbackWritesPerMail)})`,
      peer ? 'n/a' : `${f(v.brokerPublishesPerMail)} + ${f(v.brokerDeadLetteredPerMail)}${v.brokerNotQuiet ? ` (! app accounts for ${f(v.brokerAppAccountedPublishesPerMail)}–${f(v.brokerAppAccountedPublishesPerMailMax)})` : ''}`,
      f(v.cpuMsPerMail, 3),
      f(v.peakRssMb, 0),
      l ? `${f(l.medianSeconds, 1)} / ${f(l.maxSeconds, 1)}` : peer ? 'n/a' : '–',
    ];
  });
  const head = ['scheme', 'end to end mails/s', 'API p50 / p99 ms', 'producer DB stmts/mail (writes)', 'callback DB stmts/mail (writes)', 'broker publishes + dead-lettered /mail', 'app CPU ms/mail', 'app peak RSS MB', 'lost publish → sink, median / max s'];
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [
    `${n} mails per burst${runs > 1 ? `, medians of ${runs} runs (the broker's of the quiet ones)` : ''}; DB statements over the burst and, for delayed-check, its checks coming due, net of the idle background polls (raw in the JSON); app CPU over the burst`,
    line(head),
    line(head.map(() => '---')),
    ...rows.map(line),
    'DB statements: MariaDB USER_STATISTICS of a user per database (SELECT + INSERT/UPDATE/DELETE + BEGIN/COMMIT...; writes in brackets).',
    `Broker: rabbit_global_counters, server-wide (client publishes + messages dead-lettered by TTL); "(! app accounts for x–y)": the app's own counters account for x to y publishes/mail (confirmations travel many to a message), so others used the broker meanwhile: run again on a quiet broker.`,
    `Lost publish: ${Object.values(lost)[0]?.mails ?? 0} mails with X-Dev-Fault: lose-publish, in a separate phase with NODE_ENV=test and DEV_FAULTS=true (refused in production), at the default timings.`,
  ].join('\n');
}

/** Prints the table of the medians and returns the whole result: how it was counted, the medians, every run. */
export function schemesReport(d: SchemesDeps, runs: Run[], lost: Partial<Record<Scheme, LostResult>>) {
  const m = medians(runs);
  console.log(table(m, lost, d.runs, d.n));
  return {
    method: {
      dbStatements: 'information_schema.USER_STATISTICS (userstat=ON for the run), one MariaDB user per database; performance_schema is OFF on this server',
      brokerMessages: 'rabbit_global_counters via rabbitmqctl eval: amqp091 messages_received_total (client publishes) and messages_dead_lettered_expired_total; server-wide',
      window: `burst until every mail consumed (delayed-check: and every check answered, CHECK_DELAY_MS=${CHECK_DELAY_MS} later) + ${SETTLE_MS} ms; idle sampled ${IDLE_SAMPLE_MS} ms before the burst`,
      lostPublish: 'separate phase, NODE_ENV=test DEV_FAULTS=true, accepted (202) to arrival at a sink of its own',
    },
    endToEndVsSmtpStage: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.endToEndPerSec ? r2(v.endToEndPerSec / d.smtpStageMailsPerSec) : undefined])),
    medians: m,
    lostPublish: lost,
    runs,
  };
}
