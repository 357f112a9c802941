// jest's default order, except that test/leftovers.test.ts runs last: it checks what the whole run left behind.
const path = require('node:path');
const Sequencer = require('@jest/test-sequencer').default;

class LeftoversLastSequencer extends Sequencer {
  async sort(tests) {
    const sorted = await super.sort(tests);
    const isLast = (t) => t.path === path.join(t.context.config.rootDir, 'test', 'leftovers.test.ts');
    return [...sorted.filter((t) => !isLast(t)), ...sorted.filter(isLast)];
  }
}

module.exports = LeftoversLastSequencer;
