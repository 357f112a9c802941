// Jest reporter for the fault suite: at the end of a run that played fault scenarios, writes their summary table to
// test-artifacts/faults-summary.md and prints it (docs/reliability.md quotes it).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { clearResults, formatTable, readResults, sortRecords, SUMMARY_FILE } = require('./summary-format');

class FaultsReporter {
  onRunStart() {
    clearResults();
  }

  onRunComplete() {
    const records = readResults();
    if (records.length === 0) return;
    const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const table = formatTable(records);
    const header = `# Fault suite: figures measured\n\n${when}, \`npm run test:faults\` on ${require('node:os').hostname()} (node ${process.version}, ${require('node:os').cpus().length} CPUs).\n\n`;
    fs.mkdirSync(path.dirname(SUMMARY_FILE), { recursive: true });
    fs.writeFileSync(SUMMARY_FILE, header + table);
    process.stdout.write(`\nFault scenarios (${path.relative(process.cwd(), SUMMARY_FILE)}):\n\n${sortRecords(records).map((r) => r.line).join('\n')}\n\n${table}`);
  }
}

module.exports = FaultsReporter;
