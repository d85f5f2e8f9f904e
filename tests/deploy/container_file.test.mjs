// deploy/container/Dockerfile, read as a file (no Docker engine runs here): two stages on Debian
// 12; the build stage uses deploy/setup.sh and the release preset; the runtime stage copies only
// the binary, installs only libraries, runs as a non-root user, exposes both ports, and has an
// exec-form entrypoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { kRepo } from './lib/common.mjs';
import { aptInstalled, stages } from './lib/dockerfile.mjs';

const all = stages();
const build = all.find((s) => s.name === 'build');
const runtime = all[all.length - 1];
const ops = (stage, op) => stage.instructions.filter((i) => i.op === op);

test('two stages, both on debian:12-slim, the runtime one last', () => {
  assert.deepEqual(all.map((s) => [s.name, s.from]), [['build', 'debian:12-slim'], ['runtime', 'debian:12-slim']]);
});

test('the build stage installs with deploy/setup.sh (as the README does) and builds the release preset', () => {
  const runs = ops(build, 'RUN').map((r) => r.args);
  assert.ok(runs.some((r) => /^deploy\/setup\.sh\b/.test(r)), 'RUN deploy/setup.sh');
  assert.ok(runs.every((r) => !/apt-get install/.test(r)), 'no package list of its own: setup.sh is the one list');
  assert.ok(runs.some((r) => /cmake --preset release\b/.test(r)), 'cmake --preset release');
  assert.ok(runs.some((r) => /cmake --build --preset release\b.*--target bulwark/.test(r)), 'builds the bulwark target');
  // What it copies exists, and setup.sh is the script the README names.
  for (const copy of ops(build, 'COPY')) {
    const sources = copy.args.split(/\s+/).slice(0, -1);
    for (const s of sources) assert.ok(fs.existsSync(path.join(kRepo, s)), `COPY source ${s} exists`);
  }
  assert.match(fs.readFileSync(path.join(kRepo, 'README.md'), 'utf8'), /deploy\/setup\.sh/);
});

test('the runtime stage copies only the binary from the build stage', () => {
  const copies = ops(runtime, 'COPY');
  assert.equal(copies.length, 1);
  assert.match(copies[0].args, /^--from=build\s+\/src\/build\/release\/proxy\/bulwark\s+\/usr\/local\/bin\/bulwark$/);
  assert.equal(ops(runtime, 'ADD').length, 0);
});

test('the runtime stage installs packages without recommends and drops the apt lists', () => {
  const runs = ops(runtime, 'RUN');
  assert.equal(runs.length, 1);
  const pkgs = aptInstalled(runs[0].args);
  assert.ok(pkgs.length > 0);
  assert.match(runs[0].args, /--no-install-recommends/);
  assert.match(runs[0].args, /rm -rf \/var\/lib\/apt\/lists\/\*/);
  // Libraries only: no compiler, no shell tools, no -dev packages.
  for (const p of pkgs) assert.doesNotMatch(p, /-dev$|^(build-essential|cmake|gcc|g\+\+|curl|nodejs|npm)$/, p);
});

test('the runtime stage runs as a numeric non-root user', () => {
  const users = ops(runtime, 'USER');
  assert.equal(users.length, 1);
  const m = /^(\d+)(?::(\d+))?$/.exec(users[0].args);
  assert.ok(m, `USER ${users[0].args} is numeric (so runAsNonRoot can verify it)`);
  assert.notEqual(Number(m[1]), 0);
  assert.notEqual(Number(m[2] ?? 1), 0);
  // USER comes after the RUN that needs root.
  const idx = (op) => runtime.instructions.findIndex((i) => i.op === op);
  assert.ok(idx('USER') > idx('RUN'));
});

test('EXPOSE names the data and admin ports, and the entrypoint is exec-form without a shell', () => {
  const expose = ops(runtime, 'EXPOSE').flatMap((e) => e.args.split(/\s+/));
  assert.deepEqual(expose.sort(), ['8080', '9901']);
  const entry = ops(runtime, 'ENTRYPOINT');
  assert.equal(entry.length, 1);
  const argv = JSON.parse(entry[0].args);
  assert.ok(Array.isArray(argv), 'ENTRYPOINT is a JSON array (exec form)');
  assert.deepEqual(argv, ['/usr/local/bin/bulwark']);
  for (const cmd of ops(runtime, 'CMD')) assert.ok(Array.isArray(JSON.parse(cmd.args)), 'CMD is exec form');
});

test('the build context leaves out build trees, node_modules and .git', () => {
  const ignore = fs.readFileSync(path.join(kRepo, 'deploy', 'container', 'Dockerfile.dockerignore'), 'utf8')
    .split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const p of ['.git', 'build*', '**/node_modules']) assert.ok(ignore.includes(p), `ignores ${p}`);
});

test('the Dockerfile reader itself: continuation lines, comments, apt-get options', () => {
  const s = stages('FROM a:1 AS one\n# c\nRUN apt-get update \\\n # inner\n && apt-get install -y --x p1 p2 \\\n && rm -rf x\nFROM b AS two\nUSER 1:1\n');
  assert.deepEqual(s.map((x) => x.name), ['one', 'two']);
  assert.deepEqual(aptInstalled(s[0].instructions[0].args), ['p1', 'p2']);
});
