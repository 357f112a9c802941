// jest's globalTeardown: the local RabbitMQ cluster (scripts/cluster.sh) goes down at the end of the run that
// started it (test/support/cluster.ts clusterForRun wrote this run's token); a cluster someone else started stays.
const { readFileSync } = require('node:fs');
const { spawnSync } = require('node:child_process');
const { tmpdir } = require('node:os');
const path = require('node:path');

module.exports = async () => {
  let startedBy = null;
  try {
    startedBy = readFileSync(path.join(tmpdir(), 'mail-dispatch-cluster', 'started-by-test-run'), 'utf8');
  } catch {
    return; // no cluster, or not started by a test run
  }
  if (startedBy !== process.env.TEST_RUN_ID) return;
  spawnSync('bash', [path.join(__dirname, '..', '..', 'scripts', 'cluster.sh'), 'down'], { stdio: 'inherit', timeout: 120_000 });
};
