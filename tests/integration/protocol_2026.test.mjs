// The 2026-07-28 protocol through Bulwark (issue #16), against the project's own fixture server
// written from the specification (tests/integration/fixtures/server_2026.mjs; no 2026 peer is on
// npm yet), and the one 2025-11-25 behaviour the issue adds (SSE polling). Each `describe` is one
// item of the issue. With BULWARK_BIN=direct the same requests go to the fixture alone, which
// checks the fixture and the client helper; the Bulwark-only assertions are skipped then.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test tests/integration/protocol_2026.test.mjs
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { kDirect, startBulwark, stopAll, withDiagnostics } from './lib/peers.mjs';
import { kHost, openStream, request, waitForHttp } from './lib/net.mjs';
import { ChildProcess, sleep } from './lib/procs.mjs';
import { jsonLogLines, tempDir, writeConfig } from './lib/faulty.mjs';
import { sumSamples } from './lib/metrics.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const kFixture = path.join(here, 'fixtures', 'server_2026.mjs');
const kVersion = '2026-07-28';

// --- the fixture -----------------------------------------------------------------------------

async function startServer2026(name = 'server-2026') {
  const proc = new ChildProcess(name, process.execPath, [kFixture], { env: { PORT: '0' } });
  try {
    const m = await proc.waitForOutput(/listening on (\d+)/, 15000);
    const origin = `http://${kHost}:${Number(m[1])}`;
    await waitForHttp(`${origin}/healthz`, { proc });
    return { proc, origin, url: `${origin}/mcp`, legacyUrl: `${origin}/legacy`,
             stats: async () => JSON.parse((await request(`${origin}/stats`)).body),
             describe: () => proc.describe(), stop: () => proc.stop() };
  } catch (e) {
    await proc.stop();
    throw e;
  }
}

// --- a small 2026-07-28 client ---------------------------------------------------------------

