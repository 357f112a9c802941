import { suppresses, suppressionKey } from '../../src/core/suppression';

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
