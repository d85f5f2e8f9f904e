// Sessions that outlive their pod (issue 15): pairs of server-everything + Bulwark sharing one
// redis-server, behind a round-robin TCP balancer (the multi-replica harness, lib/replicas.mjs),
// with the official SDK client.
// - any pair serves any session: requests that land on a non-owner are forwarded to the owner,
//   and only the owner's server sees the session's calls;
// - the owner pair killed mid-run: calls after the kill succeed, the session id is unchanged;
// - two sidecars racing to take over the same session: exactly one wins, one initialize replayed;
// - Redis down at start and killed mid-run: an owned session works on, /readyz stays 200;
// - a forwarded request is never forwarded again.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test tests/integration/shared_sessions.test.mjs
//
// SHARED_CALLS (default 6) sets the calls per phase. SHARED_MEASURE=N (off by default) also runs
// the measurement: p50/p99 of a direct and a forwarded call, and of the time from an owner's
// death to the first answer served by the new owner over N deaths (reported, not asserted).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { kDirect } from './lib/peers.mjs';
import { request } from './lib/net.mjs';
import { sumSamples } from './lib/metrics.mjs';
import { sleep, withTimeout } from './lib/procs.mjs';
import { callTool, kMcpHeaders, pollUntil, rpc, scoped } from './lib/faulty.mjs';
import { freshConnectionFetch, startReplicas } from './lib/replicas.mjs';

const kSkip = kDirect ? 'proxy-only behaviour' : false;
const kCalls = Number(process.env.SHARED_CALLS ?? 6);
const kTimeoutMs = 15000;

async function connectSdk(t, url, fetch) {
  const client = new Client({ name: 'shared-state-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    ...(fetch ? { fetch } : {}),
    reconnectionOptions: { initialReconnectionDelay: 200, maxReconnectionDelay: 500,
                           reconnectionDelayGrowFactor: 1.5, maxRetries: 20 },
  });
  await withTimeout(client.connect(transport, { timeout: kTimeoutMs }), kTimeoutMs, `initialize via ${url}`);
  t.after(() => withTimeout(client.close(), 5000, 'client.close').catch(() => {}));
  return { client, transport };
}

async function echoCalls(client, tag, count) {
  const failures = [];
  for (let i = 0; i < count; i++) {
    try {
      const res = await client.callTool({ name: 'echo', arguments: { message: `${tag}-${i}` } },
                                        undefined, { timeout: kTimeoutMs });
      if (res.content?.[0]?.text !== `Echo: ${tag}-${i}`) failures.push(JSON.stringify(res));
    } catch (e) {
      failures.push(e.message);
    }
  }
  return failures;
}

async function metric(pair, name, match = {}) {
  return sumSamples(await pair.bulwark.metrics(), name, match);
}

async function toolCalls(pair) {
  return metric(pair, 'bulwark_requests_total', { method: 'tools/call' });
}

