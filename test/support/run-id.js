// jest's globalSetup: one token for the whole run, carried by every name a test creates on the shared services
// (test/support/services.ts uniqueName), so test/leftovers.test.ts can find what this run left behind.
const { randomBytes } = require('node:crypto');

module.exports = async () => {
  process.env.TEST_RUN_ID ??= `r${randomBytes(3).toString('hex')}`;
};
