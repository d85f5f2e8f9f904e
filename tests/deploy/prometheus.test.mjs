// deploy/prometheus: the rule files are valid (promtool check rules), their unit tests pass
// (promtool test rules), every alert and severity is exercised by a firing and a quiet case, and
// every expression names only catalogued metrics or the recording rules defined here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { kDeploy, kRuleFiles, kTestDir, loadCatalogue, readYaml, recordingRuleNames, run } from './lib/common.mjs';
import { allowedSeries, metricNames } from './lib/promql.mjs';
import { validateObject } from './lib/k8s.mjs';
import YAML from 'yaml';

const kPromDir = path.join(kDeploy, 'prometheus');
const kUnitTests = fs.readdirSync(path.join(kTestDir, 'prometheus'))
  .filter((f) => f.endsWith('.test.yml'))
  .map((f) => path.join(kTestDir, 'prometheus', f));

// The seed's thresholds: each must have a warning at the threshold and a critical beyond it.
// A string is the configured threshold (monitoring.alert_threshold, exported by Bulwark) as a
// recording rule whose default is in kConfiguredThresholds.
const kSeedAlerts = {
  BulwarkErrorRateHigh: { warning: 'bulwark:alert_threshold_error_rate:min',
                          critical: '2 * bulwark:alert_threshold_error_rate:min' },
  BulwarkRecoveryTimeHigh: { warning: 'bulwark:alert_threshold_recovery_time_seconds:min',
                             critical: '2 * bulwark:alert_threshold_recovery_time_seconds:min' },
  BulwarkRetriesPerRequestHigh: { warning: 2, critical: 4 },
  BulwarkLogRecordsMissing: { warning: null, critical: 0.90 },
};
// Each configured threshold: the bulwark_alert_threshold name it reads, and the seed's default
// it falls back to when the gauge is absent.
const kConfiguredThresholds = {
  'bulwark:alert_threshold_error_rate:min': { name: 'error_rate', fallback: 0.05 },
  'bulwark:alert_threshold_recovery_time_seconds:min': { name: 'recovery_time', fallback: 5 },
};

function alertRules() {
  return readYaml(path.join(kPromDir, 'bulwark-alerts.rules.yml')).groups.flatMap((g) => g.rules);
}

test('promtool check rules accepts both rule files', () => {
  const out = run('promtool', ['check', 'rules', ...kRuleFiles]);
  assert.equal((out.match(/SUCCESS/g) ?? []).length, kRuleFiles.length, out);
});

test('promtool check config accepts the example configuration and loads both rule files', () => {
  const out = run('promtool', ['check', 'config', path.join(kPromDir, 'prometheus.example.yml')]);
  assert.match(out, /SUCCESS: 2 rule files found/);
});

test('promtool test rules: every unit test passes', () => {
  assert.ok(kUnitTests.length >= 2, `unit test files: ${kUnitTests}`);
  const out = run('promtool', ['test', 'rules', ...kUnitTests]);
  assert.equal((out.match(/SUCCESS/g) ?? []).length, kUnitTests.length, out);
  assert.doesNotMatch(out, /FAILED/);
});

test('prometheusrule.sh wraps exactly these rules in a valid PrometheusRule', async () => {
  const text = run(path.join(kPromDir, 'prometheusrule.sh'), ['bulwark-rules']);
  const obj = YAML.parse(text);
  assert.equal(obj.metadata.name, 'bulwark-rules');
  assert.deepEqual(await validateObject(obj), []);
  const groups = kRuleFiles.flatMap((f) => readYaml(f).groups);
  assert.deepEqual(obj.spec.groups, groups);
});

test('each seed threshold has a warning at the threshold and a critical beyond it', () => {
  const rules = alertRules();
  for (const [alert, tiers] of Object.entries(kSeedAlerts)) {
    for (const [severity, threshold] of Object.entries(tiers)) {
      const rule = rules.find((r) => r.alert === alert && r.labels?.severity === severity);
      assert.ok(rule, `${alert} has no ${severity} rule`);
      if (typeof threshold === 'string') {
        const expr = rule.expr.trim().replace(/\s+/g, ' ');
        assert.ok(expr.endsWith(`>= on (namespace, job) ${threshold}`),
                  `${alert}/${severity}: expr does not compare against ${threshold}: ${rule.expr}`);
      } else if (threshold !== null) {
        const m = /([<>]=?)\s*([\d.]+)\s*$/.exec(rule.expr.trim());
        assert.ok(m, `${alert}/${severity}: expr does not end in a comparison: ${rule.expr}`);
        assert.equal(Number(m[2]), threshold, `${alert}/${severity} threshold`);
      }
      for (const key of ['summary', 'description']) {
        assert.ok(rule.annotations?.[key], `${alert}/${severity} lacks annotation ${key}`);
      }
    }
  }
  for (const rule of rules) {
    assert.ok(['warning', 'critical'].includes(rule.labels?.severity), `${rule.alert}: severity ${rule.labels?.severity}`);
  }
});

