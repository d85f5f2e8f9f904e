// The MCP conformance suite's server scenarios against server-everything directly and through
// Bulwark (each side with its own server-everything). server-everything lacks the suite's own
// fixture tools, so many checks fail even directly; the assertion is that every check's status is
// identical per scenario. A differing scenario is rerun (both ways) up to kReruns more times,
// because the elicitation scenarios are timing-sensitive on a loaded machine.
// `dns-rebinding-protection` is the exception: server-everything has no Origin/Host check, and
// Bulwark adds one (security.allowed_origins / allowed_hosts, loopback-only by default on a
// loopback listener), so through Bulwark every one of its checks must pass.
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
// Scenarios Bulwark passes even where the server alone fails them.
const kRebinding = 'dns-rebinding-protection';
const kFixedByBulwark = new Set([kRebinding]);
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

function allPassed(checks) {
  return checks !== undefined && checks.length > 0 && checks.every((c) => c.status === 'SUCCESS');
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
  assert.ok(direct.scenarios.has(kRebinding), `the pinned suite has ${kRebinding}`);
  assert.ok(!allPassed(direct.scenarios.get(kRebinding)),
            `server-everything alone fails ${kRebinding} (else this test proves nothing)`);

  const names = [...new Set([...direct.scenarios.keys(), ...proxied.scenarios.keys()])].sort();
  const reruns = [];
  const failures = [];
  for (const name of names) {
    let d = direct.scenarios.get(name);
    let p = proxied.scenarios.get(name);
    if (kFixedByBulwark.has(name)) {
      if (!allPassed(p)) failures.push(`${name} must pass through Bulwark:\n${describeDiff(name, d, p)}`);
      continue;
    }
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

// The allowlist is what makes the difference: with the check turned off ("*") Bulwark fails the
// scenario as the server does; with an explicit list it passes.
test(`${kRebinding}: off with "*", passing with an explicit allowlist`, { timeout: 120000 },
     withDiagnostics(() => [seProxied?.proc], async (t) => {
  if (bw.direct) {
    t.skip('proxy-only behaviour');
    return;
  }
  const configured = async (security, label) => {
    const file = path.join(workDir, `${label}.yaml`);
    fs.writeFileSync(file, JSON.stringify({ upstream: { url: seProxied.url }, security }));
    return startBulwark(seProxied.url, { config: file, name: `bulwark-${label}` });
  };
  const open = await configured({ allowed_origins: ['*'], allowed_hosts: ['*'] }, 'rebinding-open');
  const listed = await configured({ allowed_origins: ['http://127.0.0.1:*'], allowed_hosts: ['127.0.0.1:*'] },
                                  'rebinding-listed');
  try {
    const openRun = (await runSuite(open.url, workDir, 'open', kRebinding)).scenarios.get(kRebinding);
    const listedRun = (await runSuite(listed.url, workDir, 'listed', kRebinding)).scenarios.get(kRebinding);
    t.diagnostic(`open: ${signature(openRun).join(' ')}; listed: ${signature(listedRun).join(' ')}`);
    assert.ok(!allPassed(openRun), 'with "*" the rebinding request reaches the server, which accepts it');
    assert.ok(signature(openRun).includes('localhost-host-rebinding-rejected=FAILURE'));
    assert.ok(allPassed(listedRun), describeDiff(kRebinding, openRun, listedRun));
  } finally {
    await stopAll(listed, open);
  }
}));
