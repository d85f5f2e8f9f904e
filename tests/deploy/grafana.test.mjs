// deploy/grafana/bulwark-dashboard.json: valid JSON, a well-formed dashboard, and every query
// (panel targets and template variables) parses (promtool) and names only catalogued metrics or
// the recording rules of deploy/prometheus.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { kDeploy, loadCatalogue, recordingRuleNames } from './lib/common.mjs';
import { allowedSeries, checkSyntax, metricNames } from './lib/promql.mjs';

const kDashboardFile = path.join(kDeploy, 'grafana', 'bulwark-dashboard.json');

function loadDashboard() {
  const text = fs.readFileSync(kDashboardFile, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${kDashboardFile} is not valid JSON: ${e.message}`);
  }
}

// Every panel, rows' nested panels included.
function allPanels(dashboard) {
  const out = [];
  const walk = (panels) => {
    for (const p of panels ?? []) {
      out.push(p);
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  return out;
}

// [{where, expr}] for every PromQL query: panel targets, and template variables' label_values()
// or query_result() arguments.
function queries(dashboard) {
  const out = [];
  for (const p of allPanels(dashboard)) {
    for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr });
  }
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    const m = /^\s*(?:label_values|query_result)\((.*?)(?:,\s*\w+)?\)\s*$/.exec(q ?? '');
    assert.ok(m, `variable ${v.name}: unsupported query ${JSON.stringify(q)}`);
    out.push({ where: `variable ${v.name}`, expr: m[1] });
  }
  return out;
}

test('the dashboard is valid JSON with the fields Grafana needs', () => {
  const d = loadDashboard();
  assert.equal(typeof d.title, 'string');
  assert.equal(typeof d.uid, 'string');
  assert.ok(d.uid.length > 0 && d.uid.length <= 40, 'uid length');
  assert.equal(typeof d.schemaVersion, 'number');
  const panels = allPanels(d);
  const ids = panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  for (const p of panels) {
    assert.ok(p.title, `panel ${p.id} has a title`);
    for (const k of ['x', 'y', 'w', 'h']) assert.equal(typeof p.gridPos?.[k], 'number', `panel "${p.title}" gridPos.${k}`);
    assert.ok(p.gridPos.x + p.gridPos.w <= 24, `panel "${p.title}" fits the 24-column grid`);
    if (p.type === 'row') continue;
    assert.ok((p.targets ?? []).length > 0, `panel "${p.title}" has queries`);
    assert.equal(p.datasource?.uid, '${datasource}', `panel "${p.title}" uses the datasource variable`);
    const refIds = p.targets.map((t) => t.refId);
    assert.equal(new Set(refIds).size, refIds.length, `panel "${p.title}" refIds are unique`);
    for (const t of p.targets) {
      assert.equal(typeof t.expr, 'string', `panel "${p.title}" ${t.refId} expr`);
      assert.match(t.expr, /job=~"\$job"/, `panel "${p.title}" ${t.refId} filters on $job`);
    }
  }
  const vars = (d.templating?.list ?? []).map((v) => v.name);
  for (const v of ['datasource', 'namespace', 'job']) assert.ok(vars.includes(v), `variable ${v}`);
});

test('panels do not overlap', () => {
  const cells = new Map();
  for (const p of allPanels(loadDashboard())) {
    const { x, y, w, h } = p.gridPos;
    for (let r = y; r < y + h; r++) {
      for (let c = x; c < x + w; c++) {
        const key = `${r},${c}`;
        assert.ok(!cells.has(key), `panels "${cells.get(key)}" and "${p.title}" overlap at row ${r} column ${c}`);
        cells.set(key, p.title);
      }
    }
  }
});

test('every query parses (promtool check rules)', () => {
  const exprs = queries(loadDashboard()).map((q) => q.expr);
  assert.ok(exprs.length >= 20, `only ${exprs.length} queries`);
  assert.match(checkSyntax(exprs), /SUCCESS/);
});

test('every query names only catalogued metrics or recording rules', () => {
  const allowed = allowedSeries(loadCatalogue());
  const rules = recordingRuleNames();
  const problems = [];
  for (const { where, expr } of queries(loadDashboard())) {
    const names = metricNames(expr);
    if (names.size === 0 && !/\btime\(\)/.test(expr)) problems.push(`${where}: no metric in ${expr}`);
    for (const n of names) if (!allowed.has(n) && !rules.has(n)) problems.push(`${where}: unknown metric ${n}`);
  }
  assert.deepEqual(problems, []);
});

test('label matchers on catalogued metrics use their labels (or target labels)', () => {
  const catalogue = new Map(loadCatalogue().map((m) => [m.name, m]));
  const kTargetLabels = ['namespace', 'job', 'instance', 'pod'];
  const problems = [];
  for (const { where, expr } of queries(loadDashboard())) {
    for (const m of expr.matchAll(/([A-Za-z_:][\w:]*)\{([^}]*)\}/g)) {
      const family = catalogue.get(m[1]) ?? catalogue.get(m[1].replace(/_(bucket|sum|count)$/, ''));
      if (!family) continue;
      const allowed = new Set([...family.labels, ...kTargetLabels, ...(m[1].endsWith('_bucket') ? ['le'] : [])]);
      for (const lm of m[2].matchAll(/(\w+)\s*(=~|!~|!=|=)/g)) {
        if (!allowed.has(lm[1])) problems.push(`${where}: ${m[1]} has no label ${lm[1]}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

test('the dashboard covers the catalogue topics issue 5 asks for', () => {
  const used = new Set();
  for (const { expr } of queries(loadDashboard())) for (const n of metricNames(expr)) used.add(n);
  const wanted = {
    'error rate by class': 'bulwark:request_error_ratio_by_outcome:rate5m',
    'errors by class and tool': 'bulwark_errors_total',
    retries: 'bulwark_retries_total',
    'retries per request': 'bulwark:retries:rate5m',
    'recovery time': 'bulwark:recovery_duration_seconds:p95_rate5m',
    recoveries: 'bulwark:recoveries:rate5m',
    cache: 'bulwark_cache_requests_total',
    'circuit state': 'bulwark_circuit_state',
    'circuit transitions': 'bulwark_circuit_transitions_total',
    fallbacks: 'bulwark_fallbacks_total',
    'upstream attempts': 'bulwark_upstream_attempts_total',
    'latency quantiles': 'bulwark:request_duration_seconds:p95_rate5m',
    'log completeness': 'bulwark:log_records:rate5m',
    'budget exhaustion': 'bulwark_retry_budget_exhausted_total',
    'config reloads': 'bulwark_config_reloads_total',
    'resident memory': 'process_resident_memory_bytes',
    sessions: 'bulwark_sessions_active',
    'upstream health': 'bulwark_upstream_up',
  };
  const missing = Object.entries(wanted).filter(([, metric]) => !used.has(metric)).map(([topic]) => topic);
  assert.deepEqual(missing, []);
});
