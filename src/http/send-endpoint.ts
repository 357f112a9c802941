// POST /mail/send, the one route that takes load, served straight from node:http ahead of Express (one pipeline:
// every request to this route, plain or chunked, compressed or not, goes through here and nowhere else). Express and
// body-parser cost about 0.2 ms of CPU per request on the development machine, twice what the request itself needs
// (docs/performance-log.md). The checks are Express's, in its order: the API key and rate limit, the same-origin
// rule (403 for a browser's request from another site, src/http/security/same-origin.ts), JSON only (415),
// at most 256 kB once decoded (413), UTF-8 (or another utf-* charset, as body-parser reads it), strict JSON, the
// hardening of src/http/security/json-guard.ts, then the route.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { ApiLoad } from '../core/api-load';
import { DEV_FAULTS, devFaultsOf, type DevFault } from '../core/mail-message';
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
import { crossSiteRequest } from './security/same-origin';

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
  /** RELIABILITY_SCHEME: which faults X-Dev-Fault may name */
  scheme?: 'msg-log' | 'delayed-check';
  logger: Logger;
  metrics?: Metrics;
}

/** The route itself, after authentication and JSON parsing: validate, accept under the security rules, 202. */
export async function acceptMail(deps: SendDeps, req: RequestView, res: ServerResponse): Promise<void> {
  const devFault = devFaultOf(req, deps.devFaults, deps.scheme);
  const result = validateMailRequest(req.body, deps.maxRecipients);
  if (!result.ok) throw new AppError('VALIDATION_FAILED', result.errors.map((e) => `${e.field}: ${e.message}`).join('; '), { errors: result.errors });
  if (devFault) fitsWithFault(result.value, devFault);
  const scheduled = result.value.sendAt !== undefined && result.value.sendAt.getTime() > Date.now();
  const replayed = scheduled ? { replayed: (msgId: string) => ({ msgId, status: 'scheduled' as const }) } : undefined;
  const accepted = await deps.security.accept(req, res, result.value.tos, (idempotency) => deps.mail.send(result.value, devFault, idempotency), replayed);
  res.setHeader('Location', `/mail/${accepted.msgId}`);
  sendJson(res, 202, JSON.stringify(accepted));
}

function devFaultOf(req: RequestView, enabled: boolean, scheme: SendDeps['scheme']): DevFault | undefined {
  const header = req.header('x-dev-fault');
  if (header === undefined) return undefined;
  if (!enabled) throw new AppError('DEV_FAULTS_DISABLED', 'X-Dev-Fault is honoured only when the process was started with DEV_FAULTS=true');
  const faults = devFaultsOf(scheme);
  if (!(faults as readonly string[]).includes(header)) {
    const why = (DEV_FAULTS as readonly string[]).includes(header) ? 'played only with RELIABILITY_SCHEME=delayed-check' : 'unknown fault';
    throw new AppError('VALIDATION_FAILED', `X-Dev-Fault must be one of ${faults.join(', ')}`, { errors: [{ field: 'X-Dev-Fault', message: why }] });
  }
  return header as DevFault;
}

/** The fault is stored with the mail: the validation's size check knows nothing of it, so a mail at the limit is checked again here. */
function fitsWithFault(m: MailRequest, devFault: DevFault): void {
  const { sendAt: _sendAt, ...stored } = m;
  const bytes = storedBytes({ ...stored, devFault });
  if (bytes <= LIMITS.storedMax) return;
  const message = `the mail is too large: stored as UTF-8 JSON with its X-Dev-Fault it takes ${bytes} bytes, at most ${LIMITS.storedMax}`;
  throw new AppError('VALIDATION_FAILED', `content: ${message}`, { errors: [{ field: 'content', message }] });
}

/** The routes served here rather than by Express (the OpenAPI test adds them to Express's routes). */
export const NODE_ROUTES = [`POST ${SEND_PATH}`] as const;

/** Express's matching: case-insensitive, a trailing slash allowed, the query string ignored. */
export function isSendRoute(req: Pick<IncomingMessage, 'method' | 'url'>): boolean {
  if (req.method !== 'POST') return false;
  const path = (req.url ?? '').split('?', 1)[0]!.replace(/\/$/, '').toLowerCase();
  return path === SEND_PATH;
}

