import pino from 'pino';
import { suppresses, suppressionKey } from '../../src/core/suppression';
import { SuppressionList } from '../../src/store/suppression-list';
import type { SuppressionRepo } from '../../src/store/suppression-repo';
import { sleep, waitFor } from '../support/wait';

describe('which refusals put an address on the suppression list', () => {
  test('a refusal whose enhanced code says the address is bad (5.1.x) or its mailbox disabled (5.2.1) suppresses it', () => {
    expect(suppresses({ kind: 'smtp-permanent', code: 550, enhanced: '5.1.1', command: 'RCPT TO' })).toBe(true);
    expect(suppresses({ kind: 'smtp-permanent', code: 550, enhanced: '5.1.10', command: 'DATA' })).toBe(true);
    expect(suppresses({ kind: 'smtp-permanent', code: 550, enhanced: '5.2.1', command: 'RCPT TO' })).toBe(true);
  });

  test('a refusal about the mail or the sender (policy, spam, relaying, a full mailbox) suppresses nothing', () => {
    expect(suppresses({ kind: 'smtp-permanent', code: 550, enhanced: '5.7.1', command: 'RCPT TO' })).toBe(false);
    expect(suppresses({ kind: 'smtp-permanent', code: 554, enhanced: '5.7.0', command: 'DATA' })).toBe(false);
    expect(suppresses({ kind: 'smtp-permanent', code: 552, enhanced: '5.2.2', command: 'RCPT TO' })).toBe(false);
  });

  test('without an enhanced code only a 550, 551 or 553 at RCPT TO suppresses; after DATA it could be about the content', () => {
    expect(suppresses({ kind: 'smtp-permanent', code: 550, command: 'RCPT TO' })).toBe(true);
    expect(suppresses({ kind: 'smtp-permanent', code: 553, command: 'RCPT TO' })).toBe(true);
    expect(suppresses({ kind: 'smtp-permanent', code: 554, command: 'RCPT TO' })).toBe(false);
    expect(suppresses({ kind: 'smtp-permanent', code: 550, command: 'DATA', detail: '550 injected permanent failure (DEV_FAULTS)' })).toBe(false);
  });

  test('transient refusals and failures that are not refusals never suppress', () => {
    expect(suppresses({ kind: 'smtp-transient', code: 450, enhanced: '4.1.1', command: 'RCPT TO' })).toBe(false);
    expect(suppresses({ kind: 'relay-down', code: 554 })).toBe(false);
    expect(suppresses(null)).toBe(false);
  });

  test('addresses are kept lower-cased and trimmed, so one address is one entry', () => {
    expect(suppressionKey(' Gone@Example.COM ')).toBe('gone@example.com');
  });
});

describe('each process\'s copy of the suppression list', () => {
  const quietRepo = { changes: async () => [] } as unknown as SuppressionRepo;
  const logger = pino({ level: 'silent' });

  test('an address one thread suppressed is known to the other copies on the same database at once, and not to those of another database', async () => {
    const listener = new SuppressionList({ repo: quietRepo, logger, channel: 'db_one' });
    const api = new SuppressionList({ repo: quietRepo, logger, channel: 'db_one' });
    const elsewhere = new SuppressionList({ repo: quietRepo, logger, channel: 'db_two' });
    try {
      listener.note('Gone@Example.com');
      expect(listener.has('gone@example.com')).toBe(true);
      await waitFor('the other copy knows', () => api.has('GONE@example.com'), 2_000, 5);
      await sleep(50); // a window in which the other database's copy must not learn it
      expect(elsewhere.has('gone@example.com')).toBe(false);
    } finally {
      await Promise.all([listener.stop(), api.stop(), elsewhere.stop()]);
    }
  });
});
