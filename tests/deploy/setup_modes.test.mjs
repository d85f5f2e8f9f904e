// deploy/setup.sh's modes, read through its --list (which installs nothing): the default mode is
// build-only (no Node.js, no npm peers), --demo adds the demo's peers, --tests everything the
// tests need; the container image builds with the build-only mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { kRepo } from './lib/common.mjs';
import { stages } from './lib/dockerfile.mjs';

const setup = path.join(kRepo, 'deploy', 'setup.sh');

function listed(...modes) {
  const out = execFileSync(setup, ['--list', ...modes], { encoding: 'utf8' });
  const line = (name) => {
    const m = new RegExp(`^${name}: ?(.*)$`, 'm').exec(out);
    assert.ok(m, `--list prints an "${name}:" line`);
    return m[1].split(/\s+/).filter(Boolean);
  };
  return { apt: line('apt'), npm: line('npm') };
}

const kBuild = ['build-essential', 'cmake', 'pkg-config', 'libuv1-dev', 'node-llhttp',
  'libsimdjson-dev', 'libyaml-cpp-dev', 'prometheus-cpp-dev', 'libhiredis-dev', 'libssl-dev'];

test('the default mode installs the build set only: no Node.js, no npm peers, no test tools', () => {
  const { apt, npm } = listed();
  for (const p of kBuild) assert.ok(apt.includes(p), `builds need ${p}`);
  for (const p of ['nodejs', 'npm', 'prometheus', 'redis-server', 'clang', 'haproxy']) {
    assert.ok(!apt.includes(p), `build-only mode leaves out ${p}`);
  }
  assert.deepEqual(npm, []);
});

test('--demo adds Node.js and the pinned npm peers (server-everything)', () => {
  const { apt, npm } = listed('--demo');
  assert.ok(apt.includes('nodejs') && apt.includes('npm'));
  assert.ok(!apt.includes('prometheus'));
  assert.deepEqual(npm, ['tests']);
});

test('--tests adds what tests/run.sh needs, including the fuzzing compiler', () => {
  const { apt, npm } = listed('--tests');
  for (const p of [...kBuild, 'nodejs', 'prometheus', 'redis-server', 'clang', 'libclang-rt-14-dev']) {
    assert.ok(apt.includes(p), `--tests installs ${p}`);
  }
  assert.deepEqual(npm, ['tests', 'tests/deploy']);
});

test('an unknown mode is refused', () => {
  assert.throws(() => execFileSync(setup, ['--nope'], { stdio: 'pipe' }),
    (e) => e.status === 2 && /unknown option '--nope'/.test(String(e.stderr)));
});

test('the image builds with the build-only mode and copies no npm manifest', () => {
  const build = stages().find((s) => s.name === 'build');
  const runs = build.instructions.filter((i) => i.op === 'RUN').map((i) => i.args);
  const setupRuns = runs.filter((r) => /^deploy\/setup\.sh\b/.test(r));
  assert.equal(setupRuns.length, 1);
  assert.doesNotMatch(setupRuns[0], /--(demo|tests|bench|fuzz)\b/);
  const copies = build.instructions.filter((i) => i.op === 'COPY').map((i) => i.args);
  assert.ok(copies.every((c) => !/package(-lock)?\.json/.test(c)), 'no npm manifest in the build stage');
});
