// Configuration checking and live reload: `--check-config`, SIGHUP with a valid and an invalid
// file, and the Kubernetes ConfigMap pattern (the config path is a symlink through `..data`,
// which kubelet swaps atomically) noticed without a signal. Behaviour is observed through the
// faulty upstream: a 503-then-ok call fails with max_attempts 1 and succeeds with 3.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test --test-timeout=60000 tests/integration/config_reload.test.mjs
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ChildProcess, sleep, withTimeout } from './lib/procs.mjs';
import { kBulwarkBin, kDirect, kTestsDir, startBulwark, stopAll } from './lib/peers.mjs';
import { sumSamples } from './lib/metrics.mjs';
import { callTool, jsonLogLines, makeConfig, pollUntil, scoped, startFaultyUpstream, tempDir,
         writeConfig, writeConfigAtomic } from './lib/faulty.mjs';

const kExample = path.resolve(kTestsDir, '..', 'config', 'bulwark.example.yaml');

// Runs `bulwark ARGS` to completion (bounded). Returns {code, out, err}.
async function runBulwark(args, timeoutMs = 10000) {
  const proc = new ChildProcess('bulwark-cli', kBulwarkBin, args);
  try {
    const { code } = await withTimeout(proc.exited, timeoutMs, `bulwark ${args.join(' ')}`);
    return { code, out: proc.out, err: proc.err };
  } finally {
    await proc.stop();
  }
}

// An invalid config with three errors at known places (line:column, 1-based):
//   4:12 defaults.timeout (the value), 6:19 defaults.retry.max_attempts (the value),
//   7:5 defaults.retry.bogus_key (the key).
function invalidYaml(upstreamUrl) {
  return [
    'upstream:',
    `  url: ${upstreamUrl}`,
    'defaults:',
    '  timeout: 5 sec',
    '  retry:',
    '    max_attempts: 0',
    '    bogus_key: 1',
    '',
  ].join('\n');
}
const kInvalidErrors = [
  { line: 4, column: 12, key: 'defaults.timeout' },
  { line: 6, column: 19, key: 'defaults.retry.max_attempts' },
  { line: 7, column: 5, key: 'defaults.retry.bogus_key' },
];

// read_data marked idempotent so a 503 is retryable whatever Bulwark learned from tools/list.
const configWithAttempts = (url, maxAttempts) =>
  makeConfig(url, { retry: { max_attempts: maxAttempts }, tools: [{ match: 'read_data', idempotent: true }] });

const reloads = async (bw, result) => sumSamples(await bw.metrics(), 'bulwark_config_reloads_total', { result });