/** The request listener of the HTTP server: POST /mail/send here, every other route to `fallback` (Express). */
export function withSendRoute(deps: SendDeps, fallback: RequestListener): RequestListener {
  return (req, res) => {
    if (!isSendRoute(req)) return fallback(req, res);
    const load = deps.apiLoad;
    if (load) {
      load.enter();
      res.once('close', () => load.leave());
    }
    void serve(deps, req, res);
  };
}

async function serve(deps: SendDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? SEND_PATH;
  const view: RequestView = { method: 'POST', path: SEND_PATH, originalUrl: url, ip: req.socket.remoteAddress, header: (name) => headerOf(req, name) };
  if (deps.metrics) observeHttp(deps.metrics, 'POST', res, () => SEND_PATH);
  try {
    // Express's order: key and rate limit, the same-origin rule, then the body, then the route
    if (!deps.security.authenticateRequest(view, res)) return;
    const crossSite = crossSiteRequest(req, deps.logger);
    if (crossSite) throw crossSite;
    const charset = jsonCharsetOf(req.headers['content-type']);
    view.body = parseJson(await readBody(req, charset));
    const unsafe = jsonProblem(view.body);
    if (unsafe) throw unsafe;
    await acceptMail(deps, view, res);
  } catch (err) {
    answerError(deps.logger, err, view, res);
  }
}

/** The charset of a JSON body (utf-8 when none is named); a form post or text/plain is refused before anything reads it. */
function jsonCharsetOf(contentType: string | undefined): string {
  const [media, ...params] = (contentType ?? '').split(';').map((p) => p.trim());
  if (media?.toLowerCase() !== 'application/json') throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'send the mail as application/json');
  const charset = params.map((p) => /^charset\s*=\s*"?([^";]+)"?$/i.exec(p)?.[1]).find(Boolean)?.toLowerCase() ?? 'utf-8';
  if (!charset.startsWith('utf-')) throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'the body must be UTF-8 JSON');
  return charset;
}

const DECODERS: Record<string, () => NodeJS.ReadWriteStream> = { gzip: createGunzip, deflate: createInflate, br: createBrotliDecompress };

/** The whole body, decompressed and decoded, at most JSON_LIMIT_BYTES once decoded (as body-parser counts it). */
async function readBody(req: IncomingMessage, charset: string): Promise<string> {
  const length = req.headers['content-length'];
  if (length !== undefined && Number(length) > JSON_LIMIT_BYTES) throw new AppError('PAYLOAD_TOO_LARGE');
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  const decode = DECODERS[encoding];
  if (!decode && encoding !== 'identity') throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'the body must be UTF-8 JSON');
  let decoder: { decode(input: Uint8Array): string };
  try {
    decoder = new TextDecoder(charset);
  } catch {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'the body must be UTF-8 JSON');
  }
  const source: Readable = decode ? req.pipe(decode() as unknown as NodeJS.WritableStream & Readable) : req;
  // Listeners rather than `for await`: an async iterator per request was a tenth of the API's allocations per mail.
  const body = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (err: Error | null) => {
      if (settled) return;
      settled = true;
      source.removeListener('data', onData);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= JSON_LIMIT_BYTES) return void chunks.push(chunk);
      req.resume(); // read and drop the rest, so the answer reaches a client still sending
      settle(new AppError('PAYLOAD_TOO_LARGE'));
    };
    // a body shorter than its Content-Length, a broken gzip body, an aborted upload: the client's fault
    const clientFault = (message: string) => settle(Object.assign(new Error(message), { status: 400 }));
    source.on('data', onData);
    source.once('end', () => settle(req.readableAborted ? Object.assign(new Error('request aborted'), { status: 400 }) : null));
    source.once('error', (err: Error) => clientFault(err.message));
    req.once('close', () => {
      if (!req.complete) clientFault('request aborted');
    });
  });
  return decoder.decode(body);
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(', ') : v;
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

