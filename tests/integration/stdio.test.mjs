// stdio upstreams: Bulwark spawns a stdio MCP server (`bulwark -- CMD...` or upstream.command)
// and serves it over Streamable HTTP, one child per client session.
//   - server-everything in stdio mode: the SDK flows of sdk_flows.test.mjs (initialize,
//     tools/list equal to a direct stdio connection, echo, progress arriving incrementally,
//     resources, prompts, a server-to-client sampling request, DELETE), and several concurrent
//     clients whose request ids collide;
//   - a fixture stdio server (fixtures/stdio_server.mjs): killing the child mid-call (a
//     read-only call recovers without a client-visible error, a non-idempotent one is not
//     repeated), the replayed initialize, cancellation on client disconnect, a crash loop;
//   - server-memory configured through upstream.command with env, its graph on a temp dir.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test --test-timeout=90000 tests/integration/stdio.test.mjs
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CreateMessageRequestSchema, ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { kDirect, kEverythingMain, kNodeModules, kBulwarkBin, startBulwark, stopAll,
         withDiagnostics } from './lib/peers.mjs';
import { kHost, openStream, request } from './lib/net.mjs';
import { findSamples, sumSamples } from './lib/metrics.mjs';
import { ChildProcess, sleep, withTimeout } from './lib/procs.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const kFixture = path.join(here, 'fixtures', 'stdio_server.mjs');
const kMemoryMain = path.join(kNodeModules, '@modelcontextprotocol', 'server-memory', 'dist',
                              'index.js');
const kRequestTimeoutMs = 20000;
const kTestTimeoutMs = 60000;
const opts = { timeout: kRequestTimeoutMs };
// Only the path matters: Bulwark serves a spawned server on /mcp.
const kStdioUrl = `http://${kHost}/mcp`;

async function connect(t, url, { name = 'bulwark-stdio-test', capabilities = {} } = {}) {
  const client = new Client({ name, version: '1.0.0' }, { capabilities });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await withTimeout(client.connect(transport, { timeout: kRequestTimeoutMs }), kRequestTimeoutMs,
                    `initialize via ${url}`);
  t.after(() => withTimeout(client.close(), 5000, 'client.close').catch(() => {}));
  return { client, transport };
}

// The same server spoken to directly over stdio, for comparison.
async function connectDirect(t, command, args) {
  const client = new Client({ name: 'direct', version: '1.0.0' });
  const transport = new StdioClientTransport({ command, args, stderr: 'ignore', cwd: os.tmpdir() });
  await withTimeout(client.connect(transport, { timeout: kRequestTimeoutMs }), kRequestTimeoutMs,
                    'direct stdio initialize');
  t.after(() => withTimeout(client.close(), 5000, 'direct close').catch(() => {}));
  return client;
}

function writeConfig(t, yaml) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-stdio-'));
  t.after?.(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'bulwark.yaml');
  fs.writeFileSync(file, yaml);
  return { dir, file };
}

async function metricValue(bw, name, labels = {}) {
  return sumSamples(await bw.metrics(), name, labels);
}

// Polls `check` (bounded) until it returns a truthy value; returns the last value.
async function eventually(check, { timeoutMs = 10000, stepMs = 50 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let value;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    value = await check();
    if (value) return value;
    await sleep(stepMs);
  }
  return check();
}

