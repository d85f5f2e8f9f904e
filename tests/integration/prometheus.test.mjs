// Bulwark's metrics as a real Prometheus server sees them, checked against the client and the
// upstream. The faulty fixture (JSON replies) fails 25 % of read_data attempts with a seeded mix of
// 503s and resets (before and after the tool ran); fail_tool answers isError, so a
// client-visible error class exists too. Bulwark (small backoff, max_attempts 4) sits in front,
// a real Prometheus (/usr/bin/prometheus, temp storage, loopback) scrapes Bulwark's /metrics every
// second, and the SDK client drives 300 paced calls (~16 s), recording each call's result and
// duration. Then the PromQL answers (error rate, retries per request, recoveries, recovery-time
// quantiles, upstream attempts) must agree with the client's and the fixture's own counts, the
// raw /metrics page must pass `promtool check metrics`, and every family of the README's metric
// catalogue must be on it.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test --test-timeout=90000 tests/integration/prometheus.test.mjs
//
// Prints one line "prometheus: ..." with the measured numbers. Needs the Debian package
// `prometheus` (deploy/setup.sh --tests installs it); fails, never skips, without it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { kDirect, startBulwark } from './lib/peers.mjs';
import { sleep } from './lib/procs.mjs';
import { sumSamples, parseMetrics } from './lib/metrics.mjs';
import { connectClient, makeConfig, pollUntil, scoped, startFaultyUpstream, tempDir, writeConfig }
  from './lib/faulty.mjs';
import { kPrometheusBin, kPromtoolBin, promQuery, promScalar, promtoolCheckMetrics, requireBinary,
         startPrometheus } from './lib/prometheus.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const kReadme = path.resolve(here, '..', '..', 'README.md');

const kCalls = 300;
const kPeriodMs = 55;        // call i starts at i * kPeriodMs (or later): ~16.5 s of load
const kFailToolEvery = 20;   // every 20th call is fail_tool (isError): 15 client-visible errors
const kFaultRate = 0.25;
const kSeed = 20260517;
const kJob = 'bulwark';
const kToolCalls = 'method="tools/call"';

