// /openapi.json describes the API as it is: every route of the Express app is in it (and nothing else), and
// every status code a route answers with is described. The statuses come from the app's own
// http_requests_total counter after exercising each route, success and failure.
import request from 'supertest';
import { FAILURE_KINDS } from '../../src/core/failure';
import { Status } from '../../src/core/status';
import { LIMITS, mailRequestSchema, validateMailRequest } from '../../src/core/validation';
import { webhookEvent } from '../../src/core/webhook-event';
import { ERRORS } from '../../src/errors';
import { createHttpApp } from '../../src/http/app';
import { NODE_ROUTES } from '../../src/http/send-endpoint';
import { WEBHOOK_SQL } from '../../src/store/webhook-sql';
import { startFixture, type Fixture } from '../support/fixture';
import { httpDepsOf, rowOf, testLogger } from '../support/services';
import { waitFor } from '../support/wait';

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}
interface Spec {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, unknown>; operationId: string }>>;
  components: { schemas: Record<string, unknown>; responses: Record<string, unknown> };
}

/** METHOD /path for every route, walking routers mounted at the root (Express 5: app.router.stack). */
function routesOf(stack: Layer[]): string[] {
  const out: string[] = [];
  for (const layer of stack) {
    if (layer.route) {
      for (const [method, on] of Object.entries(layer.route.methods)) if (on && method !== '_all') out.push(`${method.toUpperCase()} ${layer.route.path}`);
    } else if (layer.handle?.stack) out.push(...routesOf(layer.handle.stack));
  }
  return out;
}

const toOpenApi = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