// The metric's value once it has stopped changing (the same for 500 ms; bounded).
async function settledMetric(bw, name, { timeoutMs = 10000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = await metricValue(bw, name);
  for (let i = 0; i < 100 && Date.now() < deadline; i++) {
    await sleep(500);
    const now = await metricValue(bw, name);
    if (now === last) return now;
    last = now;
  }
  return last;
}

function text(result) {
  return result.content?.[0]?.text ?? '';
}

describe('server-everything (stdio) through Bulwark', { skip: kDirect && 'needs Bulwark' }, () => {
  let bw;
  const procs = () => [bw];

  before(async () => {
    bw = await startBulwark(kStdioUrl, { command: [process.execPath, kEverythingMain, 'stdio'] });
  });
  after(async () => {
    await stopAll(bw);
  });

  test('initialize, serverInfo and tools/list equal a direct stdio connection',
       { timeout: kTestTimeoutMs }, withDiagnostics(procs, async (t) => {
    const { client, transport } = await connect(t, bw.url);
    assert.match(transport.sessionId ?? '', /^[0-9a-f]{32}$/, 'Bulwark issued an Mcp-Session-Id');
    const direct = await connectDirect(t, process.execPath, [kEverythingMain, 'stdio']);
    assert.deepEqual(client.getServerVersion(), direct.getServerVersion());
    assert.deepEqual(client.getServerCapabilities(), direct.getServerCapabilities());
    const [viaBulwark, viaStdio] = await Promise.all([client.listTools(undefined, opts),
                                                      direct.listTools(undefined, opts)]);
    assert.ok(viaBulwark.tools.length > 5, 'server-everything lists its tools');
    assert.deepEqual(viaBulwark, viaStdio);
  }));

  test('echo, resources and prompts', { timeout: kTestTimeoutMs },
       withDiagnostics(procs, async (t) => {
    const { client } = await connect(t, bw.url);
    const echo = await client.callTool({ name: 'echo', arguments: { message: 'über stdio' } },
                                       undefined, opts);
    assert.equal(text(echo), 'Echo: über stdio');
    const resources = await client.listResources(undefined, opts);
    assert.ok(resources.resources.length > 0, 'resources listed');
    const read = await client.readResource({ uri: resources.resources[0].uri }, opts);
    assert.equal(read.contents[0].uri, resources.resources[0].uri);
    const prompts = await client.listPrompts(undefined, opts);
    const simple = prompts.prompts.find((p) => p.name === 'simple-prompt');
    assert.ok(simple, `simple-prompt listed (got ${prompts.prompts.map((p) => p.name)})`);
    const prompt = await client.getPrompt({ name: 'simple-prompt' }, opts);
    assert.ok(prompt.messages.length > 0);
  }));

  test('progress arrives incrementally, well before the result', { timeout: kTestTimeoutMs },
       withDiagnostics(procs, async (t) => {
    const { client } = await connect(t, bw.url);
    const steps = 4;
    const progress = [];
    const t0 = performance.now();
    const res = await client.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 4, steps } }, undefined,
      { ...opts, onprogress: (p) => progress.push({ ...p, at: performance.now() - t0 }) });
    const tResult = performance.now() - t0;
    t.diagnostic(`progress at ${progress.map((p) => `${p.progress}@${p.at.toFixed(0)}ms`).join(', ')}; ` +
                 `result at ${tResult.toFixed(0)} ms`);
    assert.match(text(res), /Long running operation completed/);
    assert.deepEqual(progress.map((p) => p.progress), [1, 2, 3, 4]);
    assert.ok(tResult - progress[0].at >= 2000,
              `first progress ${progress[0].at.toFixed(0)} ms, result ${tResult.toFixed(0)} ms`);
  }));

  test('a server-to-client sampling request reaches the client and its answer the server',
       { timeout: kTestTimeoutMs }, withDiagnostics(procs, async (t) => {
    const client = new Client({ name: 'sampler', version: '1.0.0' },
                              { capabilities: { sampling: {} } });
    const asked = [];
    client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
      asked.push(req.params.messages[0].content.text);
      return { model: 'test-model', role: 'assistant',
               content: { type: 'text', text: 'sampled by the test client' } };
    });
    const transport = new StreamableHTTPClientTransport(new URL(bw.url));
    await withTimeout(client.connect(transport, opts), kRequestTimeoutMs, 'connect');
    t.after(() => withTimeout(client.close(), 5000, 'close').catch(() => {}));
    const res = await client.callTool(
      { name: 'trigger-sampling-request', arguments: { prompt: 'hello', maxTokens: 10 } },
      undefined, opts);
    assert.equal(asked.length, 1, 'one sampling request reached the client');
    assert.match(asked[0], /hello/);
    assert.match(text(res), /sampled by the test client/);
  }));

  test('roots/list from each session\'s server reaches that session\'s client',
       { timeout: kTestTimeoutMs }, withDiagnostics(procs, async (t) => {
    const clients = await Promise.all(['alpha', 'beta'].map(async (name) => {
      const client = new Client({ name, version: '1.0.0' }, { capabilities: { roots: {} } });
      let asked = 0;
      client.setRequestHandler(ListRootsRequestSchema, async () => {
        asked++;
        return { roots: [{ uri: `file:///roots/${name}`, name }] };
      });
      const transport = new StreamableHTTPClientTransport(new URL(bw.url));
      await withTimeout(client.connect(transport, opts), kRequestTimeoutMs, 'connect');
      t.after(() => withTimeout(client.close(), 5000, 'close').catch(() => {}));
      return { name, client, asked: () => asked };
    }));
    const answers = await Promise.all(clients.map(({ client }) =>
      client.callTool({ name: 'get-roots-list', arguments: {} }, undefined, opts)));
    clients.forEach(({ name, asked }, i) => {
      assert.match(text(answers[i]), new RegExp(`file:///roots/${name}`), `${name} sees its roots`);
      const other = clients[1 - i].name;
      assert.doesNotMatch(text(answers[i]), new RegExp(`roots/${other}`), `${name} sees no other`);
      assert.ok(asked() >= 1, `${name}'s client was asked for its roots`);
    });
  }));

  test('concurrent clients with colliding request ids each get their own answers',
       { timeout: kTestTimeoutMs }, withDiagnostics(procs, async (t) => {
    const clients = [];
    for (let i = 0; i < 4; i++) clients.push((await connect(t, bw.url, { name: `c${i}` })).client);
    // Every SDK client numbers its requests from 0, so the ids collide across clients.
    const rounds = 5;
    const results = await Promise.all(clients.map(async (client, i) => {
      const got = [];
      for (let r = 0; r < rounds; r++) {
        const res = await client.callTool({ name: 'echo', arguments: { message: `c${i} r${r}` } },
                                          undefined, opts);
        got.push(text(res));
      }
      return got;
    }));
    results.forEach((got, i) => {
      assert.deepEqual(got, Array.from({ length: rounds }, (_, r) => `Echo: c${i} r${r}`));
    });
  }));

  test('DELETE ends the session and its child; /readyz and the stdio metrics',
       { timeout: kTestTimeoutMs }, withDiagnostics(procs, async (t) => {
    const ready = await request(`${bw.admin}/readyz`);
    assert.equal(ready.status, 200, ready.body);
    assert.equal(await metricValue(bw, 'bulwark_stdio_child_up'), 1);
    assert.equal(await metricValue(bw, 'bulwark_upstream_up'), 1);
    // The spare is replaced on the bridge's next tick after a session takes it: count children
    // only once that has happened, or the replacement hides the stopped child.
    const idle = await settledMetric(bw, 'bulwark_stdio_children');
    const { client, transport } = await connect(t, bw.url);
    await client.listTools(undefined, opts);
    const withSession = await eventually(async () =>
      (await metricValue(bw, 'bulwark_stdio_children')) === idle + 1);
    assert.ok(withSession, `the session has its own child beside the spare (${idle} before)`);
    const sessionId = transport.sessionId;
    await transport.terminateSession();
    const stopped = await eventually(async () =>
      (await metricValue(bw, 'bulwark_stdio_children')) === idle);
    assert.ok(stopped, `the session child is stopped (${await metricValue(bw, 'bulwark_stdio_children')} ` +
                       `children, ${idle} expected)`);
    const gone = await request(bw.url, {
      method: 'POST', timeoutMs: 10000,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
                 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    assert.equal(gone.status, 404, `a deleted session is gone: ${gone.body}`);
    assert.equal(await metricValue(bw, 'bulwark_stdio_restarts_total'), 0,
                 'no child restarted in this server-everything run');
    assert.match(bw.logs(), /"msg":"stdio child stderr".*"line":"Starting default \(STDIO\) server/,
                 "the child's stderr is in Bulwark's log as JSON lines");
  }));
});