test('configured thresholds read bulwark_alert_threshold and fall back to the seed default', () => {
  const recording = readYaml(kRuleFiles.find((f) => f.endsWith('recording.rules.yml')))
    .groups.flatMap((g) => g.rules);
  for (const [record, { name, fallback }] of Object.entries(kConfiguredThresholds)) {
    const rule = recording.find((r) => r.record === record);
    assert.ok(rule, `no recording rule ${record}`);
    const expr = rule.expr.trim().replace(/\s+/g, ' ');
    assert.ok(expr.startsWith(`min by (namespace, job) (bulwark_alert_threshold{name="${name}"}) or `), expr);
    assert.ok(expr.endsWith(`* 0 + ${fallback}`), `${record}: default ${fallback}: ${expr}`);
  }
});

test('every alert and severity is unit-tested firing, and every alert quiet', () => {
  const fired = new Set();
  const quiet = new Set();
  for (const file of kUnitTests) {
    for (const t of readYaml(file).tests) {
      for (const a of t.alert_rule_test ?? []) {
        if ((a.exp_alerts ?? []).length === 0) quiet.add(a.alertname);
        for (const e of a.exp_alerts ?? []) fired.add(`${a.alertname}/${e.exp_labels?.severity}`);
      }
    }
  }
  for (const rule of alertRules()) {
    assert.ok(fired.has(`${rule.alert}/${rule.labels.severity}`), `no test where ${rule.alert}/${rule.labels.severity} fires`);
    assert.ok(quiet.has(rule.alert), `no test where ${rule.alert} stays quiet`);
  }
});

test('every recording rule is unit-tested', () => {
  const tested = new Set();
  for (const file of kUnitTests) {
    for (const t of readYaml(file).tests) {
      for (const e of t.promql_expr_test ?? []) for (const n of metricNames(e.expr)) tested.add(n);
    }
  }
  const untested = [...recordingRuleNames()].filter((n) => !tested.has(n));
  // Rules that only feed other rules are covered through them.
  const intermediate = new Set(['bulwark:requests_not_cancelled:rate5m', 'bulwark:request_errors:rate5m',
    'bulwark:retries:rate5m', 'bulwark:errors:rate5m', 'bulwark:log_records:rate5m']);
  assert.deepEqual(untested.filter((n) => !intermediate.has(n)), []);
});

test('rule expressions name only catalogued metrics and recording rules defined before them', () => {
  const allowed = allowedSeries(loadCatalogue());
  const defined = new Set();
  const problems = [];
  for (const file of kRuleFiles) {
    for (const group of readYaml(file).groups) {
      for (const rule of group.rules) {
        for (const name of metricNames(rule.expr)) {
          if (!allowed.has(name) && !defined.has(name) && !recordingRuleNames().has(name)) {
            problems.push(`${path.basename(file)} ${rule.record ?? rule.alert}: unknown metric ${name}`);
          }
        }
        if (rule.record) defined.add(rule.record);
      }
    }
  }
  assert.deepEqual(problems, []);
});

test('recording rules follow the level:metric:operations naming and keep namespace and job', () => {
  for (const file of kRuleFiles) {
    for (const group of readYaml(file).groups) {
      for (const rule of group.rules.filter((r) => r.record)) {
        assert.match(rule.record, /^bulwark:[a-z0-9_]+:[a-z0-9_]+$/, rule.record);
        // Either aggregates by (namespace, job, ...) or combines rules that do.
        const byLists = [...rule.expr.matchAll(/\bby\s*\(([^)]*)\)/g)].map((m) => m[1]);
        for (const list of byLists) {
          const labels = list.split(',').map((s) => s.trim());
          assert.ok(labels.includes('namespace') && labels.includes('job'), `${rule.record}: by (${list})`);
        }
      }
    }
  }
});

test('the metric-name extraction finds what it should (self-check)', () => {
  const names = metricNames(
    'sum by (namespace, le) (rate(foo_bucket{a="b", c=~"x|y"}[5m])) / on (job) group_left bar:baz:rate5m ' +
      '> bool 0.5 or histogram_quantile(0.9, qux[$__rate_interval] offset 1h) unless up',
  );
  assert.deepEqual([...names].sort(), ['bar:baz:rate5m', 'foo_bucket', 'qux', 'up']);
  assert.ok(!allowedSeries(loadCatalogue()).has('up'));
  assert.ok(allowedSeries(loadCatalogue()).has('bulwark_recovery_duration_seconds_bucket'));
});
