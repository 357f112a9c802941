// Makes a new API key: prints the key once (give it to the client) and the line for API_KEYS (give it to the
// server). Only the hash is configured, so a leaked configuration does not leak the key.
//   npm run apikey              # a new random key
//   npm run apikey -- --hash    # reads a key on stdin and prints only its sha256: entry (rotation of an existing key)
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

const entryFor = (key) => `sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`;
// The secret that signs this key's check-backs, as src/core/signature.ts derives it (GET /check-back/secret answers the same).
const checkBackSecretOf = (key) => `whsec_${createHmac('sha256', createHash('sha256').update(key, 'utf8').digest()).update('mail-dispatch check-back v1').digest('base64')}`;

if (process.argv.includes('--hash')) {
  const key = readFileSync(0, 'utf8').trim();
  if (key.length < 16 || /[\s,]/.test(key)) {
    process.stderr.write('a key must be at least 16 characters, without spaces or commas\n');
    process.exit(1);
  }
  process.stdout.write(`${entryFor(key)}\n`);
} else {
  const key = `mdk_${randomBytes(32).toString('base64url')}`;
  process.stdout.write(
    [
      `API key (shown once; send it as "Authorization: Bearer <key>" or "X-API-Key: <key>"):`,
      `  ${key}`,
      `For the server's configuration (append with a comma to keep older keys during a rotation):`,
      `  API_KEYS=${entryFor(key)}`,
      `The secret that signs the check-backs of mails prepared with this key (for the receiver; GET /check-back/secret answers it too):`,
      `  ${checkBackSecretOf(key)}`,
      '',
    ].join('\n'),
  );
}
