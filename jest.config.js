// Unit tests (test/unit) need nothing; integration tests (test/integration) use the real RabbitMQ, MariaDB and a loopback SMTP sink.
// The fault suite (test/faults, see jest.faults.config.js) runs here too, so `npm test` and CI play every scenario;
// its reporter writes the scenarios' figures to test-artifacts/faults-summary.md.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }] },
  testTimeout: 60_000,
  // Every suite closes what it opened, but a third-party socket or timer still settling must never keep CI waiting.
  forceExit: true,
  // One token per run in every name the tests create; test/leftovers.test.ts, run last, checks none is left.
  globalSetup: '<rootDir>/test/support/run-id.js',
  // the local RabbitMQ cluster goes down at the end of the run that started it (test/support/cluster.ts)
  globalTeardown: '<rootDir>/test/support/cluster-teardown.js',
  testSequencer: '<rootDir>/test/support/last-sequencer.js',
  reporters: ['default', '<rootDir>/test/faults/faults-reporter.js', '<rootDir>/test/support/summary-reporter.js'],
};
