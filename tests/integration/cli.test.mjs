// The bulwark command line: --help, --version, and one clear stderr line plus a non-zero exit for
// every bad flag or address. Also: what it logs on stderr is JSON, one object per line.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test --test-timeout=30000 tests/integration/cli.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ChildProcess, withTimeout } from './lib/procs.mjs';
import { freePort, kHost, request } from './lib/net.mjs';
import { kBulwarkBin, kDirect, startBulwark, withDiagnostics } from './lib/peers.mjs';
import { startRawUpstream } from './lib/raw_upstream.mjs';
import { tempDir, writeConfig } from './lib/faulty.mjs';

const skip = kDirect && 'BULWARK_BIN=direct';
const kT = { timeout: 20000, skip };

// Runs bulwark to completion (bounded); a run that does not exit in time fails the test.
async function run(args, timeoutMs = 5000) {
  const proc = new ChildProcess('bulwark', kBulwarkBin, args);
  try {
    await withTimeout(proc.exited, timeoutMs, `bulwark ${args.join(' ')} should exit`);
  } finally {
    await proc.stop();
  }
  return { code: proc.exitCode, signal: proc.signal, out: proc.out, err: proc.err, proc };
}

function oneLine(text) {
  return text.split('\n').filter((l) => l.trim() !== '');
}

let up;
let busy;
let busyPort;

before(async () => {
  if (kDirect) return;
  up = await startRawUpstream();
  busy = net.createServer();
  await new Promise((resolve) => busy.listen(0, kHost, resolve));
  busyPort = busy.address().port;
});
after(async () => {
  await up?.close();
  if (busy) await new Promise((r) => busy.close(r));
});

test('--help lists the options and exits 0', kT, async () => {
  const r = await run(['--help']);
  assert.equal(r.code, 0, r.err);
  const text = r.out + r.err;
  for (const opt of ['--upstream', '--listen', '--admin', '--config', '--help', '--version']) {
    assert.ok(text.includes(opt), `--help mentions ${opt}`);
  }
});

test('--version prints a version and exits 0', kT, async () => {
  const r = await run(['--version']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out + r.err, /\d+\.\d+\.\d+/);
});

test('bad flags and addresses: one clear line on stderr and a non-zero exit', kT, async () => {
  const upstream = up.url;
  const admin = `${kHost}:${await freePort()}`;
  const listen = `${kHost}:${await freePort()}`;
  const cases = [
    ['unknown flag', ['--bogus'], /--bogus/],
    ['flag without its value', ['--upstream'], /--upstream/],
    ['no upstream at all', [], /upstream/i],
    ['upstream that is not a URL', ['--upstream', 'notaurl'], /notaurl/],
    ['listen port not a number', ['--upstream', upstream, '--listen', `${kHost}:notaport`, '--admin', admin], /notaport/],
    ['listen port out of range', ['--upstream', upstream, '--listen', `${kHost}:70000`, '--admin', admin], /70000/],
    ['admin without a port', ['--upstream', upstream, '--listen', listen, '--admin', 'nonsense'], /nonsense/],
    ['listen port already in use', ['--upstream', upstream, '--listen', `${kHost}:${busyPort}`, '--admin', admin],
     new RegExp(String(busyPort))],
    ['admin port already in use', ['--upstream', upstream, '--listen', listen, '--admin', `${kHost}:${busyPort}`],
     new RegExp(String(busyPort))],
    ['listen address not on this host', ['--upstream', upstream, '--listen', '192.0.2.1:8080', '--admin', admin],
     /192\.0\.2\.1/],
    ['config file that does not exist', ['--config', '/nonexistent/bulwark.yaml'], /nonexistent\/bulwark\.yaml/],
    // The clear line only: no uv_loop_close EBUSY after it (issue #13, bug 4).
    ['upstream host that does not resolve',
     ['--upstream', 'http://no-such-host.invalid/mcp', '--listen', listen, '--admin', admin], /no-such-host\.invalid/],
  ];
  const problems = [];
  for (const [what, args, mentions] of cases) {
    const r = await run(args);
    const lines = oneLine(r.err);
    if (r.code === 0 || r.code === null) problems.push(`${what}: exit ${r.code} (signal ${r.signal})`);
    if (lines.length !== 1) problems.push(`${what}: ${lines.length} stderr lines: ${JSON.stringify(r.err)}`);
    if (!mentions.test(r.err)) problems.push(`${what}: stderr does not mention ${mentions}: ${JSON.stringify(r.err)}`);
  }
  assert.deepEqual(problems, []);
});