// A session opened directly on `pair` by raw HTTP: its id.
async function openSession(pair) {
  const res = await rpc(pair.bulwark.url, 'initialize', {
    protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' },
  });
  assert.equal(res.status, 200, res.body);
  const id = res.headers['mcp-session-id'];
  assert.ok(id, 'initialize answered with a session id');
  const headers = { 'mcp-session-id': id, 'mcp-protocol-version': '2025-06-18' };
  const note = await request(pair.bulwark.url, {
    method: 'POST', headers: { ...kMcpHeaders, ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  assert.equal(note.status, 202);
  return { id, headers };
}

// Each pod: server-everything and its sidecar, patient timeouts, quick retries (echo may be
// repeated), heartbeats fast enough that a dead owner is noticed within a second.
function cluster(options) {
  return startReplicas({
    server: 'everything',
    config: {
      defaults: {
        timeout: '15s',
        per_try_timeout: '5s',
        retry: { max_attempts: 6, backoff: { base: '50ms', multiplier: 2, max: '400ms' },
                 on: ['upstream', 'timeout', 'overload'],
                 budget: { ratio: 0.5, min_per_second: 100, window: '10s' } },
      },
      tools: [{ match: 'echo', idempotent: true }],
    },
    sharedState: { heartbeat_interval: '200ms', heartbeat_ttl: '1s' },
    ...options,
  });
}

// The owner named by the session's record (named by the digest of the id, never the id).
async function recordOf(replicas, id) {
  return replicas.redis.cli('HGET', replicas.sessionKey(id), 'owner');
}

describe('shared state: sessions across replicas', { skip: kSkip, timeout: 180000 }, () => {
  test('any pair serves any session; only the owner\'s server sees its calls; the owner dies and the session lives on',
    scoped(async (t, track) => {
      const replicas = track(await cluster({ count: 2, name: 'spread' }));
      const [a, b] = replicas.pairs;
      const { client, transport } = await connectSdk(t, replicas.url, freshConnectionFetch);
      const sessionId = transport.sessionId;
      assert.ok(sessionId);

      const failures = await echoCalls(client, 'spread', kCalls);
      assert.deepEqual(failures, []);
      const owner = await recordOf(replicas, sessionId);
      const [ownerPair, other] = owner === `127.0.0.1:${a.bulwark.port}` ? [a, b] : [b, a];
      assert.equal(owner, `127.0.0.1:${ownerPair.bulwark.port}`, 'the record names the owner');
      assert.equal(await toolCalls(ownerPair), kCalls, 'every call ran through the owner');
      assert.equal(await toolCalls(other), 0, 'the other pair ran none itself');
      assert.ok(await metric(other, 'bulwark_session_forwards_total', { result: 'success' }) >= kCalls / 2 - 1,
        'round robin sent about half the requests to the other pair, which forwarded them');
      assert.equal(await metric(ownerPair, 'bulwark_session_forwards_total'), 0);

      assert.doesNotMatch(other.server.proc.out, /Establishing new SSE stream/,
        'before the kill the GET stream is on the owner\'s server only');

      // A side-effecting call in flight when the owner pod dies (its first progress arrived).
      let progressed;
      const progress = new Promise((resolve) => { progressed = resolve; });
      const inFlight = client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 3, steps: 6 } },
        // Short: after the cut the SDK may wait on a resumption that cannot bring the answer.
        undefined, { timeout: 4000, onprogress: () => progressed() })
        .then(() => 'answered', (e) => `failed: ${e.message}`);
      await withTimeout(progress, kTimeoutMs, 'first progress of the long call');

      // The owner pod dies (the balancer drops it). Calls go on through the survivor, which
      // takes the session over.
      await ownerPair.kill();
      const inFlightEnd = await withTimeout(inFlight, kTimeoutMs, 'the in-flight call settles');
      assert.match(inFlightEnd, /^failed/, 'the call in flight at the kill fails rather than hangs');
      const killedAt = performance.now();
      const after = await echoCalls(client, 'after-kill', kCalls);
      t.diagnostic(`first ${kCalls} calls after the kill took ${Math.round(performance.now() - killedAt)} ms`);
      assert.deepEqual(after, [], 'read-only calls after the kill: 0 failed');
      assert.equal(transport.sessionId, sessionId, 'the client kept its session id');
      assert.equal(await metric(other, 'bulwark_session_takeovers_total', { result: 'success' }), 1);
      assert.equal(await metric(other, 'bulwark_session_recoveries_total', { result: 'success' }), 1,
        'one initialize replayed on the new owner\'s server');
      assert.equal(await recordOf(replicas, sessionId), `127.0.0.1:${other.bulwark.port}`);
      // The client's GET stream, cut with the owner, is re-opened on the new owner's server.
      await other.server.proc.waitForOutput(/Establishing new SSE stream for session/, 10000);
      assert.equal(await metric(other, 'bulwark_requests_total', { tool: 'trigger-long-running-operation' }), 0,
        'the side-effecting call in flight at the kill was not repeated on the new owner');

      // DELETE ends the session everywhere: its record goes.
      await transport.terminateSession();
      await pollUntil(async () => (await replicas.redis.cli('EXISTS', replicas.sessionKey(sessionId))) === '0',
        { timeoutMs: 5000, what: 'the session record deleted' });
    }));

  test('two sidecars racing to take over one session: exactly one wins, one initialize replayed',
    scoped(async (t, track) => {
      const replicas = track(await cluster({ count: 3, name: 'race' }));
      const [a, b, c] = replicas.pairs;
      const { id, headers } = await openSession(a);
      await pollUntil(async () => (await recordOf(replicas, id)) !== '', { what: 'the record written' });
      await a.kill();
      const results = await Promise.all([b, c, b, c].map((pair, i) =>
        callTool(pair.bulwark.url, 'echo', { message: `race-${i}` }, { headers })));
      for (const [i, res] of results.entries()) {
        assert.equal(res.json?.result?.content?.[0]?.text, `Echo: race-${i}`, res.body);
      }
      const won = (await metric(b, 'bulwark_session_takeovers_total', { result: 'success' })) +
                  (await metric(c, 'bulwark_session_takeovers_total', { result: 'success' }));
      assert.equal(won, 1, 'exactly one sidecar claimed the session');
      const replays = (await metric(b, 'bulwark_session_recoveries_total', { result: 'success' })) +
                      (await metric(c, 'bulwark_session_recoveries_total', { result: 'success' }));
      assert.equal(replays, 1, 'exactly one initialize replayed');
      const winner = await recordOf(replicas, id);
      const loser = winner === `127.0.0.1:${b.bulwark.port}` ? c : b;
      assert.equal(await toolCalls(loser), 0, 'the loser forwarded to the winner');
    }));

  test('a forwarded request whose record points elsewhere is served locally, never forwarded again',
    scoped(async (t, track) => {
      const replicas = track(await cluster({ count: 2, name: 'loop' }));
      const [a, b] = replicas.pairs;
      const { id, headers } = await openSession(b);
      await pollUntil(async () => (await recordOf(replicas, id)) === `127.0.0.1:${b.bulwark.port}`,
        { what: 'the record names b' });
      // As if b had forwarded it to a: a must not send it back.
      const res = await callTool(a.bulwark.url, 'echo', { message: 'loop' },
        { headers: { ...headers, 'bulwark-forwarded': '1' } });
      assert.notEqual(res.status, 0);
      assert.equal(await metric(a, 'bulwark_session_forwards_total', { result: 'loop_refused' }), 1);
      assert.equal(await metric(a, 'bulwark_session_forwards_total', { result: 'success' }), 0);
      assert.equal(await toolCalls(b), 0, 'b never saw the request');
    }));

  test('Redis down at start and killed mid-run: an owned session has 0 failed calls; /readyz stays 200',
    scoped(async (t, track) => {
      const replicas = track(await cluster({ count: 1, name: 'noredis', startRedis: false }));
      const [a] = replicas.pairs;
      const { client } = await connectSdk(t, a.bulwark.url);
      assert.deepEqual(await echoCalls(client, 'no-redis', kCalls), []);
      assert.equal((await request(`${a.bulwark.admin}/readyz`)).status, 200);
      assert.equal(await metric(a, 'bulwark_shared_state_up'), 0);

      await replicas.redis.start(); // on the port the sidecar has been trying
      await pollUntil(async () => (await metric(a, 'bulwark_shared_state_up')) === 1,
        { timeoutMs: 10000, what: 'Bulwark reconnected to Redis' });
      const { client: second, transport } = await connectSdk(t, a.bulwark.url);
      await pollUntil(async () => (await recordOf(replicas, transport.sessionId)) !== '',
        { what: 'the new session recorded' });
      await replicas.redis.kill();
      const during = await Promise.all([echoCalls(client, 'killed-1', kCalls), echoCalls(second, 'killed-2', kCalls)]);
      assert.deepEqual(during, [[], []]);
      assert.equal((await request(`${a.bulwark.admin}/readyz`)).status, 200);
      await pollUntil(async () => (await metric(a, 'bulwark_shared_state_up')) === 0, { what: 'down noticed' });
      await sleep(50);
    }));

  const kMeasure = Number(process.env.SHARED_MEASURE ?? 0);
  test('measurement: forwarded call latency, owner death to first answer', { skip: kMeasure > 0 ? false : 'set SHARED_MEASURE=N' },
    scoped(async (t, track) => {
      const pct = (xs, p) => {
        const sorted = [...xs].sort((x, y) => x - y);
        return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))].toFixed(2);
      };
      const replicas = track(await cluster({ count: 1, name: 'measure' }));
      const [survivor] = replicas.pairs;
      const direct = [];
      const forwarded = [];
      const deaths = [];
      for (let round = 0; round < kMeasure; round++) {
        const owner = await replicas.startPair();
        const { headers } = await openSession(owner);
        await sleep(100); // the record written
        for (let i = 0; i < 50; i++) {
          for (const [url, into] of [[owner.bulwark.url, direct], [survivor.bulwark.url, forwarded]]) {
            const res = await callTool(url, 'echo', { message: `m${i}` }, { headers });
            assert.equal(res.json?.result?.content?.[0]?.text, `Echo: m${i}`, res.body);
            into.push(res.elapsedMs);
          }
        }
        await owner.kill();
        const killedAt = performance.now();
        const res = await callTool(survivor.bulwark.url, 'echo', { message: 'after' }, { headers });
        assert.equal(res.json?.result?.content?.[0]?.text, 'Echo: after', res.body);
        deaths.push(performance.now() - killedAt);
      }
      t.diagnostic(`direct call ms: p50 ${pct(direct, 50)} p99 ${pct(direct, 99)} (n=${direct.length})`);
      t.diagnostic(`forwarded call ms: p50 ${pct(forwarded, 50)} p99 ${pct(forwarded, 99)} (n=${forwarded.length})`);
      t.diagnostic(`owner death to first answer ms: p50 ${pct(deaths, 50)} p99 ${pct(deaths, 99)} (n=${deaths.length})`);
    }));
});
