// Two-phase sending's pure rules: which check-back URLs are allowed, what the question says, and what an answer
// decides. The HTTP exchange itself is src/jobs/check-back-job.ts.
import type { Failure } from './failure';

export type Decision = 'commit' | 'cancel';

/** At most this much of an answer is read: {"decision":"commit"} needs 22 bytes. */
export const MAX_ANSWER_BYTES = 4_096;

/**
 * CHECKBACK_ALLOWED_HOSTS: host names (or host:port) a check-back may go to, compared exactly, lower case. Nothing
 * else is ever asked, so a caller cannot make the server reach an address of its own network.
 */
export function parseAllowedHosts(raw: string): string[] {
  return raw.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);
}

/** Why `raw` may not be a check-back URL, or null when it may. */
export function checkBackUrlProblem(raw: string, allowed: readonly string[]): string | null {
  if (raw.length > 2048) return 'checkBackUrl is longer than 2048 characters';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'checkBackUrl is not an absolute URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'checkBackUrl must be an http:// or https:// URL';
  if (url.username || url.password) return 'checkBackUrl must not carry credentials';
  const host = url.hostname.toLowerCase();
  const hostPort = url.port ? `${host}:${url.port}` : host;
  if (!allowed.includes(host) && !allowed.includes(hostPort)) {
    return allowed.length === 0
      ? 'check-backs are off: the server allows no check-back host (CHECKBACK_ALLOWED_HOSTS is empty)'
      : `the host ${hostPort} is not in the server's CHECKBACK_ALLOWED_HOSTS`;
  }
  return null;
}

/** The question's body: at least msgId, subject and preparedAt. */
export function checkBackBody(m: { msgId: string; subject: string; tos: string[]; preparedAt: Date; attempt: number }): string {
  return JSON.stringify({ type: 'mail.check_back', msgId: m.msgId, subject: m.subject, tos: m.tos, preparedAt: m.preparedAt.toISOString(), attempt: m.attempt });
}

/** 200 with {"decision":"commit"} or {"decision":"cancel"} decides; any other answer is undecided. */
export function decisionOf(status: number, body: string): Decision | null {
  if (status !== 200) return null;
  try {
    const d = (JSON.parse(body) as { decision?: unknown } | null)?.decision;
    return d === 'commit' || d === 'cancel' ? d : null;
  } catch {
    return null;
  }
}

/** What to record when the check-back decided nothing: the answer's status, or why there was none. */
export function undecidedFailure(answer: { status: number } | { error: string }): Failure {
  if ('error' in answer) return { kind: 'check-back-unreachable', detail: answer.error };
  return { kind: 'check-back-undecided', code: answer.status };
}
