// Metric names referenced by a PromQL expression, without a full parser: strings, label matchers,
// ranges, grouping label lists and function calls are removed, and what is left that looks like
// an identifier is a metric name. Syntax is checked separately by promtool (see checkSyntax).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

const kKeywords = new Set([
  'and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left',
  'group_right', 'inf', 'nan', 'atan2', 'start', 'end',
]);

// Grafana's variables replaced by something PromQL accepts.
export function substituteGrafanaVariables(expr) {
  return expr
    .replace(/\$__(rate_interval|interval|range)\b/g, '5m')
    .replace(/\$\{__(rate_interval|interval|range)\}/g, '5m')
    .replace(/\$\{[A-Za-z_]\w*(:\w+)?\}/g, 'var')
    .replace(/\$[A-Za-z_]\w*/g, 'var');
}

export function metricNames(expr) {
  let s = substituteGrafanaVariables(expr);
  s = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""'); // strings
  s = s.replace(/#[^\n]*/g, ' '); // comments
  s = s.replace(/\{[^{}]*\}/g, ' '); // label matchers
  s = s.replace(/\[[^\]]*\]/g, ' '); // ranges and subqueries
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  s = s.replace(/\b\d+(\.\d+)?([eE][+-]?\d+)?(ms|s|m|h|d|w|y)?\b/g, ' '); // numbers, durations
  s = s.replace(/\b0x[0-9a-fA-F]+\b/g, ' ');
  const names = new Set();
  for (const m of s.matchAll(/([A-Za-z_:][\w:]*)(\s*\()?/g)) {
    if (m[2]) continue; // a function or aggregation
    if (kKeywords.has(m[1].toLowerCase())) continue;
    names.add(m[1]);
  }
  return names;
}

// Series names a catalogue of metric families allows: counters and gauges by name, histograms by
// their _bucket, _sum and _count series.
export function allowedSeries(catalogue) {
  const allowed = new Set();
  for (const { name, type } of catalogue) {
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) allowed.add(name + suffix);
    else allowed.add(name);
  }
  return allowed;
}

// Runs `promtool check rules` on every expression (as recording rules) and throws with promtool's
// output when one does not parse.
export function checkSyntax(exprs) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-promql-'));
  try {
    const file = path.join(dir, 'exprs.rules.yml');
    const rules = exprs.map((e, i) => `      - record: syntax_check_${i}\n        expr: ${JSON.stringify(substituteGrafanaVariables(e))}\n`);
    fs.writeFileSync(file, `groups:\n  - name: syntax\n    rules:\n${rules.join('')}`);
    try {
      return execFileSync('promtool', ['check', 'rules', file], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      throw new Error(`promtool rejects an expression:\n${e.stdout}${e.stderr}\n${fs.readFileSync(file, 'utf8')}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