// The header value of Mcp-Name: Base64 sentinel form when the value is not plain visible ASCII
// (or looks like the sentinel itself), as the specification's Value Encoding asks.
function mcpNameHeader(value) {
  const plain = /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(value) &&
                !(value.startsWith('=?base64?') && value.endsWith('?='));
  return plain ? value : `=?base64?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

let nextId = 1;
// A 2026 request: the version in the header and in _meta, Mcp-Method and Mcp-Name mirrored.
function request2026(method, params = {}, { id = nextId++, meta = {}, headers = {} } = {}) {
  const body = { jsonrpc: '2.0', id, method,
                 params: { ...params, _meta: { 'io.modelcontextprotocol/protocolVersion': kVersion,
                                               'io.modelcontextprotocol/clientInfo': { name: 'era2026', version: '1' },
                                               ...meta } } };
  const name = method === 'resources/read' ? params.uri : (method === 'tools/call' || method === 'prompts/get') ? params.name : undefined;
  const h = { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
              'mcp-protocol-version': kVersion, 'mcp-method': method,
              ...(name !== undefined ? { 'mcp-name': mcpNameHeader(name) } : {}), ...headers };
  for (const [k, v] of Object.entries(h)) if (v === null) delete h[k];
  return { body: JSON.stringify(body), headers: h, id };
}

// Every JSON-RPC message of a reply: SSE `data:` (multi-line data joined), or a JSON body of one
// message or several, one per line.
function messagesOf(res) {
  const type = res.headers['content-type'] ?? '';
  if (type.startsWith('text/event-stream')) return sseMessages(res.body);
  if (!type.startsWith('application/json')) return [];
  return res.body.split('\n').map((l) => l.trim()).filter((l) => l !== '').map((l) => JSON.parse(l));
}
function sseMessages(text) {
  const out = [];
  for (const event of text.replace(/\r\n/g, '\n').split('\n\n')) {
    const data = event.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, ''));
    if (data.length > 0 && data.join('\n').trim() !== '') out.push(JSON.parse(data.join('\n')));
  }
  return out;
}

async function call(url, method, params, opts = {}) {
  const r = request2026(method, params, opts);
  const res = await request(url, { method: 'POST', headers: r.headers, body: r.body, timeoutMs: 15000 });
  const messages = res.body === '' ? [] : messagesOf(res);
  const answer = messages.filter((m) => m.id !== undefined && m.method === undefined).at(-1);
  return { ...res, messages, answer, id: r.id };
}

const callTool = (url, name, args = {}, opts = {}) => call(url, 'tools/call', { name, arguments: args }, opts);

// --- peers -----------------------------------------------------------------------------------

let dir;
let server;
let bulwark;
let legacyBulwark;
const peers = () => [server, bulwark, legacyBulwark];

const kConfig = (upstreamUrl) => ({
  upstream: { url: upstreamUrl },
  defaults: {
    timeout: '1s',
    per_try_timeout: '400ms',
    retry: { max_attempts: 3, backoff: { base: '10ms', multiplier: 2, max: '40ms' } },
    circuit_breaker: { min_requests: 2, failure_ratio: 0.5, window: '10s', open_for: '5s' },
  },
  methods: { 'resources/read': { cache: { ttl: '60s', stale_if_error: '1h' } } },
  tools: [
    { match: 'start_task', cache: { ttl: '60s' } },
    { match: 'ask', cache: { ttl: '60s', stale_if_error: '1h' }, fallback: { text: 'fallback answer' } },
  ],
});

before(async () => {
  dir = await tempDir('bulwark-2026-');
  server = await startServer2026();
  if (kDirect) {
    bulwark = { direct: true, url: server.url, metrics: async () => [], logs: () => '', stop: async () => {} };
    legacyBulwark = { direct: true, url: server.legacyUrl, stop: async () => {} };
    return;
  }
  const file = await writeConfig(dir.file('bulwark.yaml'), kConfig(server.url));
  bulwark = await startBulwark(server.url, { config: file, name: 'bulwark-2026' });
  legacyBulwark = await startBulwark(server.legacyUrl, { name: 'bulwark-legacy' });
});
after(async () => {
  await stopAll(legacyBulwark, bulwark, server);
  await dir?.remove();
});

const skipDirect = { skip: kDirect ? 'Bulwark only' : false };

// --- item 1: subscriptions/listen ------------------------------------------------------------

async function openListen(url, params) {
  const r = request2026('subscriptions/listen', params);
  const stream = openStream(url, { method: 'POST', headers: r.headers, body: r.body });
  const head = await stream.head;
  return { stream, head };
}
const listenMessages = (stream, json) => (json ? stream.text().split('\n').filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l)) : sseMessages(stream.text()));
const lastSeq = (messages) => Math.max(0, ...messages.map((m) => m.params?._meta?.seq ?? 0));

async function waitForSeq(stream, json, seq, ms = 8000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    let complete = true;
    try {
      if (lastSeq(listenMessages(stream, json)) >= seq) return listenMessages(stream, json);
    } catch {
      complete = false; // a line or event still arriving
    }
    await Promise.race([stream.done, sleep(complete ? 50 : 10)]);
  }
  throw new Error(`no notification ${seq} within ${ms} ms; got: ${stream.text()}`);
}

async function waitForStats(pred, what, ms = 8000) {
  const deadline = Date.now() + ms;
  let s;
  while (Date.now() < deadline) {
    s = await server.stats();
    if (pred(s)) return s;
    await sleep(50);
  }
  throw new Error(`fixture never saw ${what}: ${JSON.stringify(s)}`);
}

describe('1. subscriptions/listen: a long-lived stream', { timeout: 60000 }, () => {
  for (const framing of ['sse', 'json']) {
    test(`${framing}: acknowledgement and tagged notifications pass through as they come, past every timeout`,
         withDiagnostics(peers, async () => {
      const json = framing === 'json';
      const before = await server.stats();
      const { stream, head } = await openListen(bulwark.url, { framing, notifications: ['tools/list_changed'] });
      assert.equal(head.status, 200);
      assert.match(head.headers['content-type'], json ? /application\/json/ : /text\/event-stream/);
      // 10 notifications at 150 ms: past per_try_timeout (400 ms) and timeout (1 s).
      const messages = await waitForSeq(stream, json, 10);
      assert.equal(messages[0].method, 'notifications/subscriptions/acknowledged');
      const sub = messages[0].params._meta['io.modelcontextprotocol/subscriptionId'];
      assert.ok(messages.slice(1).every((m) => m.params._meta['io.modelcontextprotocol/subscriptionId'] === sub));
      if (!json) assert.match(stream.text(), /^:$/m, 'keep-alive comments pass through');
      // Cancellation: the client goes away, the upstream stream is closed.
      stream.destroy();
      await waitForStats((s) => s.listen.closed > before.listen.closed, 'the listen stream closed');
      const after = await server.stats();
      assert.equal(after.listen.opened - before.listen.opened, 1, 'opened once: never retried');
    }));
  }

  test('a stream the server ends is not retried and no breaker counts it', skipDirect,
       withDiagnostics(peers, async () => {
    const before = await server.stats();
    const { stream } = await openListen(bulwark.url, { framing: 'json', endAfter: 2 });
    const done = await stream.done;
    assert.equal(done.complete, true);
    assert.equal(lastSeq(listenMessages(stream, true)), 2);
    const again = await openListen(bulwark.url, { framing: 'sse', endAfter: 1 });
    await again.stream.done;
    assert.equal((await server.stats()).listen.opened - before.listen.opened, 2, 'each opened once');
    const metrics = await bulwark.metrics();
    assert.equal(sumSamples(metrics, 'bulwark_circuit_transitions_total'), 0, 'no breaker moved');
    assert.equal(sumSamples(metrics, 'bulwark_retries_total', {}), 0, 'no retry');
  }));
});

// --- item 2: answers that are several messages -----------------------------------------------

describe('2. a JSON body of several messages, one per line', { timeout: 60000 }, () => {
  for (const tool of ['lines', 'lines_ugly']) {
    test(`${tool}: forwarded untouched, judged on the last message`, withDiagnostics(peers, async () => {
      const direct = await callTool(server.url, tool, {}, { id: 42, meta: { progressToken: 'p' } });
      const through = await callTool(bulwark.url, tool, {}, { id: 42, meta: { progressToken: 'p' } });
      assert.equal(through.status, 200, through.body);
      assert.equal(through.body, direct.body, 'the body as the server wrote it');
      assert.equal(through.messages.length, 2);
      assert.equal(through.messages[0].method, 'notifications/progress');
      assert.equal(through.answer.result.content[0].text, `${tool} done`);
    }));
  }
  test('a truncated last line stays a protocol failure', skipDirect, withDiagnostics(peers, async () => {
    const res = await callTool(bulwark.url, 'lines_truncated');
    assert.equal(res.status, 502, res.body);
    assert.equal(res.answer.error.code, -32603);
  }));
  for (const tool of ['sse', 'sse_ugly']) {
    test(`${tool}: an SSE answer with progress, a keep-alive and the result`, withDiagnostics(peers, async () => {
      const res = await callTool(bulwark.url, tool, {}, { meta: { progressToken: 7 } });
      assert.equal(res.status, 200, res.body);
      assert.equal(res.messages[0].method, 'notifications/progress');
      assert.match(res.answer.result.content[0].text, /done/);
    }));
  }
});

// --- item 3: multi round-trip requests -------------------------------------------------------

describe('3. input_required: an interim success, never cached, never replaced', { timeout: 60000 }, () => {
  test('tools/call ask: interim answer passes through; the follow-up reaches the server', withDiagnostics(peers, async () => {
    const before = (await server.stats()).tools.ask ?? 0;
    const first = await callTool(bulwark.url, 'ask');
    assert.equal(first.status, 200);
    assert.equal(first.answer.result.resultType, 'input_required');
    assert.ok(first.answer.result.inputRequests.confirm);
    assert.equal(first.answer.result._meta?.['bulwark/fallback'], undefined, 'not a fallback');
    const second = await callTool(bulwark.url, 'ask');
    assert.equal(second.answer.result.resultType, 'input_required', 'not a cached or stale answer');
    const follow = { name: 'ask', arguments: {}, inputResponses: { confirm: { action: 'accept', content: {} } },
                     requestState: first.answer.result.requestState };
    const done1 = await call(bulwark.url, 'tools/call', follow);
    const done2 = await call(bulwark.url, 'tools/call', follow);
    assert.match(done1.answer.result.content[0].text, /^answered/);
    assert.match(done2.answer.result.content[0].text, /^answered/);
    assert.equal((await server.stats()).tools.ask - before, 4, 'every request reached the server');
  }));
  test('resources/read: input_required is not cached, follow-ups never come from the cache', skipDirect,
       withDiagnostics(peers, async () => {
    const reads = async (uri) => (await server.stats()).tools[`read ${uri}`] ?? 0;
    // The cache works for a complete result (so the checks below could fail).
    await call(bulwark.url, 'resources/read', { uri: 'fixture://plain' });
    const plain = await call(bulwark.url, 'resources/read', { uri: 'fixture://plain' });
    assert.equal(plain.answer.result.contents[0].text, 'resource 1', 'served from the cache');
    assert.equal(await reads('fixture://plain'), 1);
    await call(bulwark.url, 'resources/read', { uri: 'fixture://ask' });
    const again = await call(bulwark.url, 'resources/read', { uri: 'fixture://ask' });
    assert.equal(again.answer.result.resultType, 'input_required');
    assert.equal(await reads('fixture://ask'), 2, 'an input_required result is never stored');
    const follow = { uri: 'fixture://ask', inputResponses: { roots: { roots: [] } }, requestState: 'r1' };
    await call(bulwark.url, 'resources/read', follow);
    const f2 = await call(bulwark.url, 'resources/read', follow);
    assert.equal(f2.answer.result.resultType, 'complete');
    assert.equal(await reads('fixture://ask'), 4, 'follow-ups are never answered from the cache');
  }));
});

// --- item 4: error codes of the revision -----------------------------------------------------

describe('4. -32020, -32021, -32022 are invalid_input: answered at once, never retried', { timeout: 60000 }, () => {
  for (const [tool, code] of [['need_capability', -32021], ['bad_version', -32022], ['mismatch', -32020]]) {
    test(`${tool} (${code})`, withDiagnostics(peers, async () => {
      const before = (await server.stats()).tools[tool] ?? 0;
      const res = await callTool(bulwark.url, tool); // read-only: retry-safe, so only the class stops it
      assert.equal(res.status, 400);
      assert.equal(res.answer.error.code, code);
      assert.equal((await server.stats()).tools[tool] - before, 1, 'sent once');
    }));
  }
});

// --- item 5: standard headers ----------------------------------------------------------------

describe('5. Mcp-Method / Mcp-Name must match the body', { timeout: 60000 }, () => {
  test('matching headers, plain or Base64, pass', withDiagnostics(peers, async () => {
    const plain = await callTool(bulwark.url, 'echo');
    assert.equal(plain.status, 200);
    const encoded = await callTool(bulwark.url, 'echo', {}, { headers: { 'mcp-name': '=?base64?ZWNobw==?=' } });
    assert.equal(encoded.status, 200, encoded.body);
    const uri = 'fixture://caf\u00e9 menu';
    const read = await call(bulwark.url, 'resources/read', { uri });
    assert.equal(read.status, 200, read.body);
    assert.equal((await server.stats()).headers['resources/read'].name, mcpNameHeader(uri), 'forwarded as sent');
  }));
  for (const [what, headers] of [['Mcp-Name', { 'mcp-name': 'counter' }],
                                 ['Base64 Mcp-Name', { 'mcp-name': '=?base64?Y291bnRlcg==?=' }],
                                 ['Mcp-Method', { 'mcp-method': 'tools/list' }]]) {
    test(`a mismatched ${what} is answered 400 with -32020 and never forwarded`, skipDirect,
         withDiagnostics(peers, async () => {
      const before = await server.stats();
      const res = await callTool(bulwark.url, 'echo', {}, { headers });
      assert.equal(res.status, 400, res.body);
      assert.equal(res.answer.error.code, -32020);
      assert.equal(res.answer.id, res.id);
      const after = await server.stats();
      assert.equal(after.tools.echo, before.tools.echo, 'echo never ran');
      assert.equal(after.tools.counter, before.tools.counter, 'nor the tool the header named');
    }));
  }
});

// --- item 6: era per request -----------------------------------------------------------------

describe('6. a 2026 request never triggers session recovery', { timeout: 60000 }, () => {
  test('404 with -32601 is "method not found", answered at once', withDiagnostics(peers, async () => {
    const before = (await server.stats()).methods['tools/unknown'] ?? 0;
    const metricsBefore = await bulwark.metrics();
    const res = await call(bulwark.url, 'tools/unknown', {});
    assert.equal(res.status, 404);
    assert.equal(res.answer.error.code, -32601);
    const s = await server.stats();
    assert.equal(s.methods['tools/unknown'] - before, 1, 'sent once');
    assert.equal(s.methods.initialize, undefined, 'no initialize replayed');
    if (!kDirect) {
      const metrics = await bulwark.metrics();
      const delta = (cls) => sumSamples(metrics, 'bulwark_errors_total', { class: cls }) -
                             sumSamples(metricsBefore, 'bulwark_errors_total', { class: cls });
      assert.equal(delta('resource'), 1, 'counted as resource (method not found)');
      assert.equal(delta('protocol'), 0, 'not as a wrong endpoint');
      assert.equal(delta('session_lost'), 0);
    }
  }));
  test('Bulwark never sends ping or initialize to a 2026 upstream', skipDirect, withDiagnostics(peers, async () => {
    const d = await call(bulwark.url, 'server/discover', {});
    assert.equal(d.answer.result.supportedVersions[0], kVersion);
    const s = await server.stats();
    assert.equal(s.methods.ping, undefined);
    assert.equal(s.methods.initialize, undefined);
    assert.equal(sumSamples(await bulwark.metrics(), 'bulwark_session_reinitializations_total'), 0);
  }));
});

// --- item 7: tasks ---------------------------------------------------------------------------

describe('7. tasks', { timeout: 60000 }, () => {
  test('a task handle is never cached as the tool result', withDiagnostics(peers, async () => {
    const a = await callTool(bulwark.url, 'start_task');
    const b = await callTool(bulwark.url, 'start_task');
    assert.equal(a.answer.result.resultType, 'task');
    assert.notEqual(a.answer.result.task.taskId, b.answer.result.task.taskId, 'each call reached the server');
  }));
  test('tasks/get is repeated after a failure; tasks/update and tasks/cancel are not', skipDirect,
       withDiagnostics(peers, async () => {
    const get = await call(bulwark.url, 'tasks/get', { taskId: 'flaky-1' });
    assert.equal(get.status, 200, get.body);
    assert.equal(get.answer.result.task.status, 'working');
    for (const method of ['tasks/update', 'tasks/cancel']) {
      const res = await call(bulwark.url, method, { taskId: 'flaky-1' });
      assert.notEqual(res.status, 200, `${method}: ${res.body}`);
    }
    const s = await server.stats();
    assert.equal(s.tasks['tasks/get flaky-1'], 2);
    assert.equal(s.tasks['tasks/update flaky-1'], 1);
    assert.equal(s.tasks['tasks/cancel flaky-1'], 1);
  }));
});

// --- item 8: trace context -------------------------------------------------------------------

const kTrace = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
                 tracestate: 'vendor=opaque,other=x', baggage: 'user=alice;ttl=5' };

describe('8. trace context', { timeout: 60000 }, () => {
  test('traceparent, tracestate and baggage in _meta pass through untouched', withDiagnostics(peers, async () => {
    const res = await callTool(bulwark.url, 'echo', {}, { meta: kTrace });
    const seen = JSON.parse(res.answer.result.content[0].text);
    for (const [k, v] of Object.entries(kTrace)) assert.equal(seen[k], v);
  }));
  test('the log line of a failed request carries the trace id', skipDirect, withDiagnostics(peers, async () => {
    const res = await callTool(bulwark.url, 'broken', {}, { meta: kTrace });
    assert.notEqual(res.status, 200);
    await sleep(100);
    const lines = jsonLogLines(bulwark.logs()).filter((l) => l.tool === 'broken');
    assert.ok(lines.length > 0, 'a log line for the failure');
    assert.equal(lines.at(-1).trace_id, '4bf92f3577b34da6a3ce929d0e0e4736');
  }));
});

// --- item 9: 2025-11-25 SSE polling ----------------------------------------------------------

describe('9. 2025-11-25 SSE polling: priming event, stream end, resume by GET', { timeout: 60000 }, () => {
  test('not a failure, not repeated; the GET resumes on the same session', withDiagnostics(peers, async () => {
    const h = { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
                'mcp-protocol-version': '2025-11-25' };
    const init = await request(legacyBulwark.url, { method: 'POST', headers: h, body: JSON.stringify({
      jsonrpc: '2.0', id: 1, method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'poll', version: '1' } } }) });
    assert.equal(init.status, 200, init.body);
    const session = init.headers['mcp-session-id'];
    assert.ok(session);
    const sh = { ...h, 'mcp-session-id': session };
    const before = (await server.stats()).tools.poll ?? 0;
    const post = await request(legacyBulwark.url, { method: 'POST', headers: sh, timeoutMs: 15000,
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'poll', arguments: {} } }) });
    assert.equal(post.status, 200, post.body);
    assert.match(post.body, /^id: ev-1$/m, 'the priming event reaches the client');
    assert.doesNotMatch(post.body, /"error"/);
    assert.equal((await server.stats()).tools.poll - before, 1, 'not repeated');
    const get = await request(legacyBulwark.url, { method: 'GET', timeoutMs: 15000,
      headers: { accept: 'text/event-stream', 'mcp-session-id': session, 'last-event-id': 'ev-1',
                 'mcp-protocol-version': '2025-11-25' } });
    assert.equal(get.status, 200, get.body);
    const [answer] = sseMessages(get.body);
    assert.equal(answer.id, 2);
    assert.equal(answer.result.content[0].text, 'polled');
    const s = await server.stats();
    assert.equal(s.legacy.lastEventIds.at(-1), 'ev-1', 'Last-Event-ID untouched');
    assert.equal(s.legacy.sessions.at(-1), session, 'the same upstream session');
    if (!kDirect) {
      const metrics = await legacyBulwark.metrics();
      assert.equal(sumSamples(metrics, 'bulwark_retries_total'), 0);
      assert.equal(sumSamples(metrics, 'bulwark_requests_total', { method: 'tools/call', outcome: 'success' }), 1);
    }
  }));
});
