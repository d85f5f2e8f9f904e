// The MCP conformance suite's server scenarios against server-everything directly and through
// Bulwark (each side with its own server-everything). server-everything lacks the suite's own
// fixture tools, so many checks fail even directly; the assertion is that every check's status is
// identical per scenario. A differing scenario is rerun (both ways) up to kReruns more times,
// because the elicitation scenarios are timing-sensitive on a loaded machine.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test --test-timeout=300000 tests/integration/conformance.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChildProcess, withTimeout } from './lib/procs.mjs';
import { kConformanceMain, kNode22, kTestsDir, startBulwark, startEverything, stopAll, withDiagnostics }
  from './lib/peers.mjs';

const kReruns = 2;
const kSuiteTimeoutMs = 150000; // one full suite run; it takes a few seconds normally
const kScenarioTimeoutMs = 60000;

let runCounter = 0;

// Runs the suite (or one scenario) against `url`; returns {scenarios: Map(name -> checks), ms, proc}.
async function runSuite(url, workDir, label, scenario) {
  const outDir = path.join(workDir, `${label}-${++runCounter}`);
  fs.mkdirSync(outDir, { recursive: true });
  const args = [kConformanceMain, 'server', '--url', url, '-o', outDir];
  if (scenario) args.push('--scenario', scenario);
  const t0 = Date.now();
  const proc = new ChildProcess(`conformance ${label}${scenario ? ` ${scenario}` : ''}`, kNode22, args,
                                { cwd: kTestsDir });
  try {
    await withTimeout(proc.exited, scenario ? kScenarioTimeoutMs : kSuiteTimeoutMs, proc.name);
  } finally {
    await proc.stop();
  }
  return { scenarios: readResults(outDir), ms: Date.now() - t0, proc };
}

// Output layout: <outDir>/server-<scenario>-<ISO timestamp with dashes>/checks.json
function readResults(outDir) {
  const scenarios = new Map();
  for (const entry of fs.readdirSync(outDir).sort()) {
    const m = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/.exec(entry);
    if (!m) continue;
    const file = path.join(outDir, entry, 'checks.json');
    let checks;
    try {
      checks = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      checks = [{ id: '<checks.json unreadable>', status: e.code ?? e.message }];
    }
    scenarios.set(m[1], checks);
  }
  return scenarios;
}

// The comparable form of a scenario's checks: sorted "id=STATUS" strings.
function signature(checks) {
  if (!checks) return ['<scenario missing>'];
  return checks.map((c) => `${c.id}=${c.status}`).sort();
}

function same(a, b) {
  return JSON.stringify(signature(a)) === JSON.stringify(signature(b));
}

function describeDiff(name, direct, proxied) {
  const errs = (checks) => (checks ?? []).filter((c) => c.status !== 'SUCCESS')
    .map((c) => `      ${c.id}: ${c.status}${c.errorMessage ? ` (${c.errorMessage})` : ''}`).join('\n');
  return `  ${name}\n    direct:  ${signature(direct).join(' ')}\n${errs(direct)}\n` +
         `    proxied: ${signature(proxied).join(' ')}\n${errs(proxied)}`;
}

let seDirect;
let seProxied;
let bw;
let workDir;

before(async () => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-conformance-'));
  seDirect = await startEverything('server-everything-direct');
  seProxied = await startEverything('server-everything-proxied');
  bw = await startBulwark(seProxied.url);
});

after(async () => {
  try {
    await stopAll(bw, seProxied, seDirect);
  } finally {
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  }
});

test('conformance server scenarios: identical check statuses directly and through Bulwark',
     { timeout: 300000 },
     withDiagnostics(() => [bw, seProxied?.proc], async (t) => {
  const t0 = Date.now();
  const direct = await runSuite(seDirect.url, workDir, 'direct');
  const proxied = await runSuite(bw.url, workDir, 'proxied');
  t.diagnostic(`full suite: direct ${direct.ms} ms, through Bulwark ${proxied.ms} ms`);

  // Sanity: the harness really ran the suite (server-everything passes a known part of it).
  assert.ok(direct.scenarios.size >= 25, `direct run produced ${direct.scenarios.size} scenarios\n` +
            direct.proc.describe());
  assert.ok(signature(direct.scenarios.get('server-initialize')).every((s) => s.endsWith('=SUCCESS')),
            'server-initialize passes directly');
  const passed = [...direct.scenarios.values()].flat().filter((c) => c.status === 'SUCCESS').length;
  assert.ok(passed >= 10, `direct run passed ${passed} checks`);

  const names = [...new Set([...direct.scenarios.keys(), ...proxied.scenarios.keys()])].sort();
  const reruns = [];
  const failures = [];
  for (const name of names) {
    let d = direct.scenarios.get(name);
    let p = proxied.scenarios.get(name);
    if (same(d, p)) continue;
    const history = [describeDiff(name, d, p)];
    let agreed = false;
    for (let i = 1; i <= kReruns && !agreed; i++) {
      d = (await runSuite(seDirect.url, workDir, 'direct', name)).scenarios.get(name);
      p = (await runSuite(bw.url, workDir, 'proxied', name)).scenarios.get(name);
      agreed = d !== undefined && p !== undefined && same(d, p);
      if (!agreed) history.push(describeDiff(`${name} (rerun ${i})`, d, p));
    }
    reruns.push(`${name}: ${agreed ? 'agreed on rerun' : `still differs after ${kReruns} reruns`}`);
    if (!agreed) failures.push(history.join('\n'));
  }

  const summary = (run) => {
    const all = [...run.scenarios.values()].flat();
    return `${run.scenarios.size} scenarios, ${all.filter((c) => c.status === 'SUCCESS').length} ` +
           `checks passed, ${all.filter((c) => c.status !== 'SUCCESS').length} not`;
  };
  t.diagnostic(`direct: ${summary(direct)}; through Bulwark: ${summary(proxied)}`);
  t.diagnostic(`rerun scenarios: ${reruns.length ? reruns.join('; ') : 'none'}`);
  t.diagnostic(`total ${Date.now() - t0} ms`);
  assert.equal(failures.length, 0, `scenarios whose checks differ through Bulwark:\n${failures.join('\n')}`);
}));
