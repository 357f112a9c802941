// The fault suite (npm run test:faults): real RabbitMQ, MariaDB and SMTP sink, with faults injected; one scenario
// per file under test/faults, run one at a time. The checker's unit tests run here too. See docs/reliability.md.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test/faults'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }] },
  testTimeout: 180_000,
  maxWorkers: 1,
  globalSetup: '<rootDir>/test/support/run-id.js',
  // the local RabbitMQ cluster goes down at the end of the run that started it (test/support/cluster.ts)
  globalTeardown: '<rootDir>/test/support/cluster-teardown.js',
  reporters: ['default', '<rootDir>/test/faults/faults-reporter.js', '<rootDir>/test/support/summary-reporter.js'],
};
