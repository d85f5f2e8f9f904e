// Session recovery (issue 4): when the upstream forgets an MCP session (it restarted), Bulwark
// replays the client's initialize and notifications/initialized, maps the client's session id
// onto the new upstream one, re-opens the client's GET stream and sends the request again.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test tests/integration/session_recovery.test.mjs
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { kDirect, startBulwark, startEverything } from './lib/peers.mjs';
import { openStream, request } from './lib/net.mjs';
import { sumSamples } from './lib/metrics.mjs';
import { sleep, withTimeout } from './lib/procs.mjs';
import { kMcpHeaders, makeConfig, pollUntil, scoped, tempDir, writeConfig } from './lib/faulty.mjs';
import { startRawUpstream } from './lib/raw_upstream.mjs';

const kSkip = kDirect ? 'proxy-only behaviour' : false;
const kCallTimeoutMs = 15000;

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function configFile(upstreamUrl, extra = {}, { listAtStart = true } = {}) {
  const dir = await tempDir('bulwark-sessions-');
  const config = makeConfig(upstreamUrl, {
    defaults: { timeout: '15s', per_try_timeout: '5s' },
    retry: { max_attempts: 12, backoff: { base: '50ms', multiplier: 2, max: '400ms' } },
    tools: [{ match: 'echo', idempotent: true }, { match: 'append', idempotent: false }],
    ...extra,
  });
  if (!listAtStart) config.upstream.discovery = { at_start: false };
  const file = await writeConfig(dir.file('bulwark.yaml'), config);
  return { file, dir };
}

// The scripted upstream names its sessions s1, s2, ... and the tests count its initializes and
// DELETEs exactly: Bulwark's own listing (at start, and again after each lost session) would
// open sessions of its own.
const scriptedConfigFile = (upstreamUrl) => configFile(upstreamUrl, {}, { listAtStart: false });

