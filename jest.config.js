// Unit tests (test/unit) need nothing; integration tests (test/integration) use the real RabbitMQ, MariaDB and a loopback SMTP sink.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }] },
  testTimeout: 60_000,
  // Every suite closes what it opened, but a third-party socket or timer still settling must never keep CI waiting.
  forceExit: true,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
};
