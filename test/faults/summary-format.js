// Formats the fault suite's figures: one line per scenario and the summary table that docs/reliability.md
// quotes. Plain CommonJS so the jest reporter (faults-reporter.js) and the TypeScript side (harness.ts,
// scripts/chaos.ts) share one implementation; summary-format.d.ts types it.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '../..');
const RESULTS_DIR = path.join(ROOT, 'test-artifacts', 'faults');
const SUMMARY_FILE = path.join(ROOT, 'test-artifacts', 'faults-summary.md');

/** The order of the table (the issue's list); scenarios not named here come after, by name. */
const ORDER = [
  'baseline',
  'broker-down-at-accept',
  'broker-restart',
  'confirm-blackhole',
  'broker-blackhole-stuck-flows',
  'app-sigkill',
  'smtp-4xx-and-timeouts',
  'smtp-4xx',
  'smtp-hang',
  'smtp-5xx',
  'smtp-drop-after-data',
  'uncertain-policy-dead',
  'database-down',
  'database-real-stop',
  'database-blackhole',
  'duplicate-delivery',
  'racing-redelivery',
  'unroutable',
  'broker-nack',
  'poison',
  'memory-alarm',
  'time-zones',
  'delayed-check-lost-publish',
  'delayed-check-lost-confirmation',
  'delayed-check-lost-check',
  'delayed-check-broker-restart',
  'delayed-check-app-sigkill',
  'delayed-check-callback-down',
  'delayed-check-smtp-4xx',
  'delayed-check-smtp-5xx',
  'delayed-check-prefetch-backlog',
];

function rank(name) {
  const i = ORDER.indexOf(name);
  return i === -1 ? ORDER.length : i;
}

function sortRecords(records) {
  return [...records].sort((a, b) => rank(a.scenario) - rank(b.scenario) || a.scenario.localeCompare(b.scenario));
}

const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

/** A markdown table of the records, then each scenario's own checks. */
function formatTable(records, opts = {}) {
  const rows = sortRecords(records);
  const out = [];
  if (opts.title) out.push(`## ${opts.title}`, '');
  out.push('| scenario | fault | sent | consumed | dead | lost | duplicated | uncertain | time | result |');
  out.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  let sent = 0, lost = 0, dup = 0, unc = 0, consumed = 0, dead = 0;
  for (const r of rows) {
    const c = r.result;
    sent += c.accepted; consumed += c.consumed; dead += c.dead; lost += c.lost; dup += c.duplicated; unc += c.uncertain;
    const failed = (r.checks || []).filter((x) => !x.ok).length;
    const verdict = r.ok ? 'pass' : `**FAIL**${failed ? ` (${failed} check${failed > 1 ? 's' : ''})` : ''}`;
    const uncertain = c.uncertainSends ? `${c.uncertain} (${c.uncertainSends} unknown outcomes)` : String(c.uncertain);
    out.push(`| ${r.scenario} | ${r.fault} | ${c.accepted} | ${c.consumed} | ${c.dead} | ${c.lost} | ${c.duplicated} | ${uncertain} | ${secs(r.ms)} | ${verdict} |`);
  }
  if (rows.length > 1) out.push(`| **total** | ${rows.length} scenarios | ${sent} | ${consumed} | ${dead} | ${lost} | ${dup} | ${unc} | ${secs(rows.reduce((s, r) => s + r.ms, 0))} | ${rows.every((r) => r.ok) ? 'pass' : '**FAIL**'} |`);
  const detailed = rows.filter((r) => (r.checks || []).length);
  if (detailed.length) {
    out.push('', 'What each scenario checked besides the invariants (✓ held, ✗ did not):', '');
    for (const r of detailed) {
      out.push(`- **${r.scenario}**: ${r.checks.map((x) => `${x.ok ? '✓' : '✗'} ${x.what}${x.detail ? ` (${x.detail})` : ''}`).join('; ')}`);
    }
  }
  return out.join('\n') + '\n';
}

function readResults(dir = RESULTS_DIR) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
}

function clearResults(dir = RESULTS_DIR) {
  fs.rmSync(dir, { recursive: true, force: true });
}

function writeResult(record, dir = RESULTS_DIR) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${record.scenario}.json`), JSON.stringify(record, null, 2));
}

module.exports = { ORDER, RESULTS_DIR, SUMMARY_FILE, formatTable, readResults, clearResults, writeResult, sortRecords };