describe('session recovery across an upstream restart (SDK client, server-everything)', { skip: kSkip, timeout: 120000 }, () => {
  test('read-only calls keep working with zero client-visible errors; clients keep their session ids',
    scoped(async (t, track) => {
      let se = await startEverything('server-everything-1');
      const port = se.port;
      let current = se;
      track({ stop: () => current.stop(), describe: () => current.proc.describe() });
      const { file, dir } = await configFile(se.url);
      t.after(() => dir.remove());
      const bw = track(await startBulwark(se.url, { config: file, name: 'bulwark-sessions' }));

      const kClients = 3;
      const clients = [];
      for (let i = 0; i < kClients; i++) {
        const client = new Client({ name: `session-client-${i}`, version: '1.0.0' });
        const transport = new StreamableHTTPClientTransport(new URL(bw.url));
        await withTimeout(client.connect(transport, { timeout: kCallTimeoutMs }), kCallTimeoutMs, 'connect');
        clients.push({ client, transport, sessionId: transport.sessionId });
        t.after(() => withTimeout(client.close(), 5000, 'close').catch(() => {}));
      }
      // Each client's GET stream is open upstream before the restart.
      for (const c of clients) {
        await se.proc.waitForOutput(new RegExp(`Establishing new SSE stream for session ${c.sessionId}`), 10000);
      }

      const calls = []; // {started, ms, ok, error}
      let stop = false;
      const kMaxCallsPerClient = 400;
      const loops = clients.map(async (c, i) => {
        for (let n = 0; n < kMaxCallsPerClient && !stop; n++) {
          const started = performance.now();
          const record = { started, ms: 0, ok: false, error: '' };
          calls.push(record);
          try {
            const res = await c.client.callTool({ name: 'echo', arguments: { message: `c${i}-${n}` } },
                                                undefined, { timeout: kCallTimeoutMs });
            record.ok = res.content?.[0]?.text === `Echo: c${i}-${n}`;
            if (!record.ok) record.error = `unexpected result ${JSON.stringify(res)}`;
          } catch (e) {
            record.error = e.message;
          }
          record.ms = performance.now() - started;
          await sleep(20);
        }
      });

      // Two restarts: kill the server hard, leave the port closed a while, start it again.
      const kRestarts = 2;
      const outages = [];
      for (let r = 0; r < kRestarts; r++) {
        await sleep(1000);
        const down = performance.now();
        await current.proc.stop(0);
        await sleep(300);
        current = await startEverything(`server-everything-${r + 2}`, { port });
        outages.push({ down, up: performance.now() });
      }
      await sleep(1500);
      stop = true;
      await Promise.all(loops);

      const failed = calls.filter((c) => !c.ok);
      const duringOutage = calls.filter((c) => outages.some((o) => c.started < o.up && c.started + c.ms > o.down));
      const lat = duringOutage.map((c) => c.ms).sort((a, b) => a - b);
      const p50 = percentile(lat, 50);
      const p99 = percentile(lat, 99);
      // Recovery: from the moment the restarted upstream answered its readiness check to the
      // call's answer (the outage itself is the upstream's start-up time, not Bulwark's).
      const afterUp = duringOutage.map((c) => {
        const o = outages.find((x) => c.started < x.up && c.started + c.ms > x.down);
        return Math.max(0, c.started + c.ms - o.up);
      }).sort((a, b) => a - b);
      const outageMs = outages.map((o) => (o.up - o.down).toFixed(0)).join(', ');
      t.diagnostic(`calls ${calls.length}, client-visible errors ${failed.length} ` +
                   `(${(100 * failed.length / calls.length).toFixed(2)}%); outages ${outageMs} ms; ` +
                   `calls spanning an outage ${lat.length}: latency p50 ${p50?.toFixed(0)} ms p99 ${p99?.toFixed(0)} ms, ` +
                   `answered after the upstream was back p50 ${percentile(afterUp, 50)?.toFixed(0)} ms p99 ${percentile(afterUp, 99)?.toFixed(0)} ms`);
      assert.deepEqual(failed.map((c) => c.error), [], 'no client-visible errors');
      assert.ok(lat.length >= kRestarts, 'calls were in flight across each restart');
      assert.ok(p99 < kCallTimeoutMs, 'recovered within the deadline');
      for (const c of clients) {
        assert.equal(c.transport.sessionId, c.sessionId, 'the client kept its session id');
      }
      // The last upstream process has a session and a GET stream for each client: Bulwark
      // re-initialized them and re-opened the streams.
      const initializes = current.proc.out.match(/Establishing new SSE stream for session/g)?.length ?? 0;
      await pollUntil(async () => (current.proc.out.match(/Establishing new SSE stream for session/g)?.length ?? 0) >= kClients,
                      { timeoutMs: 10000, what: `a GET stream per client on the restarted server (saw ${initializes})` });
      const m = await bw.metrics();
      const recovered = sumSamples(m, 'bulwark_session_recoveries_total', { result: 'success' });
      t.diagnostic(`session recoveries ${recovered}, failed ${sumSamples(m, 'bulwark_session_recoveries_total', { result: 'failure' })}, ` +
                   `requests recovered by session replay ${sumSamples(m, 'bulwark_recoveries_total', { strategy: 'session' })}`);
      assert.ok(recovered >= kClients * kRestarts, `each client's session was re-opened after each restart (${recovered})`);
      assert.ok(sumSamples(m, 'bulwark_recoveries_total', { strategy: 'session' }) >= 1);
      assert.equal(sumSamples(m, 'bulwark_errors_total'), 0, 'Bulwark counted no client-visible error');
    }));
});

