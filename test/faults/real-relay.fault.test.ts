// The product through a real relay: Debian's postfix with postgrey on loopback (scripts/relay.sh), relaying what it
// accepts to the scenario's sink, with the production defaults:
//   real-relay-greylisting: postgrey greylists every new (client, sender, recipient) for 20 s, and postfix refuses
//     "unknown..." recipients for good (550 5.1.1). Every deliverable recipient gets the mail once, the refused one
//     never, and no mail dies.
import { Status } from '../../src/core/status';
import { realRelayUnavailableReason, startRealRelay } from '../support/real-relay';
import { assertScenario, PRODUCTION, readRows, scenarioFixture, ScenarioRun, Traffic } from './harness';

jest.setTimeout(300_000);

const unavailable = realRelayUnavailableReason();
if (unavailable) process.stdout.write(`real-relay scenario skipped: ${unavailable}\n`);
const describeWithRelay = unavailable ? describe.skip : describe;


describeWithRelay('fault: a real relay', () => {
  const fx = scenarioFixture();
  let relayUrl = '';
  beforeAll(async () => {
    await fx.setup();
    const relay = await startRealRelay({ relayToPort: fx.sink.port, greylistDelaySec: 20 });
    fx.defer('real relay', () => relay.stop());
    relayUrl = relay.url;
  });
  afterAll(() => fx.stop());

  test('real-relay-greylisting', async () => {
    const N = 20;
    const M = 5;
    const sc = new ScenarioRun('real-relay-greylisting', `${N} mails to two recipients and ${M} with one unknown recipient, through postfix + postgrey (greylisting 20 s), production defaults`);
    const app = await fx.startApp({ env: PRODUCTION, smtpUrl: relayUrl });
    const two = new Traffic(app.url, N, { concurrency: 10, to: 'a@example.com,b@example.org' });
    const partial = new Traffic(app.url, M, { concurrency: 5, to: 'c@example.com,unknown-x@example.com' });
    await Promise.all([two.done, partial.done]);
    const accepted = [...two.accepted, ...partial.accepted];
    sc.expect('every request answered 202', accepted.length === N + M);
    const result = await sc.settle({ accepted, sink: () => fx.sink.received, pool: app.pool, boundMs: 180_000, quietMs: 5_000 });
    const copies = new Map<string, number>();
    for (const dlv of fx.sink.deliveries()) copies.set(`${dlv.msgId}|${dlv.recipient}`, (copies.get(`${dlv.msgId}|${dlv.recipient}`) ?? 0) + 1);
    const once = (id: string, r: string) => copies.get(`${id}|${r}`) === 1;
    sc.expect('each deliverable recipient got the mail exactly once', two.accepted.every((id) => once(id, 'a@example.com') && once(id, 'b@example.org')) && partial.accepted.every((id) => once(id, 'c@example.com')));
    sc.expect('the unknown recipient never got it', partial.accepted.every((id) => !copies.has(`${id}|unknown-x@example.com`)));
    const rows = await readRows(app.pool);
    sc.expect('every mail consumed, after the greylisting cost it one try', rows.every((r) => Number(r.status) === Status.consumed && Number(r.try_count) >= 1 && Number(r.try_count) <= 2), JSON.stringify(rows.map((r) => [r.status, r.try_count]).slice(0, 5)));
    // bounced with 550 by the mails that reached postfix before the first refusal was recorded; suppressed in the rest
    const views = await Promise.all(partial.accepted.map(async (id) => (await (await fetch(`${app.url}/mail/${id}`)).json()) as { recipients: { address: string; state: string; failure: { code?: number } | null }[] }));
    const x = views.map((v) => v.recipients.find((r) => r.address === 'unknown-x@example.com'));
    sc.expect('the unknown recipient is shown bounced with 550, then suppressed', x.some((r) => r?.state === 'bounced' && r.failure?.code === 550) && x.every((r) => r?.state === 'bounced' || r?.state === 'suppressed'), JSON.stringify(x.slice(0, 3)));
    assertScenario(sc.record(result));
  });
});