describe('supervision of a stdio child', { skip: kDirect && 'needs Bulwark' }, () => {
  let bw;
  let work;
  const procs = () => [bw];
  const fixtureLog = () => (fs.existsSync(path.join(work.dir, 'fixture.log'))
    ? fs.readFileSync(path.join(work.dir, 'fixture.log'), 'utf8') : '');

  before(async () => {
    work = writeConfig({}, '');
    fs.writeFileSync(work.file, [
      'upstream:',
      `  command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(kFixture)}]`,
      `  env: {STDIO_FIXTURE_LOG: ${JSON.stringify(path.join(work.dir, 'fixture.log'))}}`,
      `  cwd: ${JSON.stringify(path.resolve(here, '..'))}`,
      '  restart: {backoff: {base: 50ms, multiplier: 2, max: 1s}, max_restarts: 5, stable_after: 2s}',
      '  stop_timeout: 1s',
      'defaults:',
      '  timeout: 25s',
      '  per_try_timeout: 15s',
      '  retry: {max_attempts: 4, backoff: {base: 100ms, multiplier: 2, max: 500ms}}',
      'tools:',
      '  - {match: slow_timeout, timeout: 700ms, retry: {max_attempts: 1}}',
      '',
    ].join('\n'));
  });
  after(async () => {
    await stopAll(bw);
    fs.rmSync(work.dir, { recursive: true, force: true });
  });

  test('start', { timeout: kTestTimeoutMs }, async () => {
    bw = await startBulwark(kStdioUrl, { config: work.file });
    const ready = await request(`${bw.admin}/readyz`);
    assert.equal(ready.status, 200, ready.body);
  });

  async function whoami(client) {
    return JSON.parse(text(await client.callTool({ name: 'whoami', arguments: {} }, undefined, opts)));
  }

  test('a read-only call in flight when the child is killed recovers without a client error; ' +
       'the session is re-initialized with the client\'s own initialize',
       { timeout: kTestTimeoutMs }, withDiagnostics(procs, async (t) => {
    const { client } = await connect(t, bw.url, { name: 'survivor' });
    await client.listTools(undefined, opts);  // Bulwark learns slow_read is read-only
    const first = await whoami(client);
    assert.equal(first.client.name, 'survivor');
    const restartsBefore = await metricValue(bw, 'bulwark_stdio_restarts_total');
    const call = client.callTool({ name: 'slow_read', arguments: { ms: 1500, tag: 'r1' } },
                                 undefined, opts);
    await sleep(300);
    process.kill(first.pid, 'SIGKILL');
    const res = await call;
    const second = await whoami(client);
    assert.notEqual(second.pid, first.pid, 'a new child serves the session');
    assert.equal(text(res), `read r1 by ${second.pid}`, 'answered by the restarted child');
    assert.equal(second.client.name, 'survivor', "the replayed initialize is the client's");
    assert.ok(await metricValue(bw, 'bulwark_stdio_restarts_total') >= restartsBefore + 1,
              'the restart is counted');
    const retries = await metricValue(bw, 'bulwark_retries_total', { tool: 'slow_read' });
    assert.ok(retries >= 1, `the proxy retried the read (${retries})`);
    assert.equal(await metricValue(bw, 'bulwark_errors_total'), 0, 'no client-visible error');
  }));

  test('a non-idempotent call in flight when the child is killed is not repeated',
       { timeout: kTestTimeoutMs }, withDiagnostics(procs, async (t) => {
    const { client } = await connect(t, bw.url, { name: 'writer' });
    await client.listTools(undefined, opts);
    const me = await whoami(client);
    const call = client.callTool({ name: 'slow_write', arguments: { ms: 1500, tag: 'w1' } },
                                 undefined, opts);
    await eventually(() => fixtureLog().includes('write w1 '));
    process.kill(me.pid, 'SIGKILL');
    await assert.rejects(call, (e) => {
      t.diagnostic(`client error: ${e.message}`);
      return /"class":"upstream"/.test(e.message) && /"gaveUp":"unsafe"/.test(e.message);
    });
    // The session still works (a new child) and the write never ran a second time.
    const after = await whoami(client);
    assert.notEqual(after.pid, me.pid);
    await sleep(500);
    const writes = fixtureLog().split('\n').filter((l) => l.startsWith('write w1 '));
    assert.equal(writes.length, 1, `slow_write ran once: ${JSON.stringify(writes)}`);
  }));

  test('a client that disconnects mid-call causes notifications/cancelled to the child',
       { timeout: kTestTimeoutMs }, withDiagnostics(procs, async (t) => {
    const { client, transport } = await connect(t, bw.url, { name: 'leaver' });
    const me = await whoami(client);
    const stream = openStream(bw.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
                 'mcp-session-id': transport.sessionId, 'mcp-protocol-version': '2025-06-18' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 77, method: 'tools/call',
                             params: { name: 'slow_read', arguments: { ms: 10000, tag: 'gone' } } }),
    });
    await sleep(500);
    stream.destroy();
    const cancelled = await eventually(() => fixtureLog().includes(`cancelled ${me.pid}`));
    assert.ok(cancelled, `the child saw the cancellation:\n${fixtureLog()}`);
    const stats = JSON.parse(text(await client.callTool({ name: 'stats', arguments: {} },
                                                         undefined, opts)));
    assert.equal(stats.pid, me.pid, 'same child, not a restart');
    assert.equal(stats.cancelled, 1);
  }));

  test('a request that times out in Bulwark causes notifications/cancelled to the child',
       { timeout: kTestTimeoutMs }, withDiagnostics(procs, async (t) => {
    const { client } = await connect(t, bw.url, { name: 'impatient' });
    await client.listTools(undefined, opts);
    const me = await whoami(client);
    await assert.rejects(
      client.callTool({ name: 'slow_timeout', arguments: { ms: 10000, tag: 't' } }, undefined, opts),
      (e) => /"class":"timeout"/.test(e.message));
    const cancelled = await eventually(() => fixtureLog().includes(`cancelled ${me.pid}`));
    assert.ok(cancelled, `the child saw the cancellation:\n${fixtureLog()}`);
    const stats = JSON.parse(text(await client.callTool({ name: 'stats', arguments: {} },
                                                         undefined, opts)));
    assert.deepEqual([stats.pid, stats.cancelled], [me.pid, 1], 'cancelled once, same child');
  }));

  test('SIGTERM stops Bulwark and its children (stdin closed first)', { timeout: kTestTimeoutMs },
       withDiagnostics(procs, async (t) => {
    const { client } = await connect(t, bw.url, { name: 'last' });
    const me = await whoami(client);
    await client.close();  // no connection left: the drain ends at once
    const status = await bw.stop();
    const logs = bw.logs();
    bw = null;
    assert.equal(status.code, 0, 'a clean exit');
    assert.match(logs, new RegExp(`"msg":"stdio child stopped","pid":${me.pid},"exit_status":0`),
                 'the child exited by itself once its stdin was closed');
    const alive = () => { try { process.kill(me.pid, 0); return true; } catch { return false; } };
    assert.equal(await eventually(() => !alive(), { timeoutMs: 5000 }), true,
                 'the child is gone once Bulwark has exited');
  }));
});

