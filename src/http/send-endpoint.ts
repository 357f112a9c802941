// POST /mail/send, the one route that takes load. Express serves it like every other route, and in front of
// Express a hot path serves the plain requests (JSON with a Content-Length, no compression) straight from
// node:http: Express and body-parser cost about 0.2 ms of CPU per request on the development machine, twice
// what the request itself needs (measured in the README's Performance section). Both run the same checks, in
// the same order, from the same functions, and test/integration/send-endpoint.int.test.ts compares their answers.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { ApiLoad } from '../core/api-load';
import { DEV_FAULTS, type DevFault } from '../core/mail-message';
import { LIMITS, storedBytes, validateMailRequest, type MailRequest } from '../core/validation';
import { AppError } from '../errors';
import type { Logger } from '../logger';
import type { Metrics } from '../observability/metrics';
import type { MailService } from '../services/mail-service';
import { observeHttp } from './dashboard/routes';
import { answerError, sendJson } from './problem';
import type { RequestView } from './request-view';
import type { HttpSecurity } from './security';
import { jsonProblem } from './security/json-guard';

export const SEND_PATH = '/mail/send';
/** The body limit, as express.json({ limit: '256kb' }) counts it. */
export const JSON_LIMIT_BYTES = 256 * 1024;

export interface SendDeps {
  /** counts the sends in progress, for the listener to yield to (src/listener/yield-gate.ts) */
  apiLoad?: ApiLoad;
  mail: MailService;
  security: HttpSecurity;
  maxRecipients: number;
  devFaults: boolean;
  logger: Logger;
  metrics?: Metrics;
}

/** The route itself, after authentication and JSON parsing: validate, accept under the security rules, 202. */
export async function acceptMail(deps: SendDeps, req: RequestView, res: ServerResponse): Promise<void> {
  const devFault = devFaultOf(req, deps.devFaults);
  const result = validateMailRequest(req.body, deps.maxRecipients);
  if (!result.ok) throw new AppError('VALIDATION_FAILED', result.errors.map((e) => `${e.field}: ${e.message}`).join('; '), { errors: result.errors });
  if (devFault) fitsWithFault(result.value, devFault);
  const accepted = await deps.security.accept(req, res, result.value, (idempotency) => deps.mail.send(result.value, devFault, idempotency));
  res.setHeader('Location', `/mail/${accepted.msgId}`);
  sendJson(res, 202, JSON.stringify(accepted));
}

function devFaultOf(req: RequestView, enabled: boolean): DevFault | undefined {
  const header = req.header('x-dev-fault');
  if (header === undefined) return undefined;
  if (!enabled) throw new AppError('DEV_FAULTS_DISABLED', 'X-Dev-Fault is honoured only when the process was started with DEV_FAULTS=true');
  if (!(DEV_FAULTS as readonly string[]).includes(header)) throw new AppError('VALIDATION_FAILED', `X-Dev-Fault must be one of ${DEV_FAULTS.join(', ')}`, { errors: [{ field: 'X-Dev-Fault', message: 'unknown fault' }] });
  return header as DevFault;
}

/** The fault is stored with the mail: the validation's size check knows nothing of it, so a mail at the limit is checked again here. */
function fitsWithFault(m: MailRequest, devFault: DevFault): void {
  const bytes = storedBytes({ subject: m.subject, content: m.content, tos: m.tos, devFault });
  if (bytes <= LIMITS.storedMax) return;
  const message = `the mail is too large: stored as UTF-8 JSON with its X-Dev-Fault it takes ${bytes} bytes, at most ${LIMITS.storedMax}`;
  throw new AppError('VALIDATION_FAILED', `content: ${message}`, { errors: [{ field: 'content', message }] });
}

const PLAIN_JSON = /^application\/json[ \t]*(?:;[ \t]*charset=(?:utf-8|"utf-8")[ \t]*)?$/i;

/** The requests the hot path serves; everything else (and every other route) goes to Express. */
export function isPlainSend(req: IncomingMessage): boolean {
  const h = req.headers;
  const length = h['content-length'];
  return (
    req.method === 'POST' &&
    req.url === SEND_PATH &&
    PLAIN_JSON.test(h['content-type'] ?? '') &&
    (h['content-encoding'] === undefined || h['content-encoding'] === 'identity') &&
    h['transfer-encoding'] === undefined &&
    length !== undefined &&
    /^\d{1,7}$/.test(length) &&
    Number(length) <= JSON_LIMIT_BYTES
  );
}

/** The request listener of the HTTP server: plain sends on the hot path, the rest to `fallback` (Express). */
export function withSendHotPath(deps: SendDeps, fallback: RequestListener): RequestListener {
  return (req, res) => {
    if (!isPlainSend(req)) return fallback(req, res);
    const load = deps.apiLoad;
    if (load) {
      load.enter();
      res.once('close', () => load.leave());
    }
    void serve(deps, req, res);
  };
}

async function serve(deps: SendDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const view: RequestView = { method: 'POST', path: SEND_PATH, originalUrl: SEND_PATH, ip: req.socket.remoteAddress, header: (name) => headerOf(req, name) };
  if (deps.metrics) observeHttp(deps.metrics, 'POST', res, () => SEND_PATH);
  try {
    // the order of Express's stack: key and rate limit, then the body, then the route
    if (!deps.security.authenticateRequest(view, res)) return;
    view.body = parseJson(await readBody(req));
    const unsafe = jsonProblem(view.body);
    if (unsafe) throw unsafe;
    await acceptMail(deps, view, res);
  } catch (err) {
    answerError(deps.logger, err, view, res);
  }
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** The whole body; its size is bounded by the Content-Length that isPlainSend checked (node enforces it). */
function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
    req.on('aborted', () => reject(Object.assign(new Error('request aborted'), { status: 400 })));
  });
}

/** body-parser's strict JSON: an empty body is {}, a leading BOM is dropped, and only an object or array parses. */
export function parseJson(text: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (body.length === 0) return {};
  const first = /^[\x20\x09\x0a\x0d]*(.)/.exec(body)?.[1];
  if (first !== '{' && first !== '[') throw new AppError('MALFORMED_JSON', 'the body could not be parsed as JSON');
  try {
    return JSON.parse(body);
  } catch {
    throw new AppError('MALFORMED_JSON', 'the body could not be parsed as JSON');
  }
}

