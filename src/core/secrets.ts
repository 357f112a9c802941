// Keeping secrets out of text that is logged, stored (msg_log.last_error) or answered: the password of a URL in
// every form it travels in (raw, %-decoded, and inside the base64 of SMTP AUTH PLAIN/LOGIN), replaced by ***.

/** The strings that would reveal the password of `url` (empty when it has none). */
export function secretsOfUrl(url: string | undefined): string[] {
  if (!url) return [];
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return [];
  }
  if (!u.password) return [];
  const user = safeDecode(u.username);
  const pass = safeDecode(u.password);
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  return [...new Set([u.password, pass, b64(pass), b64(`\u0000${user}\u0000${pass}`), b64(`${user}\u0000${user}\u0000${pass}`)])].filter((s) => s.length >= 3);
}

/** `text` with every secret replaced by ***. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s && out.includes(s)) out = out.split(s).join('***');
  return out;
}

/** A copy of an error-like object whose message and SMTP response no longer hold any of `secrets`. */
export function scrubError<T>(err: T, secrets: readonly string[]): T {
  if (secrets.length === 0 || typeof err !== 'object' || err === null) return err;
  const e = err as unknown as { message?: unknown; response?: unknown };
  const copy = Object.assign(Object.create(Object.getPrototypeOf(err) as object) as object, err) as { message?: unknown; response?: unknown; stack?: unknown };
  if (typeof e.message === 'string') copy.message = scrubSecrets(e.message, secrets);
  if (typeof e.response === 'string') copy.response = scrubSecrets(e.response, secrets);
  copy.stack = undefined;
  return copy as unknown as T;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