describe('a stdio server that keeps crashing', { skip: kDirect && 'needs Bulwark' }, () => {
  test('is restarted with backoff, then reported as a crash loop on /readyz and in metrics',
       { timeout: kTestTimeoutMs }, async (t) => {
    const work = writeConfig(t, [
      'upstream:',
      `  command: [${JSON.stringify(process.execPath)}, -e, "process.stderr.write('boom\\\\n'); process.exit(3)"]`,
      '  restart: {backoff: {base: 20ms, multiplier: 2, max: 200ms}, max_restarts: 3}',
      // Counts every child's exit: Bulwark's own tool listing would take one of them.
      '  discovery: {at_start: false}',
      '',
    ].join('\n'));
    const bw = await startBulwark(kStdioUrl, { config: work.file });
    t.after(() => bw.stop());
    const notReady = await eventually(async () => {
      const res = await request(`${bw.admin}/readyz`);
      return res.status === 503 && /crash loop/.test(res.body) ? res : null;
    });
    assert.ok(notReady, '/readyz reports the crash loop');
    assert.match(notReady.body, /exited with status 3/);
    assert.equal(await metricValue(bw, 'bulwark_stdio_crash_loop'), 1);
    assert.equal(await metricValue(bw, 'bulwark_stdio_child_up'), 0);
    assert.equal(await metricValue(bw, 'bulwark_upstream_up'), 0,
                 'bulwark_upstream_up follows the child, not the loopback bridge');
    assert.ok(await metricValue(bw, 'bulwark_stdio_restarts_total') >= 3);
    const init = await request(bw.url, {
      method: 'POST', timeoutMs: 15000,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {
        protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
    });
    assert.equal(init.status, 502, init.body);
    assert.match(bw.logs(), /"msg":"stdio child stderr".*"line":"boom"/);
    assert.ok(bw.proc.running, 'Bulwark itself keeps running');
  });

  test('its exit lines carry only the facts that apply: exit status or signal, no empty session',
       { timeout: kTestTimeoutMs }, async (t) => {
    const exits = async (script) => {
      const work = writeConfig(t, [
        'upstream:',
        `  command: [${JSON.stringify(process.execPath)}, -e, ${JSON.stringify(script)}]`,
        '  restart: {backoff: {base: 20ms, multiplier: 2, max: 200ms}, max_restarts: 2}',
        // Every exit must be the spare's: Bulwark's own tool listing would run in a session.
        '  discovery: {at_start: false}',
        '',
      ].join('\n'));
      const bw = await startBulwark(kStdioUrl, { config: work.file });
      t.after(() => bw.stop());
      const exited = () => bw.logs().split('\n').filter((l) => l.includes('"msg":"stdio child exited"'))
        .map((l) => JSON.parse(l));
      assert.ok(await eventually(() => exited().length >= 2), bw.logs());
      const stderr = bw.logs().split('\n').filter((l) => l.includes('"msg":"stdio child stderr"'))
        .map((l) => JSON.parse(l));
      return { exited: exited(), stderr };
    };
    const byStatus = await exits("process.stderr.write('boom\\n'); process.exit(3)");
    for (const line of byStatus.exited) {
      assert.equal(line.exit_status, 3, JSON.stringify(line));
      assert.ok(!('signal' in line), JSON.stringify(line));
      assert.equal(line.child, 'spare', 'the spare child has no session yet');
      assert.ok(!('session' in line), JSON.stringify(line));
    }
    assert.ok(byStatus.stderr.length >= 1);
    for (const line of byStatus.stderr) assert.ok(!('truncated' in line), JSON.stringify(line));

    const bySignal = await exits("process.kill(process.pid, 'SIGKILL')");
    for (const line of bySignal.exited) {
      assert.equal(line.signal, 9, JSON.stringify(line));
      assert.ok(!('exit_status' in line), JSON.stringify(line));
    }
  });

  test('a command that cannot be spawned at all stops Bulwark at start with one line',
       { timeout: kTestTimeoutMs }, async () => {
    const proc = new ChildProcess('bulwark-nocmd', kBulwarkBin, [
      '--listen', `${kHost}:0`, '--admin', `${kHost}:0`, '--', '/nonexistent/stdio-server']);
    const status = await withTimeout(proc.exited, 10000, 'bulwark exit');
    assert.notEqual(status.code, 0);
    assert.match(proc.err, /cannot start the stdio server '\/nonexistent\/stdio-server': uv_spawn: ENOENT/);
  });
});

describe('server-memory through upstream.command', { skip: kDirect && 'needs Bulwark' }, () => {
  test('entities written in one session are read in another (graph file in a temp dir)',
       { timeout: kTestTimeoutMs }, async (t) => {
    const work = writeConfig(t, '');
    const memoryFile = path.join(work.dir, 'memory.jsonl');
    fs.writeFileSync(work.file, [
      'upstream:',
      `  command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(kMemoryMain)}]`,
      `  env: {MEMORY_FILE_PATH: ${JSON.stringify(memoryFile)}}`,
      'tools:',
      '  - {match: "create_*", idempotent: false}',
      '',
    ].join('\n'));
    const bw = await startBulwark(kStdioUrl, { config: work.file });
    t.after(() => bw.stop());
    const first = await connect(t, bw.url, { name: 'memory-writer' });
    const created = await first.client.callTool({ name: 'create_entities', arguments: {
      entities: [{ name: 'Bulwark', entityType: 'proxy', observations: ['speaks stdio'] }] } },
      undefined, opts);
    assert.equal(created.isError ?? false, false, text(created));
    await first.transport.terminateSession();
    const second = await connect(t, bw.url, { name: 'memory-reader' });
    const graph = await second.client.callTool({ name: 'read_graph', arguments: {} }, undefined, opts);
    assert.match(text(graph), /"name": ?"Bulwark"/);
    assert.match(text(graph), /speaks stdio/);
    assert.match(fs.readFileSync(memoryFile, 'utf8'), /Bulwark/, 'the graph is in the temp dir');
  });
});