// The metric names in the first column of the README's catalogue table (section "### Metrics").
async function readmeCatalogue() {
  const text = await fs.readFile(kReadme, 'utf8');
  const start = text.indexOf('\n### Metrics');
  assert.ok(start >= 0, 'README.md has a "### Metrics" section');
  const rest = text.slice(start + 1);
  const end = rest.search(/\n#{1,3} /);
  const section = end >= 0 ? rest.slice(0, end) : rest;
  const names = [];
  for (const line of section.split('\n')) {
    const m = /^\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|/.exec(line);
    if (m) names.push(m[1]);
  }
  assert.ok(names.length >= 5, `README catalogue table parsed (${names.join(', ')})`);
  return names;
}

// Nearest-rank quantile of a list of numbers.
function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

// The range a histogram_quantile may take and still be called "the same" as the client's value
// `v`: Bulwark's histogram only knows which bucket an observation fell in (histogram_quantile
// interpolates linearly inside the bucket holding the q-th observation), so its answer is only
// good to one bucket. And the two clocks measure slightly different intervals: Bulwark's
// recovery time runs from the first failed attempt to the recovered answer, the client's from
// sending the request to reading the answer (the first failed attempt and loopback overhead
// included, a few ms more), which can push a value just across a bucket bound. Hence: the
// quantile must lie within the bucket holding the client's value or one bucket either side,
// i.e. between the lower bound of the bucket below and the upper bound of the bucket above.
function bucketTolerance(bounds, v) {
  const les = [0, ...bounds, Infinity]; // bucket k is (les[k-1], les[k]] for k >= 1
  let k = 1;
  while (k < les.length - 1 && v > les[k]) k++;
  return { lower: les[Math.max(0, k - 2)], upper: les[Math.min(les.length - 1, k + 1)],
           bucket: `(${les[k - 1]}, ${les[k]}]` };
}

test('Prometheus scraping Bulwark agrees with the SDK client and the fixture', {
  timeout: 90000,
  skip: kDirect ? 'BULWARK_BIN=direct: there is no Bulwark /metrics to scrape' : false,
}, scoped(async (t, track) => {
  // No silent skip: a machine without Prometheus fails here, saying how to get it.
  requireBinary(kPrometheusBin, 'prometheus');
  requireBinary(kPromtoolBin, 'promtool');
  const testStarted = performance.now();

  const up = track(await startFaultyUpstream({ mode: 'json', name: 'faulty-json' }));
  const dir = await tempDir('bulwark-prom-test-');
  track({ stop: () => dir.remove(), describe: () => `--- temp dir ${dir.dir} (Bulwark's config)` });
  const config = makeConfig(up.url, {
    retry: { max_attempts: 4, backoff: { base: '10ms', multiplier: 2, max: '100ms' } },
  });
  const bw = track(await startBulwark(up.url, { config: await writeConfig(dir.file('bulwark.yaml'), config) }));
  const prom = track(await startPrometheus({ job: kJob, targets: [`127.0.0.1:${bw.adminPort}`] }));

  // The first scrape lands about 5 s after Prometheus starts (its scrape manager's reload tick).
  await pollUntil(async () => (await promQuery(prom.url, `up{job="${kJob}"} == 1`)).length === 1,
                  { timeoutMs: 20000, intervalMs: 200, what: `Prometheus scrapes Bulwark (up{job="${kJob}"} == 1)` });
  const firstScrapeSeconds = (performance.now() - testStarted) / 1000;

  // The load. Each tools/call's JSON-RPC id is taken from the transport (the SDK numbers its
  // requests itself) to find the call's attempts in the fixture's records.
  const c = await connectClient(bw.url, { name: 'bulwark-prometheus-test' });
  const calls = [];
  try {
    await c.client.listTools(); // Bulwark learns the tool names (metric labels) and annotations
    await up.control.plan([{ tool: 'read_data',
                             random: { rate: kFaultRate, seed: kSeed, faults: ['503', 'reset_before', 'reset_after'] } }]);
    let lastCallId;
    const send = c.transport.send.bind(c.transport);
    c.transport.send = (message, options) => {
      if (message?.method === 'tools/call') lastCallId = message.id;
      return send(message, options);
    };
    const loadStarted = performance.now();
    for (let i = 0; i < kCalls; i++) {
      const wait = loadStarted + i * kPeriodMs - performance.now();
      if (wait > 0) await sleep(wait);
      const tool = i % kFailToolEvery === kFailToolEvery - 1 ? 'fail_tool' : 'read_data';
      const key = `p${i}`;
      lastCallId = undefined;
      const started = performance.now();
      const call = { i, tool, id: undefined, ok: false, error: undefined, ms: 0 };
      try {
        const r = await c.client.callTool({ name: tool, arguments: tool === 'read_data' ? { key } : {} });
        if (r.isError) call.error = 'isError';
        else if (r.content?.[0]?.text !== `data for ${key}`) call.error = `unexpected result ${JSON.stringify(r).slice(0, 200)}`;
        else call.ok = true;
      } catch (e) {
        call.error = `thrown: ${e.message}`;
      }
      call.ms = performance.now() - started;
      call.id = lastCallId;
      calls.push(call);
    }
    t.diagnostic(`load: ${kCalls} calls in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`);
  } finally {
    await c.close();
  }
  assert.ok(calls.every((x) => x.id !== undefined), 'every call\'s JSON-RPC id was seen on the transport');
  assert.equal(new Set(calls.map((x) => String(x.id))).size, kCalls, 'the JSON-RPC ids are distinct');

  // What the fixture saw, per JSON-RPC id (a retry resends the same body, so the same id).
  const stats = await up.control.stats();
  const toolCallRecords = stats.records.filter((r) => r.method === 'tools/call');
  const byId = new Map();
  for (const r of toolCallRecords) {
    const k = String(r.id);
    if (!byId.has(k)) byId.set(k, []);
    byId.get(k).push(r);
  }
  const failedAttempt = (r) => r.fault !== 'ok' || r.outcome !== 'answered' || r.status !== 200;
  for (const call of calls) {
    call.attempts = byId.get(String(call.id)) ?? [];
    call.failedAttempts = call.attempts.filter(failedAttempt).length;
  }
  assert.ok(calls.every((x) => x.attempts.length >= 1), 'the fixture saw every call');
  assert.equal(byId.size, kCalls, 'the fixture saw no tools/call that the client did not send');

  const clientErrors = calls.filter((x) => !x.ok);
  const clientToolErrors = clientErrors.filter((x) => x.error === 'isError').length;
  const fixtureAttempts = toolCallRecords.length;
  const recovered = calls.filter((x) => x.ok && x.failedAttempts > 0);
  const recoveredSeconds = recovered.map((x) => x.ms / 1000);
  assert.ok(recovered.length >= 20, `enough recovered calls to compare quantiles (${recovered.length})`);

  // Wait until Prometheus holds the final state: every tools/call counted. All series of one
  // scrape carry the same timestamp, so the other counters are final in that scrape too.
  const promTotal = await pollUntil(async () => {
    const v = await promQuery(prom.url, `sum(bulwark_requests_total{${kToolCalls}})`);
    return v.length === 1 && v[0].value === kCalls ? v[0].value : null;
  }, { timeoutMs: 15000, intervalMs: 250, what: `Prometheus sees sum(bulwark_requests_total{${kToolCalls}}) == ${kCalls}` });

  const q = (expr) => promScalar(prom.url, expr);
  const orZero = (expr) => `((${expr}) or vector(0))`; // `or` binds looser than `/`
  const errExpr = `sum(bulwark_requests_total{${kToolCalls},outcome!~"success|cancelled"})`;
  const totalExpr = `sum(bulwark_requests_total{${kToolCalls}})`;
  const promErrors = await q(orZero(errExpr));
  const promErrorRate = await q(`${errExpr} / ${totalExpr}`);
  const promToolErrors = await q(orZero(`sum(bulwark_requests_total{${kToolCalls},outcome="tool_error"})`));
  const promRetries = await q(orZero('sum(bulwark_retries_total)'));
  const promRetriesPerRequest = await q(`${orZero('sum(bulwark_retries_total)')} / scalar(${totalExpr})`);
  const promRecoveries = await q(orZero('sum(bulwark_recoveries_total)'));
  const promRecoveryCount = await q('sum(bulwark_recovery_duration_seconds_count)');
  const promRecoverySum = await q('sum(bulwark_recovery_duration_seconds_sum)');
  const promP50 = await q('histogram_quantile(0.5, sum by (le) (bulwark_recovery_duration_seconds_bucket))');
  const promP95 = await q('histogram_quantile(0.95, sum by (le) (bulwark_recovery_duration_seconds_bucket))');
  const promAttempts = await q('sum(bulwark_upstream_attempts_total)');
  const attemptsByResult = Object.fromEntries((await promQuery(prom.url, 'sum by (result) (bulwark_upstream_attempts_total)'))
    .map((r) => [r.metric.result, r.value]));
  const bounds = (await promQuery(prom.url, 'bulwark_recovery_duration_seconds_bucket'))
    .map((r) => Number(r.metric.le)).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);

  // The raw page Prometheus scraped, read once more (the counters no longer move).
  const scrape = await bw.metricsText();
  const raw = parseMetrics(scrape);
  const lint = promtoolCheckMetrics(scrape);
  const catalogue = await readmeCatalogue();
  const missingFamilies = catalogue.filter((name) =>
    !new RegExp(`^# TYPE ${name} `, 'm').test(scrape) || !new RegExp(`^# HELP ${name} \\S`, 'm').test(scrape));

  const clientP50 = quantile(recoveredSeconds, 0.5);
  const clientP95 = quantile(recoveredSeconds, 0.95);
  const clientRecoverySum = recoveredSeconds.reduce((a, b) => a + b, 0);
  const tol50 = bucketTolerance(bounds, clientP50);
  const tol95 = bucketTolerance(bounds, clientP95);
  const runSeconds = (performance.now() - testStarted) / 1000;
  const faultCounts = {};
  for (const r of toolCallRecords) if (r.fault !== 'ok') faultCounts[r.fault] = (faultCounts[r.fault] ?? 0) + 1;

  const line = `prometheus: calls=${kCalls} client_errors=${clientErrors.length} (tool_error=${clientToolErrors}) ` +
    `prom_errors=${promErrors} prom_error_rate=${promErrorRate.toFixed(4)} ` +
    `fixture_attempts=${fixtureAttempts} prom_retries=${promRetries} ` +
    `retries_per_request=${((fixtureAttempts - kCalls) / kCalls).toFixed(4)} prom_retries_per_request=${promRetriesPerRequest.toFixed(4)} ` +
    `recovered_calls=${recovered.length} prom_recoveries=${promRecoveries} ` +
    `recovery_p50 client=${(clientP50 * 1000).toFixed(1)}ms prom=${(promP50 * 1000).toFixed(1)}ms ` +
    `recovery_p95 client=${(clientP95 * 1000).toFixed(1)}ms prom=${(promP95 * 1000).toFixed(1)}ms ` +
    `faults=${JSON.stringify(faultCounts)} max_fixture_attempts_per_call=${Math.max(...calls.map((x) => x.attempts.length))} ` +
    `upstream_attempts fixture=${stats.records.length} prom=${promAttempts} ${JSON.stringify(attemptsByResult)} ` +
    `promtool=${lint.status} first_scrape=${firstScrapeSeconds.toFixed(1)}s run=${runSeconds.toFixed(1)}s`;
  console.log(line);
  t.diagnostic(line);

  // Every comparison is collected first, so one run reports every disagreement at once.
  const problems = [];
  const same = (what, actual, expected) => {
    if (actual !== expected) problems.push(`${what}: ${actual} (expected ${expected})`);
  };
  same('Prometheus sum(bulwark_requests_total{tools/call}) vs calls made', promTotal, kCalls);
  same('raw /metrics tools/call requests vs calls made', sumSamples(raw, 'bulwark_requests_total', { method: 'tools/call' }), kCalls);
  // Error rate: compare the counts; the ratio is then the same IEEE division on both sides.
  same('client-visible errors: Prometheus count vs client count', promErrors, clientErrors.length);
  same('error rate: Prometheus vs client fraction', promErrorRate, clientErrors.length / kCalls);
  same('tool_error outcomes vs client isError results', promToolErrors, clientToolErrors);
  // Retries per request: Prometheus's retries vs the fixture's extra attempts, in counts.
  same('sum(bulwark_retries_total) vs fixture tools/call attempts - calls', promRetries, fixtureAttempts - kCalls);
  same('retries per request: Prometheus vs fixture', promRetriesPerRequest, (fixtureAttempts - kCalls) / kCalls);
  same('sum(bulwark_upstream_attempts_total) vs every /mcp request the fixture received', promAttempts, stats.records.length);
  const fixtureResets = stats.records.filter((r) => r.fault === 'reset_before' || r.fault === 'reset_after').length;
  const fixtureAnswered = stats.records.filter((r) => r.outcome === 'answered').length;
  same('upstream_attempts{result="response"} vs fixture requests answered', attemptsByResult.response ?? 0, fixtureAnswered);
  same('upstream_attempts{result="reset_before_response"} vs fixture resets', attemptsByResult.reset_before_response ?? 0, fixtureResets);
  // Recoveries: calls that succeeded after at least one failed attempt.
  same('sum(bulwark_recoveries_total) vs client successes after a failed attempt', promRecoveries, recovered.length);
  same('bulwark_recovery_duration_seconds_count vs recoveries', promRecoveryCount, recovered.length);
  // Bulwark's recovery interval lies inside the client's call, so its sum cannot exceed the client's.
  if (!(promRecoverySum <= clientRecoverySum)) {
    problems.push(`recovery duration sum ${promRecoverySum.toFixed(4)} s exceeds the client's ${clientRecoverySum.toFixed(4)} s`);
  }
  if (bounds.length === 0) problems.push('no bulwark_recovery_duration_seconds_bucket series in Prometheus');
  for (const [name, value, client, tol] of [['p50', promP50, clientP50, tol50], ['p95', promP95, clientP95, tol95]]) {
    if (!(value >= tol.lower && value <= tol.upper)) {
      problems.push(`recovery ${name}: Prometheus ${value} s outside [${tol.lower}, ${tol.upper}] ` +
                    `(client ${client.toFixed(4)} s in bucket ${tol.bucket}, one bucket either side allowed)`);
    }
  }
  if (lint.status !== 0) problems.push(`promtool check metrics exited ${lint.status}: ${lint.output.trim()}`);
  if (missingFamilies.length > 0) {
    problems.push(`README catalogue families without HELP/TYPE on /metrics: ${missingFamilies.join(', ')}`);
  }
  if (problems.length > 0) {
    t.diagnostic(`client errors: ${JSON.stringify(clientErrors.slice(0, 10).map((x) => ({ i: x.i, tool: x.tool, error: x.error })))}`);
    t.diagnostic(`/metrics:\n${scrape}`);
  }
  assert.deepEqual(problems, [], `Bulwark's metrics (via Prometheus) disagree:\n  ${problems.join('\n  ')}`);
}));