describe('the OpenAPI description', () => {
  let f: Fixture;
  let db: Fixture['db'];
  let app: Fixture['app'];
  let spec: Spec;

  beforeAll(async () => {
    f = await startFixture({ env: { DEV_FAULTS: 'true' } });
    ({ db, app } = f);
    spec = (await request(app.url).get('/openapi.json')).body as Spec;
  });

  afterAll(() => f?.stop());

  test('is OpenAPI 3.1 and every $ref in it resolves', () => {
    expect(spec.openapi).toBe('3.1.0');
    const refs = JSON.stringify(spec).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(10);
    for (const r of refs) {
      const m = /#\/components\/(\w+)\/(\w+)/.exec(r);
      const found = Boolean(m && (spec.components as Record<string, Record<string, unknown>>)[m[1]!]?.[m[2]!]);
      expect({ ref: r, found }).toEqual({ ref: r, found: true });
    }
  });

  test('describes every route of the app, and no route that does not exist', () => {
    const routesWith = (devFaults: boolean) => {
      const http = createHttpApp(
        httpDepsOf(app, {
          devFaults,
          ops: { pool: db.pool, mail: app.mail, metrics: app.metrics, stats: app.stats, live: { subscribe: () => undefined } as never, maxTries: 3, devFaults, logger: testLogger() },
          // only the routes are read: two-phase sending's routes are mounted whatever serves them
          twoPhase: { twoPhase: {} as never, security: app.security!, maxRecipients: 50, allowedHosts: [], secretOf: () => null },
        }),
      );
      // Express's routes, and the one served ahead of it (src/http/send-endpoint.ts)
      return [...routesOf((http as unknown as { router: { stack: Layer[] } }).router.stack), ...NODE_ROUTES].map((r) => {
        const [method, path] = r.split(' ');
        return `${method} ${toOpenApi(path!)}`;
      });
    };
    const routes = routesWith(false);
    const described = Object.entries(spec.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(routes.length).toBeGreaterThanOrEqual(20);
    expect(routes).toEqual(expect.arrayContaining(['POST /mail/prepare', 'POST /mail/{msgId}/commit', 'POST /mail/{msgId}/cancel', 'GET /check-back/secret']));
    expect([...routes].sort()).toEqual([...described].sort());
    // DEV_FAULTS adds only the scenarios' dev check-back and webhook receivers (src/http/dev-check-back.ts, dev-webhooks.ts), which are not the API
    expect(routesWith(true).filter((r) => !routes.includes(r)).sort()).toEqual(['GET /dev/check-back', 'GET /dev/webhooks', 'POST /dev/check-back/{decision}', 'POST /dev/webhooks']);
  });

  test('lists every status, timeline step kind, failure kind and problem code where it enumerates them', () => {
    const schemas = spec.components.schemas as Record<string, { properties: Record<string, { enum?: string[]; properties?: Record<string, unknown>; maximum?: number }> }>;
    const statuses = Object.keys(Status);
    expect(statuses).toEqual(expect.arrayContaining(['prepared', 'cancelled']));
    expect(schemas.MailView!.properties.status!.enum).toEqual(statuses);
    expect(schemas.MailView!.properties.statusCode!.maximum).toBe(Math.max(...Object.values(Status)));
    expect(schemas.MailRow!.properties.status!.enum).toEqual(statuses);
    expect(Object.keys(schemas.Stats!.properties.counts!.properties!)).toEqual(statuses);
    const listParams = (spec.paths['/api/mails']!.get as unknown as { parameters: { name: string; schema: { enum?: string[] } }[] }).parameters;
    expect(listParams.find((p) => p.name === 'status')!.schema.enum).toEqual(['all', ...statuses]);
    expect(schemas.TimelineStep!.properties.kind!.enum).toEqual(expect.arrayContaining(['prepared', 'committed', 'cancelled', 'check_back']));
    expect(schemas.Failure!.properties.kind!.enum).toEqual(Object.keys(FAILURE_KINDS));
    expect(schemas.Problem!.properties.code!.enum).toEqual(Object.keys(ERRORS));
    expect(schemas.Problem!.properties.code!.enum).toEqual(expect.arrayContaining(['MAIL_CANCELLED', 'MAIL_COMMITTED', 'MAIL_NOT_PREPARED']));
    // the 409s of commit and cancel name their codes
    const conflict = (path: string) => JSON.stringify(spec.paths[path]!.post!.responses['409']);
    expect(conflict('/mail/{msgId}/commit')).toMatch(/MAIL_CANCELLED.*MAIL_NOT_PREPARED/);
    expect(conflict('/mail/{msgId}/cancel')).toMatch(/MAIL_COMMITTED.*MAIL_NOT_PREPARED/);
  });

  test('the body of POST /mail/prepare is that of POST /mail/send without sendAt, plus checkBackUrl', () => {
    const send = spec.components.schemas.MailRequest as { properties: Record<string, unknown>; required: string[] };
    const prepare = spec.components.schemas.PreparedMailRequest as { properties: Record<string, unknown>; required: string[]; additionalProperties: unknown; example: Record<string, unknown> };
    expect(Object.keys(prepare.properties).sort()).toEqual([...Object.keys(send.properties).filter((k) => k !== 'sendAt'), 'checkBackUrl'].sort());
    expect(prepare.required.sort()).toEqual([...send.required].sort());
    expect(prepare.additionalProperties).toBe(false);
    const { checkBackUrl: _url, ...mail } = prepare.example;
    expect(validateMailRequest(mail, 1).ok).toBe(true);
  });

  test('describes every status code the routes answer with, success and failure', async () => {
    const api = () => request(app.url);
    const send = (body: unknown, fault?: string) => {
      const r = api().post('/mail/send').set('content-type', 'application/json');
      return (fault ? r.set('x-dev-fault', fault) : r).send(body as object);
    };
    // /mail
    const ok = await send({ subject: 's', content: 'c', tos: 'a@example.com' });
    expect(ok.status).toBe(202);
    const msgId = ok.body.msgId as string;
    expect((await send({ subject: '', content: 'c', tos: 'a@example.com' })).status).toBe(400);
    expect((await api().post('/mail/send').set('content-type', 'application/json').send('{"subject":')).status).toBe(400);
    expect((await api().post('/mail/send').set('content-type', 'text/plain').send('hello')).status).toBe(415);
    expect((await send({ subject: 's', content: 'x'.repeat(300_000), tos: 'a@example.com' })).status).toBe(413);
    expect((await api().get(`/mail/${msgId}`)).status).toBe(200);
    expect((await api().get('/mail/1')).status).toBe(404);
    expect((await api().post('/mail/1/retry')).status).toBe(404);
    await waitFor('consumed', async () => (await rowOf(db.pool, msgId))?.status === Status.consumed);
    expect((await api().post(`/mail/${msgId}/retry`)).status).toBe(409);
    const dead = (await send({ subject: 's', content: 'c', tos: 'a@example.com' }, 'smtp-reject')).body.msgId as string;
    await waitFor('dead', async () => (await rowOf(db.pool, dead))?.status === Status.dead);
    expect((await api().post(`/mail/${dead}/retry`)).status).toBe(202);
    expect((await api().post(`/mail/${dead}/retry`).set('content-type', 'application/json').send('{')).status).toBe(400);
    // two-phase sending
    const prepare = (body: object, key?: string) => {
      const r = api().post('/mail/prepare').set('content-type', 'application/json');
      return (key ? r.set('idempotency-key', key) : r).send(body);
    };
    const mail = { subject: 's', content: 'c', tos: 'a@example.com' };
    const key = `openapi-${Date.now()}`;
    const prepared = await prepare(mail, key);
    expect(prepared.status).toBe(201);
    const preparedId = prepared.body.msgId as string;
    expect((await prepare({ ...mail, subject: 'another' }, key)).status).toBe(422);
    expect((await prepare({ ...mail, checkBackUrl: 'https://not-allowed.example.com/x' })).status).toBe(400);
    expect((await api().post('/mail/prepare').set('content-type', 'application/json').send('{"subject":')).status).toBe(400);
    expect((await prepare({ ...mail, content: 'x'.repeat(300_000) })).status).toBe(413);
    expect((await api().post(`/mail/${preparedId}/commit`)).status).toBe(202);
    expect((await api().post(`/mail/${preparedId}/cancel`)).status).toBe(409);
    expect((await api().post(`/mail/${preparedId}/commit`).set('content-type', 'application/json').send('{')).status).toBe(400);
    expect((await api().post('/mail/1/commit')).status).toBe(404);
    const toCancel = (await prepare(mail)).body.msgId as string;
    expect((await api().post(`/mail/${toCancel}/cancel`)).status).toBe(200);
    expect((await api().post(`/mail/${toCancel}/commit`)).status).toBe(409);
    expect((await api().post(`/mail/${toCancel}/cancel`).set('content-type', 'application/json').send('{')).status).toBe(400);
    expect((await api().post('/mail/1/cancel')).status).toBe(404);
    expect((await api().get('/check-back/secret')).status).toBe(200);
    // operations
    expect((await api().get('/health')).status).toBe(200);
    expect((await api().get('/ready')).status).toBe(200);
    expect((await api().get('/metrics')).status).toBe(200);
    expect((await api().get('/openapi.json')).status).toBe(200);
    const docs = await api().get('/docs');
    expect(docs.status).toBe(200);
    expect((await api().get('/docs').set('if-none-match', docs.headers.etag!)).status).toBe(304);
    // dashboard
    const page = await api().get('/dashboard');
    expect(page.status).toBe(200);
    expect((await api().get('/dashboard').set('if-none-match', page.headers.etag!)).status).toBe(304);
    const asset = await api().get('/dashboard/assets/app.js');
    expect(asset.status).toBe(200);
    expect((await api().get('/dashboard/assets/app.js').set('if-none-match', asset.headers.etag!)).status).toBe(304);
    expect((await api().get('/dashboard/assets/missing.js')).status).toBe(404);
    expect((await api().get('/api/info')).status).toBe(200);
    expect((await api().get('/api/stats')).status).toBe(200);
    expect((await api().get('/api/mails')).status).toBe(200);
    expect((await api().get('/api/mails').query({ status: 'nope' })).status).toBe(400);
    expect((await api().get(`/api/mails/${msgId}`)).status).toBe(200);
    expect((await api().get('/api/mails/1')).status).toBe(404);
    const controller = new AbortController();
    const events = await fetch(`${app.url}/api/events`, { signal: controller.signal });
    expect(events.status).toBe(200);
    controller.abort();
    expect((await api().post('/api/mails/retry').send({ dryRun: true })).status).toBe(200);
    expect((await api().post('/api/mails/retry').send({ dryRun: false, q: 'nobody.example.com' })).status).toBe(202);
    expect((await api().post('/api/mails/retry').send({ dryRun: 1 })).status).toBe(400);
    expect((await api().post('/api/mails/retry').set('content-type', 'application/json').send('{')).status).toBe(400);
    expect((await api().post('/api/mails/retry').set('content-type', 'text/plain').send('x')).status).toBe(415);
    expect((await api().post('/api/mails/retry').send({ dryRun: true, q: 'x'.repeat(300_000) })).status).toBe(413);
    // webhooks (src/http/dashboard/webhooks.ts): a pending event cannot be retried
    const pending = webhookEvent({ type: 'delivered', mail: { msgId }, recipient: 'a@example.com' });
    await db.pool.query(WEBHOOK_SQL.insertEvents(1), [pending.eventId, pending.msgId, pending.type, pending.recipient, pending.payload]);
    expect((await api().get('/webhooks/events')).status).toBe(200);
    expect((await api().get('/webhooks/events').query({ state: 'delivered' })).status).toBe(400);
    expect((await api().post(`/webhooks/events/${pending.eventId}/retry`)).status).toBe(409);
    expect((await api().post('/webhooks/events/no-such-event/retry')).status).toBe(404);
    expect((await api().post('/webhooks/events/retry')).status).toBe(200);
    // the suppression list (src/http/suppression-routes.ts)
    expect((await api().get('/suppressions')).status).toBe(200);
    expect((await api().get('/suppressions/nobody@example.com')).status).toBe(404);
    expect((await api().delete('/suppressions/nobody@example.com')).status).toBe(404);
    await db.pool.query(`INSERT INTO suppression (address, reason, create_time, change_time) VALUES ('gone@example.com', '{"kind":"smtp-permanent","code":550}', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))`);
    await app.infra.suppressions.refresh();
    expect((await api().get('/suppressions/gone@example.com')).status).toBe(200);
    expect((await send({ subject: 's', content: 'c', tos: 'gone@example.com' })).status).toBe(422);
    expect((await api().delete('/suppressions/gone@example.com')).status).toBe(200);
    let status = 202;
    for (let i = 0; i < 10 && status !== 429; i++) status = (await api().post('/api/mails/retry').send({ dryRun: false, q: 'nobody.example.com' })).status;
    expect(status).toBe(429);

    // A request is counted once its answer finishes; the aborted event stream's never does, so it is not among these.
    const seen = (await app.metrics.httpRequests.get()).values.map((v) => ({ method: String(v.labels.method), route: String(v.labels.route), status: String(v.labels.status) }));
    const routed = seen.filter((s) => s.route !== 'unmatched');
    expect(routed.length).toBeGreaterThanOrEqual(35);
    // errors thrown inside a route are counted under that route
    expect(routed).toEqual(expect.arrayContaining([{ method: 'GET', route: '/mail/:msgId', status: '404' }, { method: 'POST', route: '/api/mails/retry', status: '429' }]));
    const undescribed = routed.filter((s) => !spec.paths[toOpenApi(s.route)]?.[s.method.toLowerCase()]?.responses[s.status]);
    expect(undescribed).toEqual([]);
  });

  test('the body of POST /mail/send is described by the zod schema that validates it', () => {
    const schema = spec.components.schemas.MailRequest as { properties: Record<string, Record<string, unknown>>; required: string[]; additionalProperties: unknown; example: unknown };
    const shape = mailRequestSchema(1).shape as Record<string, { safeParse(v: unknown): { success: boolean } }>;
    const fields = Object.keys(shape).sort();
    expect(Object.keys(schema.properties).sort()).toEqual(fields);
    // required: every field that may not be left out
    expect([...schema.required].sort()).toEqual(fields.filter((f) => !shape[f]!.safeParse(undefined).success));
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.subject).toMatchObject({ type: 'string', minLength: 1, maxLength: LIMITS.subjectMax, description: expect.any(String) });
    expect(schema.properties.content).toMatchObject({ type: 'string', maxLength: LIMITS.contentMax });
    expect(schema).not.toHaveProperty('$schema');
    expect(validateMailRequest(schema.example, 1).ok).toBe(true);
  });

  test('the docs page is served by the app and renders from /openapi.json', async () => {
    const res = await request(app.url).get('/docs');
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/<script src="\/dashboard\/assets\/docs\.js"/);
  });
});