describe('config check and reload', { skip: kDirect ? 'BULWARK_BIN=direct: proxy-only behaviour' : false, timeout: 120000 }, () => {
  let up;
  let dir;
  before(async () => {
    dir = await tempDir('bulwark-reload-');
    up = await startFaultyUpstream({ mode: 'json' });
  });
  after(async () => {
    await stopAll(up);
    await dir?.remove();
  });

  // One 503, then success: the call succeeds only if Bulwark retries. Returns true when it did.
  async function probeRetry(bw, key) {
    await up.control.reset();
    await up.control.plan([{ tool: 'read_data', sequence: ['503'] }]);
    const res = await callTool(bw.url, 'read_data', { key });
    const attempts = (await up.control.stats()).attempts.byTool.read_data;
    const ok = res.status === 200 && res.json?.result?.content?.[0]?.text === `data for ${key}`;
    assert.equal(attempts, ok ? 2 : 1, `${key}: ${attempts} attempts, answer ${res.status} ${res.body.slice(0, 200)}`);
    return ok;
  }

  test('--check-config: 0 for a valid file; 1 and every error as file:line:column: key: message', scoped(async () => {
    const good = await writeConfig(dir.file('good.yaml'), configWithAttempts(up.url, 3));
    const okRun = await runBulwark(['--check-config', good]);
    assert.equal(okRun.code, 0, `valid file: exit ${okRun.code}\n${okRun.err}`);
    const example = await runBulwark(['--check-config', kExample]);
    assert.equal(example.code, 0, `the shipped example: exit ${example.code}\n${example.err}`);

    const bad = await writeConfig(dir.file('bad.yaml'), invalidYaml(up.url));
    const badRun = await runBulwark(['--check-config', bad]);
    assert.equal(badRun.code, 1, `invalid file: exit ${badRun.code}`);
    const lines = (badRun.err + badRun.out).split('\n').filter((l) => l.startsWith(`${bad}:`));
    assert.equal(lines.length, kInvalidErrors.length, `one line per error:\n${badRun.err}${badRun.out}`);
    kInvalidErrors.forEach(({ line, column, key }, i) => {
      const prefix = `${bad}:${line}:${column}: ${key}: `;
      assert.ok(lines[i].startsWith(prefix) && lines[i].length > prefix.length,
                `error ${i + 1}: expected "${prefix}<message>", got "${lines[i]}"`);
    });
  }));

  test('SIGHUP: a valid new file changes behaviour; an invalid one is rejected, logged with file:line, and the old config stays',
       scoped(async (t, track) => {
    const file = dir.file('sighup.yaml');
    await writeConfigAtomic(file, configWithAttempts(up.url, 1));
    const bw = track(await startBulwark(up.url, { config: file, name: 'bulwark-sighup' }));
    assert.equal(await probeRetry(bw, 'before-reload'), false, 'max_attempts 1: the 503 reaches the client');

    // SIGHUP alone (file unchanged) reloads.
    const s0 = await reloads(bw, 'success');
    process.kill(bw.proc.pid, 'SIGHUP');
    await pollUntil(async () => (await reloads(bw, 'success')) >= s0 + 1,
                    { timeoutMs: 3000, what: 'bulwark_config_reloads_total{result="success"} after SIGHUP' });

    // A new valid file, then SIGHUP.
    const s1 = await reloads(bw, 'success');
    await writeConfigAtomic(file, configWithAttempts(up.url, 3));
    process.kill(bw.proc.pid, 'SIGHUP');
    await pollUntil(async () => (await reloads(bw, 'success')) >= s1 + 1,
                    { timeoutMs: 3000, what: 'success reload after the new file and SIGHUP' });
    assert.equal(await probeRetry(bw, 'after-reload'), true, 'max_attempts 3: the 503 is retried');

    // An invalid file, then SIGHUP: rejected, counted, logged; behaviour unchanged.
    const f0 = await reloads(bw, 'failure');
    const logLengthBefore = bw.logs().length;
    await writeConfigAtomic(file, invalidYaml(up.url));
    process.kill(bw.proc.pid, 'SIGHUP');
    await pollUntil(async () => (await reloads(bw, 'failure')) >= f0 + 1,
                    { timeoutMs: 3000, what: 'bulwark_config_reloads_total{result="failure"} after an invalid file' });
    // Every error is logged with its place (one line for all, or one line each).
    await pollUntil(() => {
      const fresh = jsonLogLines(bw.logs().slice(logLengthBefore)).map((l) => JSON.stringify(l));
      return kInvalidErrors.every(({ line, column, key }) =>
        fresh.some((l) => l.includes(`${file}:${line}:${column}: ${key}`)));
    }, { timeoutMs: 2000, what: `log lines naming every error as ${file}:line:column: key` });
    assert.equal(await probeRetry(bw, 'after-bad-reload'), true, 'the previous config (max_attempts 3) stays');
    assert.ok(bw.proc.running, 'Bulwark keeps running');
  }));

  test('monitoring.alert_threshold is exported as bulwark_alert_threshold and follows a reload; a restart-only change is named in a warning and not applied',
       scoped(async (t, track) => {
    const file = dir.file('thresholds.yaml');
    const withMonitoring = (url, monitoring) => ({ ...configWithAttempts(url, 3), monitoring });
    await writeConfigAtomic(file, withMonitoring(up.url, { alert_threshold: { error_rate: 0.02, recovery_time: '3s' } }));
    const bw = track(await startBulwark(up.url, { config: file, name: 'bulwark-thresholds' }));
    const threshold = async (name) => sumSamples(await bw.metrics(), 'bulwark_alert_threshold', { name });
    assert.equal(await threshold('error_rate'), 0.02);
    assert.equal(await threshold('recovery_time'), 3);

    // New thresholds, and an upstream URL that only a restart can change.
    const s0 = await reloads(bw, 'success');
    const logLengthBefore = bw.logs().length;
    const moved = new URL(up.url);
    moved.pathname = '/elsewhere';
    await writeConfigAtomic(file, withMonitoring(moved.href, { alert_threshold: { error_rate: 0.1, recovery_time: '250ms' } }));
    process.kill(bw.proc.pid, 'SIGHUP');
    await pollUntil(async () => (await reloads(bw, 'success')) >= s0 + 1,
                    { timeoutMs: 3000, what: 'a success reload after SIGHUP' });
    assert.equal(await threshold('error_rate'), 0.1);
    assert.equal(await threshold('recovery_time'), 0.25);
    const warnings = jsonLogLines(bw.logs().slice(logLengthBefore)).filter((l) => l.level === 'warn');
    assert.deepEqual(warnings.map((l) => l.setting), ['upstream.url'], JSON.stringify(warnings));
    assert.match(warnings[0].msg, /restart/);
    assert.equal(await probeRetry(bw, 'still-the-old-upstream'), true, 'requests still reach the running upstream');
  }));

  test('a change SIGHUP loaded is not loaded again by the file watcher (one reload, one count)', scoped(async (t, track) => {
    const file = dir.file('once.yaml');
    await writeConfigAtomic(file, configWithAttempts(up.url, 1));
    const bw = track(await startBulwark(up.url, { config: file, name: 'bulwark-reload-once' }));
    for (const [write, result] of [[() => writeConfigAtomic(file, configWithAttempts(up.url, 2)), 'success'],
                                   [() => writeConfigAtomic(file, invalidYaml(up.url)), 'failure']]) {
      const before = await reloads(bw, result);
      await write();
      process.kill(bw.proc.pid, 'SIGHUP');
      await pollUntil(async () => (await reloads(bw, result)) >= before + 1,
                      { timeoutMs: 3000, what: `a ${result} reload after the write and SIGHUP` });
      await sleep(2500); // more than two polls of the file (every second)
      assert.equal(await reloads(bw, result), before + 1, `one ${result} reload for one change`);
    }
  }));

  test('Kubernetes ConfigMap: an atomic ..data symlink swap is noticed without SIGHUP within 3 s', scoped(async (t, track) => {
    // kubelet's layout: config.yaml -> ..data/config.yaml, ..data -> ..<timestamp dir>.
    const root = dir.file('configmap');
    await fs.mkdir(root);
    let generation = 0;
    const publish = async (config) => {
      const stamp = `..2026_11_28_07_00_0${++generation}.000000001`;
      await fs.mkdir(path.join(root, stamp));
      await writeConfig(path.join(root, stamp, 'config.yaml'), config);
      const tmpLink = path.join(root, '..data_tmp');
      await fs.symlink(stamp, tmpLink);
      const previous = await fs.readlink(path.join(root, '..data')).catch(() => null);
      await fs.rename(tmpLink, path.join(root, '..data')); // atomic swap
      if (previous) await fs.rm(path.join(root, previous), { recursive: true, force: true });
    };
    await publish(configWithAttempts(up.url, 1));
    const file = path.join(root, 'config.yaml');
    await fs.symlink(path.join('..data', 'config.yaml'), file);

    const bw = track(await startBulwark(up.url, { config: file, name: 'bulwark-configmap' }));
    assert.equal(await probeRetry(bw, 'cm-1'), false, 'max_attempts 1 at start');

    const s0 = await reloads(bw, 'success');
    const swapped = Date.now();
    await publish(configWithAttempts(up.url, 3));
    await pollUntil(async () => (await reloads(bw, 'success')) >= s0 + 1,
                    { timeoutMs: 3000, intervalMs: 50, what: 'a reload after the ..data swap (no SIGHUP)' });
    t.diagnostic(`swap noticed after ${Date.now() - swapped} ms`);
    assert.equal(await probeRetry(bw, 'cm-2'), true, 'max_attempts 3 after the swap');

    const f0 = await reloads(bw, 'failure');
    await publish(invalidYaml(up.url));
    await pollUntil(async () => (await reloads(bw, 'failure')) >= f0 + 1,
                    { timeoutMs: 3000, intervalMs: 50, what: 'a rejected reload after swapping in an invalid file' });
    assert.equal(await probeRetry(bw, 'cm-3'), true, 'the previous config stays');
  }));
});
