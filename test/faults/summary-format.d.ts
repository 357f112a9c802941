// Types for summary-format.js.
import type { CheckResult } from './checker';

export interface ScenarioCheck {
  what: string;
  ok: boolean;
  detail?: string;
}

export interface ScenarioRecord {
  scenario: string;
  /** the fault injected, in a few words */
  fault: string;
  result: CheckResult;
  ms: number;
  /** checker invariants and every scenario check held */
  ok: boolean;
  checks: ScenarioCheck[];
  line: string;
  at: string;
}

export const ORDER: readonly string[];
export const RESULTS_DIR: string;
export const SUMMARY_FILE: string;
export function formatTable(records: readonly ScenarioRecord[], opts?: { title?: string }): string;
export function readResults(dir?: string): ScenarioRecord[];
export function clearResults(dir?: string): void;
export function writeResult(record: ScenarioRecord, dir?: string): void;
export function sortRecords(records: readonly ScenarioRecord[]): ScenarioRecord[];
