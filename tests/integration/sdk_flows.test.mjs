// The official MCP SDK client through Bulwark: against server-everything (sessions, SSE replies,
// progress, the standalone GET stream, DELETE) and against a stateless application/json fixture.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test --test-timeout=60000 tests/integration/sdk_flows.test.mjs
//
// BULWARK_BIN=direct runs the same flows against the upstreams directly (harness self-check).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { kDirect, startBulwark, startEverything, startFixture, stopAll, withDiagnostics }
  from './lib/peers.mjs';
import { request } from './lib/net.mjs';
import { findSamples, sumSamples } from './lib/metrics.mjs';
import { sleep, withTimeout } from './lib/procs.mjs';

const kRequestTimeoutMs = 15000; // every SDK request is bounded by this
const kTestTimeoutMs = 45000;

async function connect(t, url, name = 'bulwark-integration') {
  const client = new Client({ name, version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await withTimeout(client.connect(transport, { timeout: kRequestTimeoutMs }), kRequestTimeoutMs,
                    `initialize via ${url}`);
  t.after(() => withTimeout(client.close(), 5000, 'client.close').catch(() => {}));
  return { client, transport };
}

const opts = { timeout: kRequestTimeoutMs };

// Waits (bounded) until the tools/call counter for `tool` has grown by `delta` since `before`.
async function waitForToolCount(bw, tool, base, delta) {
  let now = 0;
  for (let i = 0; i < 60; i++) {
    const m = await bw.metrics();
    now = sumSamples(m, 'bulwark_requests_total', { method: 'tools/call', tool });
    if (now - base >= delta) return { metrics: m, now };
    await sleep(50);
  }
  return { metrics: await bw.metrics(), now };
}

function checkHistogram(metrics) {
  const name = 'bulwark_request_duration_seconds';
  assert.equal(metrics.types[name], 'histogram', `${name} is declared a histogram`);
  const inf = findSamples(metrics, `${name}_bucket`).filter((s) => s.labels.le === '+Inf');
  assert.ok(inf.length > 0, `${name}_bucket{le="+Inf"} present`);
  assert.ok(findSamples(metrics, `${name}_count`).some((s) => s.value > 0),
            `${name}_count has observations`);
  assert.ok(findSamples(metrics, `${name}_sum`).length > 0, `${name}_sum present`);
}

describe('SDK client through Bulwark against server-everything', () => {
  let se;
  let bw;
  const procs = () => [bw, se?.proc];

  before(async () => {
    se = await startEverything();
    bw = await startBulwark(se.url);
  });
  after(async () => {
    await stopAll(bw, se);
  });

  test('initialize through Bulwark yields a session and the upstream server info',
       { timeout: kTestTimeoutMs }, withDiagnostics(procs, async (t) => {
    const { client, transport } = await connect(t, bw.url);
    assert.ok(transport.sessionId, 'Mcp-Session-Id came back through Bulwark');
    const info = client.getServerVersion();
    assert.ok(info?.name, 'serverInfo.name present');
    const direct = await connect(t, se.url, 'direct');
    assert.deepEqual(info, direct.client.getServerVersion());
    assert.deepEqual(client.getServerCapabilities(), direct.client.getServerCapabilities());
  }));

  test('tools/list through Bulwark equals tools/list directly', { timeout: kTestTimeoutMs },
       withDiagnostics(procs, async (t) => {
    const { client } = await connect(t, bw.url);
    const direct = await connect(t, se.url, 'direct');
    const via = (await client.listTools(undefined, opts)).tools;
    const ref = (await direct.client.listTools(undefined, opts)).tools;
    const names = (tools) => tools.map((x) => x.name).sort();
    assert.deepEqual(names(via), names(ref));
    assert.ok(names(via).includes('echo') && names(via).includes('trigger-long-running-operation'));
    assert.deepEqual(via, ref, 'tool definitions identical');
  }));

  test('tools/call echo', { timeout: kTestTimeoutMs }, withDiagnostics(procs, async (t) => {
    const { client } = await connect(t, bw.url);
    const res = await client.callTool({ name: 'echo', arguments: { message: 'hello bulwark' } },
                                      undefined, opts);
    assert.deepEqual(res.content, [{ type: 'text', text: 'Echo: hello bulwark' }]);
    assert.notEqual(res.isError, true);
  }));

  test('trigger-long-running-operation: progress arrives incrementally, well before the result',
       { timeout: kTestTimeoutMs }, withDiagnostics(procs, async (t) => {
    const { client } = await connect(t, bw.url);
    const steps = 4;
    const durationS = 4; // one progress notification per second
    const progress = [];
    const t0 = performance.now();
    const res = await client.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: durationS, steps } },
      undefined,
      { ...opts, onprogress: (p) => progress.push({ ...p, at: performance.now() - t0 }) });
    const tResult = performance.now() - t0;
    t.diagnostic(`progress at ${progress.map((p) => `${p.progress}@${p.at.toFixed(0)}ms`).join(', ')}; ` +
                 `result at ${tResult.toFixed(0)} ms`);
    assert.match(res.content[0].text, /Long running operation completed/);
    assert.deepEqual(progress.map((p) => p.progress), [1, 2, 3, 4]);
    assert.ok(progress.every((p) => p.total === steps));
    // Streamed, not buffered: the first notification arrives about 3 s before the result
    // (a buffering proxy delivers them all together with the result).
    assert.ok(tResult - progress[0].at >= 2000,
              `first progress ${progress[0].at.toFixed(0)} ms, result ${tResult.toFixed(0)} ms`);
    for (let i = 1; i < progress.length; i++) {
      assert.ok(progress[i].at - progress[i - 1].at >= 500,
                `progress ${i} and ${i + 1} arrive apart (${progress[i - 1].at.toFixed(0)}, ` +
                `${progress[i].at.toFixed(0)} ms)`);
    }
  }));

  test('resources/list and resources/read match the upstream', { timeout: kTestTimeoutMs },
       withDiagnostics(procs, async (t) => {
    const { client } = await connect(t, bw.url);
    const direct = await connect(t, se.url, 'direct');
    const listed = (await client.listResources(undefined, opts)).resources;
    assert.deepEqual(listed, (await direct.client.listResources(undefined, opts)).resources);
    const textual = listed.find((r) => r.uri.startsWith('demo://resource/static/document/'));
    assert.ok(textual, `a static document resource among ${listed.map((r) => r.uri).join(' ')}`);
    const via = await client.readResource({ uri: textual.uri }, opts);
    const ref = await direct.client.readResource({ uri: textual.uri }, opts);
    assert.ok(via.contents.length > 0 && via.contents[0].text.length > 0);
    assert.deepEqual(via, ref);
  }));

  test('prompts/get, with and without arguments', { timeout: kTestTimeoutMs },
       withDiagnostics(procs, async (t) => {
    const { client } = await connect(t, bw.url);
    const names = (await client.listPrompts(undefined, opts)).prompts.map((p) => p.name);
    assert.ok(names.includes('simple-prompt') && names.includes('args-prompt'), names.join(' '));
    const simple = await client.getPrompt({ name: 'simple-prompt' }, opts);
    assert.equal(simple.messages[0].content.text, 'This is a simple prompt without arguments.');
    const withArgs = await client.getPrompt(
      { name: 'args-prompt', arguments: { city: 'Lisbon', state: 'Lisboa' } }, opts);
    assert.match(JSON.stringify(withArgs.messages), /Lisbon/);
  }));

  test('the standalone GET stream reaches the upstream and carries server notifications',
       { timeout: kTestTimeoutMs }, withDiagnostics(procs, async (t) => {
    const { client, transport } = await connect(t, bw.url);
    const sid = transport.sessionId;
    // The SDK opens the GET stream after initialize; server-everything logs it per session.
    await se.proc.waitForOutput(new RegExp(`Establishing new SSE stream for session ${sid}`), 10000);
    const logs = [];
    let gotLog;
    const first = new Promise((resolve) => { gotLog = resolve; });
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      logs.push(n);
      gotLog();
    });
    // Sends one log message at once, then one every 5 s, on the GET stream (no related request).
    const on = await client.callTool({ name: 'toggle-simulated-logging', arguments: {} }, undefined, opts);
    assert.match(on.content[0].text, /Started simulated/);
    await withTimeout(first, 12000, 'a notifications/message on the GET stream');
    assert.match(String(logs[0].params.data), new RegExp(sid));
    await client.callTool({ name: 'toggle-simulated-logging', arguments: {} }, undefined, opts);
  }));

  test('a JSON-RPC batch POSTed in the session is answered through Bulwark', { timeout: kTestTimeoutMs },
       withDiagnostics(procs, async (t) => {
    const { transport } = await connect(t, bw.url);
    const res = await request(bw.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
                 'mcp-session-id': transport.sessionId, 'mcp-protocol-version': transport.protocolVersion },
      body: JSON.stringify([{ jsonrpc: '2.0', id: 'b1', method: 'ping' },
                            { jsonrpc: '2.0', id: 'b2', method: 'tools/call',
                              params: { name: 'echo', arguments: { message: 'batched' } } }]),
      timeoutMs: kRequestTimeoutMs,
    });
    assert.equal(res.status, 200, res.body);
    // SSE data lines (server-everything also sends an empty priming event for resumption).
    const messages = res.body.split('\n').filter((l) => l.startsWith('data:') && l.slice(5).trim() !== '')
      .flatMap((l) => [JSON.parse(l.slice(5))].flat());
    const byId = Object.fromEntries(messages.filter((m) => 'id' in m).map((m) => [m.id, m]));
    assert.deepEqual(byId.b1?.result, {}, res.body);
    assert.equal(byId.b2?.result?.content?.[0]?.text, 'Echo: batched', res.body);
  }));

  test('terminateSession sends DELETE through Bulwark and ends the upstream session',
       { timeout: kTestTimeoutMs }, withDiagnostics(procs, async (t) => {
    const { client, transport } = await connect(t, bw.url);
    const sid = transport.sessionId;
    await client.ping(opts);
    const activeBefore = sumSamples(await bw.metrics(), 'bulwark_sessions_active');
    assert.ok(activeBefore >= 1, `bulwark_sessions_active counts this session (${activeBefore})`);
    await withTimeout(transport.terminateSession(), kRequestTimeoutMs, 'DELETE');
    assert.equal(transport.sessionId, undefined);
    assert.equal(sumSamples(await bw.metrics(), 'bulwark_sessions_active'), activeBefore - 1,
                 'the DELETE ended it');
    await se.proc.waitForOutput(new RegExp(`session termination request for session ${sid}`), 5000);
    // The old session is gone upstream: server-everything answers 400 (the spec says 404).
    const res = await request(bw.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
                 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }),
    });
    assert.ok(res.status === 400 || res.status === 404, `status ${res.status}: ${res.body}`);
  }));

  test('/metrics counts tools/call by tool and has the duration histogram',
       { timeout: kTestTimeoutMs, skip: kDirect && 'BULWARK_BIN=direct' },
       withDiagnostics(procs, async (t) => {
    const { client } = await connect(t, bw.url);
    await client.listTools(undefined, opts); // lets Bulwark learn the tool names
    const base = sumSamples(await bw.metrics(), 'bulwark_requests_total',
                            { method: 'tools/call', tool: 'echo' });
    for (let i = 0; i < 3; i++) {
      await client.callTool({ name: 'echo', arguments: { message: `m${i}` } }, undefined, opts);
    }
    const { metrics, now } = await waitForToolCount(bw, 'echo', base, 3);
    assert.equal(now - base, 3, 'bulwark_requests_total{method="tools/call",tool="echo"} grew by 3');
    const samples = findSamples(metrics, 'bulwark_requests_total', { method: 'tools/call', tool: 'echo' });
    assert.ok(samples.every((s) => typeof s.labels.outcome === 'string' && s.labels.outcome !== ''),
              'every sample has an outcome label');
    assert.ok(sumSamples(metrics, 'bulwark_requests_total',
                         { method: 'tools/call', tool: 'trigger-long-running-operation' }) >= 1,
              'the long-running call is counted under its own tool label');
    checkHistogram(metrics);
  }));
});