// A scripted session server: sessions "s1", "s2", ...; `forget()` drops them all, as a restart
// would. tools/call of "append" counts executions.
async function startSessionServer(track, { lostStatus = 404 } = {}) {
  const up = await startRawUpstream();
  track({ stop: () => up.close(), describe: () => `scripted session upstream on ${up.url}` });
  const state = { next: 1, sessions: new Set(), initializes: [], initialized: [], appends: 0, deletes: [] };
  up.handler = (req, res, rec) => {
    const sid = req.headers['mcp-session-id'];
    const body = rec.body.length > 0 ? JSON.parse(rec.body.toString('utf8')) : undefined;
    const json = (status, value, headers = {}) => {
      const text = JSON.stringify(value);
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(text);
    };
    if (body?.method === 'initialize') {
      const id = `s${state.next++}`;
      state.sessions.add(id);
      state.initializes.push(rec.body.toString('utf8'));
      return json(200, { jsonrpc: '2.0', id: body.id, result: { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 'scripted', version: '1' } } },
                  { 'mcp-session-id': id });
    }
    if (!state.sessions.has(sid)) {
      if (lostStatus === 400) {
        return json(400, { jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: No valid session ID provided' }, id: null });
      }
      return json(404, { jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
    }
    if (req.method === 'DELETE') {
      state.deletes.push(sid);
      state.sessions.delete(sid);
      res.writeHead(200);
      return res.end();
    }
    if (body?.method === 'notifications/initialized') {
      state.initialized.push(sid);
      res.writeHead(202);
      return res.end();
    }
    if (body?.method === 'tools/call' && body.params?.name === 'bad') {
      return json(400, { jsonrpc: '2.0', error: { code: -32602, message: 'Bad Request: malformed arguments' }, id: body.id });
    }
    if (body?.method === 'tools/call') {
      state.appends++;
      return json(200, { jsonrpc: '2.0', id: body.id, result: { content: [{ type: 'text', text: `ran in ${sid}` }] } },
                  { 'mcp-session-id': sid });
    }
    return json(200, { jsonrpc: '2.0', id: body?.id ?? null, result: {} });
  };
  state.forget = () => state.sessions.clear();
  return { up, state };
}

async function post(url, sessionId, message) {
  const headers = { ...kMcpHeaders, 'mcp-protocol-version': '2025-06-18' };
  if (sessionId) headers['mcp-session-id'] = sessionId;
  const res = await request(url, { method: 'POST', headers, body: JSON.stringify(message) });
  return { ...res, json: res.body ? JSON.parse(res.body) : undefined };
}

const kInitialize = { jsonrpc: '2.0', id: 0, method: 'initialize',
                      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };

describe('session recovery (scripted upstream)', { skip: kSkip, timeout: 60000 }, () => {
  for (const lostStatus of [404, 400]) {
    test(`a lost session (HTTP ${lostStatus}) is re-opened and a non-idempotent call runs exactly once`, scoped(async (t, track) => {
      const { up, state } = await startSessionServer(track, { lostStatus });
      const { file, dir } = await scriptedConfigFile(up.url);
      t.after(() => dir.remove());
      const bw = track(await startBulwark(up.url, { config: file, name: 'bulwark-sessions-raw' }));

      const init = await post(bw.url, null, kInitialize);
      assert.equal(init.status, 200);
      assert.equal(init.headers['mcp-session-id'], 's1');
      await post(bw.url, 's1', { jsonrpc: '2.0', method: 'notifications/initialized' });
      const first = await post(bw.url, 's1', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'append', arguments: {} } });
      assert.equal(first.json.result.content[0].text, 'ran in s1');

      state.forget();
      const second = await post(bw.url, 's1', { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'append', arguments: {} } });
      assert.equal(second.status, 200, second.body);
      assert.equal(second.json.id, 2);
      assert.equal(second.json.result.content[0].text, 'ran in s2', 'sent again in the new upstream session');
      assert.equal(second.headers['mcp-session-id'], 's1', 'the client sees its own session id');
      assert.equal(state.appends, 2, 'the refused call ran once, after the recovery');
      assert.equal(state.initializes.length, 2);
      assert.equal(state.initializes[1], JSON.stringify(kInitialize), 'the client\'s initialize replayed byte for byte');
      assert.deepEqual(state.initialized, ['s1', 's2'], 'notifications/initialized sent in the new session');

      // Later requests go straight to the new session; DELETE ends it upstream.
      const third = await post(bw.url, 's1', { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'append', arguments: {} } });
      assert.equal(third.json.result.content[0].text, 'ran in s2');
      assert.equal(state.initializes.length, 2, 'no further replay');
      const del = await request(bw.url, { method: 'DELETE', headers: { 'mcp-session-id': 's1' } });
      assert.equal(del.status, 200);
      assert.deepEqual(state.deletes, ['s2']);

      const m = await bw.metrics();
      assert.equal(sumSamples(m, 'bulwark_session_recoveries_total', { result: 'success' }), 1);
      assert.equal(sumSamples(m, 'bulwark_recoveries_total', { strategy: 'session' }), 1);
      assert.equal(sumSamples(m, 'bulwark_sessions_active'), 0, 'DELETE ended the session');
    }));
  }

  test('a 400 that is not about the session reaches the client unchanged, without a replay', scoped(async (t, track) => {
    const { up, state } = await startSessionServer(track);
    const { file, dir } = await scriptedConfigFile(up.url);
    t.after(() => dir.remove());
    const bw = track(await startBulwark(up.url, { config: file, name: 'bulwark-sessions-raw' }));
    await post(bw.url, null, kInitialize);
    const bad = await post(bw.url, 's1', { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'bad', arguments: {} } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.message, 'Bad Request: malformed arguments');
    assert.equal(state.initializes.length, 1);
  }));

  test('concurrent requests in one lost session share a single replay', scoped(async (t, track) => {
    const { up, state } = await startSessionServer(track);
    const { file, dir } = await scriptedConfigFile(up.url);
    t.after(() => dir.remove());
    const bw = track(await startBulwark(up.url, { config: file, name: 'bulwark-sessions-raw' }));
    await post(bw.url, null, kInitialize);
    state.forget();
    const answers = await Promise.all([...Array(8).keys()].map((i) =>
      post(bw.url, 's1', { jsonrpc: '2.0', id: 100 + i, method: 'tools/call', params: { name: 'echo', arguments: {} } })));
    for (const [i, a] of answers.entries()) {
      assert.equal(a.status, 200, a.body);
      assert.equal(a.json.id, 100 + i);
    }
    assert.equal(state.initializes.length, 2, 'one replay for all eight');
  }));

  test('a GET stream whose upstream breaks is re-opened in the recovered session', scoped(async (t, track) => {
    const { up, state } = await startSessionServer(track);
    const streams = [];
    const scripted = up.handler;
    up.handler = (req, res, rec) => {
      if (req.method === 'GET' && state.sessions.has(req.headers['mcp-session-id'])) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'mcp-session-id': req.headers['mcp-session-id'] });
        res.write(`event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"data":"hello from ${req.headers['mcp-session-id']}"}}\n\n`);
        res.write('event: message\ndata: {"partial"'); // cut mid-event: must not reach the client
        streams.push(res);
        return undefined;
      }
      return scripted(req, res, rec);
    };
    const { file, dir } = await scriptedConfigFile(up.url);
    t.after(() => dir.remove());
    const bw = track(await startBulwark(up.url, { config: file, name: 'bulwark-sessions-raw' }));
    await post(bw.url, null, kInitialize);
    const s = openStream(bw.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': 's1' } });
    t.after(() => s.destroy());
    await s.waitFor('hello from s1', 5000, 'first event');
    state.forget();
    streams[0].socket.destroy(); // the upstream dies under the stream
    await s.waitFor('hello from s2', 8000, 'an event from the re-opened stream');
    assert.ok(!s.text().includes('partial'), `the torn event never reached the client: ${JSON.stringify(s.text())}`);
    assert.equal(state.initializes.length, 2);
    assert.equal(s.finished, false, 'the client\'s stream stayed open');
  }));
});