test('--listen on a wildcard with shared_state and no advertise address: refused at start, naming both ways to set it', kT, async () => {
  const dir = await tempDir('bulwark-cli-');
  try {
    // Redis is never reached: the refusal comes before anything starts.
    const file = await writeConfig(dir.file('shared.yaml'), {
      upstream: { url: up.url }, shared_state: { redis: 'redis://127.0.0.1:9' },
    });
    const admin = `${kHost}:${await freePort()}`;
    for (const listen of ['0.0.0.0:0', '[::]:0']) {
      const r = await run(['--config', file, '--listen', listen, '--admin', admin]);
      assert.ok(r.code !== 0 && r.code !== null, `${listen}: exit ${r.code}: ${r.err}`);
      const lines = oneLine(r.err);
      assert.equal(lines.length, 1, r.err);
      assert.match(lines[0], /no advertise address/);
      assert.match(lines[0], /shared_state\.advertise/);
      assert.match(lines[0], /--advertise/);
    }
  } finally {
    await dir.remove();
  }
});

test('a wildcard listen from the file with shared_state: --advertise completes it, and without it the start is refused naming both ways', kT, async () => {
  const dir = await tempDir('bulwark-cli-');
  try {
    // Bound on the wildcard for a moment; every request of the test goes to 127.0.0.1.
    const file = await writeConfig(dir.file('wildcard.yaml'), {
      listen: '0.0.0.0:0', upstream: { url: up.url }, shared_state: { redis: 'redis://127.0.0.1:9' },
    });
    const adminPort = await freePort();
    const admin = `${kHost}:${adminPort}`;
    const refused = await run(['--config', file, '--admin', admin]);
    assert.ok(refused.code !== 0 && refused.code !== null, `exit ${refused.code}: ${refused.err}`);
    const lines = oneLine(refused.err);
    assert.equal(lines.length, 1, refused.err);
    assert.match(lines[0], /no advertise address: listen is 0\.0\.0\.0:0/);
    assert.match(lines[0], /--advertise=/);
    assert.match(lines[0], /shared_state\.advertise/);

    const proc = new ChildProcess('bulwark', kBulwarkBin, ['--config', file, '--admin', admin,
                                                          '--advertise', '127.0.0.1:8080']);
    try {
      await proc.waitForOutput(/"msg":"listening"/, 10000);
      const health = await request(`http://${admin}/healthz`, { timeoutMs: 5000 });
      assert.equal(health.status, 200, proc.describe());
    } finally {
      await proc.stop();
    }
  } finally {
    await dir.remove();
  }
});

test('stderr carries one JSON object per line, with time and level', kT, async (t) => {
  const bw = await startBulwark(up.url);
  t.after(() => bw.stop());
  await withDiagnostics(() => [bw], async () => {
    await request(bw.url, { method: 'POST', body: '{"jsonrpc":"2.0","id":1,"method":',
                            headers: { 'content-type': 'application/json' } });
    await request(bw.url, { method: 'POST', body: '{"jsonrpc":"2.0","id":2,"method":"ping"}',
                            headers: { 'content-type': 'application/json' } });
  })(t);
  await bw.stop();
  const lines = oneLine(bw.logs());
  assert.ok(lines.length >= 1, 'something was logged');
  for (const line of lines) {
    let obj;
    assert.doesNotThrow(() => { obj = JSON.parse(line); }, `not JSON: ${line}`);
    assert.equal(typeof obj, 'object');
    assert.ok(obj !== null && !Array.isArray(obj), line);
    assert.equal(typeof obj.time, 'string', `time in ${line}`);
    assert.equal(typeof obj.level, 'string', `level in ${line}`);
  }
});

test('SIGTERM: exits 0 promptly, also with a client connection open', kT, async (t) => {
  const bw = await startBulwark(up.url);
  t.after(() => bw.stop());
  const idle = net.connect({ host: kHost, port: bw.port });
  await new Promise((resolve, reject) => {
    idle.once('connect', resolve);
    idle.once('error', reject);
  });
  idle.on('error', () => {});
  t.after(() => idle.destroy());
  const t0 = Date.now();
  bw.proc.stopRequested = true;
  process.kill(bw.proc.pid, 'SIGTERM');
  const { code, signal } = await withTimeout(bw.proc.exited, 10000, 'exit after SIGTERM');
  assert.equal(signal, null, `killed by ${signal}\n${bw.describe()}`);
  assert.equal(code, 0, bw.describe());
  t.diagnostic(`exited ${Date.now() - t0} ms after SIGTERM`);
});

// A new user's trap: `--upstream http://127.0.0.1:3000` (no path, as Envoy or HAProxy take an
// upstream) would treat every client request to /mcp as not MCP. Bulwark starts and says so once,
// naming the fix; with a path it says nothing of the kind.
test('an upstream URL without a path: one warning line naming /mcp', kT, async (t) => {
  const bw = await startBulwark(up.origin);
  t.after(() => bw.stop());
  const withPath = await startBulwark(up.url);
  t.after(() => withPath.stop());
  await bw.stop();
  await withPath.stop();
  const warnings = oneLine(bw.logs()).map((l) => JSON.parse(l))
    .filter((o) => o.level === 'warn' && /has no path/.test(o.msg ?? o.message ?? JSON.stringify(o)));
  assert.equal(warnings.length, 1, bw.logs());
  assert.match(JSON.stringify(warnings[0]), new RegExp(`${up.origin.replace(/[.]/g, '\\.')}/mcp`));
  assert.doesNotMatch(withPath.logs(), /has no path/);
});