describe('SDK client through Bulwark against the stateless application/json fixture', () => {
  let fx;
  let bw;
  const procs = () => [bw, fx?.proc];

  before(async () => {
    fx = await startFixture();
    bw = await startBulwark(fx.url);
  });
  after(async () => {
    await stopAll(bw, fx);
  });

  test('initialize and tools/list equal the direct answers', { timeout: kTestTimeoutMs },
       withDiagnostics(procs, async (t) => {
    const { client, transport } = await connect(t, bw.url);
    const direct = await connect(t, fx.url, 'direct');
    assert.equal(transport.sessionId, undefined, 'stateless: no session id');
    assert.deepEqual(client.getServerVersion(), direct.client.getServerVersion());
    const via = (await client.listTools(undefined, opts)).tools;
    assert.deepEqual(via, (await direct.client.listTools(undefined, opts)).tools);
    assert.deepEqual(via.map((x) => x.name).sort(), ['add', 'echo', 'fail', 'slow']);
  }));

  test('tools/call: echo, add (structured), fail (isError), slow', { timeout: kTestTimeoutMs },
       withDiagnostics(procs, async (t) => {
    const { client } = await connect(t, bw.url);
    const echo = await client.callTool({ name: 'echo', arguments: { message: 'json' } }, undefined, opts);
    assert.deepEqual(echo.content, [{ type: 'text', text: 'echo: json' }]);
    const add = await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } }, undefined, opts);
    assert.deepEqual(add.structuredContent, { sum: 42 });
    const fail = await client.callTool({ name: 'fail', arguments: {} }, undefined, opts);
    assert.equal(fail.isError, true);
    assert.equal(fail.content[0].text, 'this tool always fails');
    const t0 = performance.now();
    const slow = await client.callTool({ name: 'slow', arguments: { ms: 800 } }, undefined, opts);
    assert.match(slow.content[0].text, /^slept \d+ ms \(asked 800\)$/);
    assert.ok(performance.now() - t0 >= 750);
    const stats = JSON.parse((await request(`${fx.origin}/stats`)).body);
    for (const tool of ['echo', 'add', 'fail', 'slow']) assert.ok(stats.tools[tool] >= 1, tool);
  }));

  test('resources/read and prompts/get', { timeout: kTestTimeoutMs },
       withDiagnostics(procs, async (t) => {
    const { client } = await connect(t, bw.url);
    const list = await client.listResources(undefined, opts);
    assert.deepEqual(list.resources.map((r) => r.uri), ['fixture://greeting']);
    const read = await client.readResource({ uri: 'fixture://greeting' }, opts);
    assert.deepEqual(read.contents, [{ uri: 'fixture://greeting', mimeType: 'text/plain',
                                       text: 'Hello from the stateless JSON fixture.' }]);
    const prompt = await client.getPrompt({ name: 'greet', arguments: { name: 'Ada' } }, opts);
    assert.equal(prompt.messages[0].content.text, 'Please greet Ada warmly.');
  }));

  test('replies stay application/json through Bulwark; GET and DELETE get the upstream 405',
       { timeout: kTestTimeoutMs }, withDiagnostics(procs, async (t) => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 'list-1', method: 'tools/list' });
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
                      'mcp-protocol-version': '2025-11-25' };
    const via = await request(bw.url, { method: 'POST', headers, body });
    assert.equal(via.status, 200);
    assert.match(via.headers['content-type'], /^application\/json/);
    const parsed = JSON.parse(via.body);
    assert.equal(parsed.id, 'list-1');
    const direct = await request(fx.url, { method: 'POST', headers, body });
    assert.equal(via.body, direct.body, 'the same bytes as directly');
    for (const method of ['GET', 'DELETE']) {
      const res = await request(bw.url, { method, headers: { accept: 'text/event-stream' } });
      assert.equal(res.status, 405, `${method}: ${res.body}`);
      assert.equal(res.headers.allow, 'POST');
    }
    // The SDK client copes with both (no GET stream, terminateSession is a no-op without a session).
    const { client, transport } = await connect(t, bw.url);
    await client.ping(opts);
    await withTimeout(transport.terminateSession(), 5000, 'terminateSession');
  }));

  test('/metrics counts tools/call by tool', { timeout: kTestTimeoutMs, skip: kDirect && 'BULWARK_BIN=direct' },
       withDiagnostics(procs, async (t) => {
    const { client } = await connect(t, bw.url);
    await client.listTools(undefined, opts);
    const m0 = await bw.metrics();
    const base = sumSamples(m0, 'bulwark_requests_total', { method: 'tools/call', tool: 'echo' });
    const baseSlow = sumSamples(m0, 'bulwark_requests_total', { method: 'tools/call', tool: 'slow' });
    await client.callTool({ name: 'echo', arguments: { message: 'count me' } }, undefined, opts);
    await client.callTool({ name: 'echo', arguments: { message: 'and me' } }, undefined, opts);
    await client.callTool({ name: 'slow', arguments: { ms: 10 } }, undefined, opts);
    const { metrics, now } = await waitForToolCount(bw, 'echo', base, 2);
    assert.equal(now - base, 2, 'tools/call tool="echo" grew by 2');
    const slowNow = sumSamples(await bw.metrics(), 'bulwark_requests_total',
                               { method: 'tools/call', tool: 'slow' });
    assert.equal(slowNow - baseSlow, 1, 'tools/call tool="slow" grew by 1');
    checkHistogram(metrics);
  }));
});
