// What Bulwark keeps per session is bounded, and only a real loss of a session starts its
// recovery (issue 20, items 3 and 4).
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test tests/integration/session_guard.test.mjs
//
// The upstream is fixtures/fastmcp_like_server.mjs: the SDK's session transport, with fastmcp's
// 404 to PUT /mcp and a few quirks (404 with -32601, a 400 that mentions the session, a request
// always answered 404); GET /stats tells its initializes, live sessions and DELETEs.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { kDirect, kTestsDir, startBulwark } from './lib/peers.mjs';
import { request, waitForHttp } from './lib/net.mjs';
import { sumSamples } from './lib/metrics.mjs';
import { ChildProcess } from './lib/procs.mjs';
import { kMcpHeaders, makeConfig, pollUntil, scoped, tempDir, writeConfig } from './lib/faulty.mjs';

const kSkip = kDirect ? 'proxy-only behaviour' : false;
const here = path.dirname(fileURLToPath(import.meta.url));
const kFastmcpLikeMain = path.join(here, 'fixtures', 'fastmcp_like_server.mjs');
const kVersion = '2025-06-18';

async function startFastmcpLike(track) {
  const proc = new ChildProcess('fastmcp-like', process.execPath, [kFastmcpLikeMain], {
    env: { PORT: '0' }, cwd: kTestsDir,
  });
  track({ stop: () => proc.stop(), describe: () => proc.describe() });
  const m = await proc.waitForOutput(/listening on (\d+)/, 15000);
  const origin = `http://127.0.0.1:${m[1]}`;
  await waitForHttp(`${origin}/healthz`, { proc });
  return {
    proc, url: `${origin}/mcp`,
    stats: async () => JSON.parse((await request(`${origin}/stats`)).body),
    forget: () => request(`${origin}/forget`, { method: 'POST' }),
  };
}

async function startProxy(t, track, upstreamUrl, extra = {}) {
  const dir = await tempDir('bulwark-session-guard-');
  t.after(() => dir.remove());
  const config = makeConfig(upstreamUrl, { defaults: { timeout: '10s', per_try_timeout: '5s' } });
  // The tests count the upstream's initializes and DELETEs exactly: Bulwark's own listing (at
  // start, and again after each lost session) would add sessions of its own.
  config.upstream.discovery = { at_start: false };
  const file = await writeConfig(dir.file('bulwark.yaml'), { ...config, ...extra });
  // Under AddressSanitizer (CI) freed memory waits in a quarantine of up to 256 MiB, which would
  // read as resident growth: with no quarantine RSS measures what Bulwark keeps. A build without
  // ASan ignores the variable.
  const asan = `${process.env.ASAN_OPTIONS ? `${process.env.ASAN_OPTIONS}:` : ''}quarantine_size_mb=0`;
  return track(await startBulwark(upstreamUrl, { config: file, name: 'bulwark-session-guard',
                                                 env: { ASAN_OPTIONS: asan } }));
}

function parseAnswer(res) {
  if ((res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
    const datas = [...res.body.matchAll(/^data: ?(.*)$/gm)].map((m) => m[1]).filter((d) => d.trim() !== '');
    return datas.length > 0 ? JSON.parse(datas.at(-1)) : undefined;
  }
  return res.body ? JSON.parse(res.body) : undefined;
}

async function post(url, sessionId, message, { version = kVersion } = {}) {
  const headers = { ...kMcpHeaders };
  if (version) headers['mcp-protocol-version'] = version;
  if (sessionId) headers['mcp-session-id'] = sessionId;
  const res = await request(url, { method: 'POST', headers, body: JSON.stringify(message) });
  let json;
  try { json = parseAnswer(res); } catch { json = undefined; }
  return { ...res, json };
}

function initializeMessage(padding = 0) {
  const params = { protocolVersion: kVersion, capabilities: {}, clientInfo: { name: 'guard', version: '1' } };
  if (padding > 0) params.clientInfo.description = 'x'.repeat(padding);
  return { jsonrpc: '2.0', id: 0, method: 'initialize', params };
}

// initialize and notifications/initialized through Bulwark; returns the client's session id.
async function openSession(url, padding = 0) {
  const init = await post(url, null, initializeMessage(padding));
  assert.equal(init.status, 200, init.body.slice(0, 300));
  const sid = init.headers['mcp-session-id'];
  assert.ok(sid, 'the initialize answer carries a session id');
  const ack = await post(url, sid, { jsonrpc: '2.0', method: 'notifications/initialized' });
  assert.equal(ack.status, 202);
  return sid;
}

const echo = (n) => ({ jsonrpc: '2.0', id: n, method: 'tools/call', params: { name: 'echo', arguments: { message: `m${n}` } } });

async function recoveries(bw) {
  const m = await bw.metrics();
  return sumSamples(m, 'bulwark_session_recoveries_total');
}

describe('only a lost session starts a recovery (fastmcp-like upstream)', { skip: kSkip, timeout: 60000 }, () => {
  test('a 404 to PUT /mcp passes through: no replay, the client keeps its session, and its DELETE ends it upstream',
    scoped(async (t, track) => {
      const up = await startFastmcpLike(track);
      const bw = await startProxy(t, track, up.url);
      const sid = await openSession(bw.url);

      const put = await request(bw.url, { method: 'PUT', headers: { 'mcp-session-id': sid, 'content-type': 'application/json' }, body: '{}' });
      assert.equal(put.status, 404);
      assert.deepEqual(JSON.parse(put.body), { detail: 'Not Found' }, 'the upstream\'s own 404');
      let stats = await up.stats();
      assert.equal(stats.puts, 1, 'the PUT went once');
      assert.equal(stats.initializes, 1, 'no initialize replayed');
      assert.deepEqual(stats.live, [sid], 'one upstream session, the client\'s own');
      assert.equal(await recoveries(bw), 0);
      assert.ok(!bw.logs().includes('session recovered'), 'no "session recovered" log');

      const call = await post(bw.url, sid, echo(1));
      assert.equal(call.json?.result?.content?.[0]?.text, 'echo: m1', call.body);

      const del = await request(bw.url, { method: 'DELETE', headers: { 'mcp-session-id': sid, 'mcp-protocol-version': kVersion } });
      assert.equal(del.status, 200);
      stats = await up.stats();
      assert.deepEqual(stats.live, [], 'no upstream session left behind');
      assert.deepEqual(stats.deleted, [sid]);
      const after = await post(bw.url, sid, echo(2));
      assert.equal(after.status, 404, 'the deleted session is gone for the client too');
      assert.equal((await up.stats()).initializes, 1, 'and it was not brought back');
      const m = await bw.metrics();
      assert.equal(sumSamples(m, 'bulwark_sessions_active'), 0);
    }));

  test('a 404 carrying -32601 and a 400 that merely mentions the session reach the client as sent', scoped(async (t, track) => {
    const up = await startFastmcpLike(track);
    const bw = await startProxy(t, track, up.url);
    const sid = await openSession(bw.url);

    const missing = await post(bw.url, sid, { jsonrpc: '2.0', id: 7, method: 'quirk/missing', params: {} });
    assert.equal(missing.status, 404);
    assert.equal(missing.json?.error?.code, -32601);
    assert.equal(missing.json?.id, 7);
    const named = await post(bw.url, sid, { jsonrpc: '2.0', id: 8, method: 'quirk/session-400', params: {} });
    assert.equal(named.status, 400);
    assert.equal(named.json?.error?.message, 'this session may not change its name');

    const stats = await up.stats();
    assert.equal(stats.initializes, 1, 'no initialize replayed');
    assert.deepEqual(stats.live, [sid]);
    assert.equal(await recoveries(bw), 0);
  }));

  test('a 2026-07-28 request never starts a session recovery; a 2025 one in the same lost session does, once',
    scoped(async (t, track) => {
      const up = await startFastmcpLike(track);
      const bw = await startProxy(t, track, up.url);
      const sid = await openSession(bw.url);
      await up.forget(); // the upstream restarted: the session is really gone

      const stateless = await post(bw.url, sid, echo(3), { version: '2026-07-28' });
      assert.equal(stateless.status, 404, 'the upstream\'s 404 passes through');
      assert.equal((await up.stats()).initializes, 1, 'no replay for a stateless-era request');

      const call = await post(bw.url, sid, echo(4));
      assert.equal(call.status, 200, call.body);
      assert.equal(call.json?.result?.content?.[0]?.text, 'echo: m4');
      const stats = await up.stats();
      assert.equal(stats.initializes, 2, 'one replay');
      assert.equal(stats.live.length, 1);
      assert.equal(await recoveries(bw), 1);
    }));

  test('a request answered 404 again after its session was re-opened is not replayed twice; the replaced session is DELETEd, the client\'s DELETE ends the new one',
    scoped(async (t, track) => {
      const up = await startFastmcpLike(track);
      const bw = await startProxy(t, track, up.url);
      const sid = await openSession(bw.url);

      const res = await post(bw.url, sid, { jsonrpc: '2.0', id: 9, method: 'quirk/always-404', params: {} });
      assert.equal(res.status, 404, res.body);
      let stats = await up.stats();
      assert.equal(stats.initializes, 2, 'at most one replay for this loss');
      assert.equal(stats.methods['quirk/always-404'], 2, 'sent once, and once again in the new session');
      await pollUntil(async () => (await up.stats()).deleted.includes(sid),
                      { timeoutMs: 5000, what: 'the replaced (still alive) upstream session DELETEd' });
      stats = await up.stats();
      assert.equal(stats.live.length, 1, 'only the session the client\'s id now maps to');
      assert.notEqual(stats.live[0], sid);
      const current = stats.live[0];

      // The client's id keeps working, in the new upstream session.
      const call = await post(bw.url, sid, echo(10));
      assert.equal(call.json?.result?.content?.[0]?.text, 'echo: m10', call.body);

      const del = await request(bw.url, { method: 'DELETE', headers: { 'mcp-session-id': sid, 'mcp-protocol-version': kVersion } });
      assert.equal(del.status, 200);
      stats = await up.stats();
      assert.deepEqual(stats.live, [], 'no upstream session orphaned');
      assert.ok(stats.deleted.includes(current), 'the client\'s DELETE ended the current upstream session');
      const after = await post(bw.url, sid, echo(11));
      assert.equal(after.status, 404, 'the client\'s id no longer works');
      assert.equal((await up.stats()).initializes, 2);
      assert.equal(sumSamples(await bw.metrics(), 'bulwark_sessions_active'), 0);
    }));
});

describe('what Bulwark keeps per session is bounded', { skip: kSkip, timeout: 120000 }, () => {
  test('sessions: in the config sets the handshake cap and the idle expiry', scoped(async (t, track) => {
    const up = await startFastmcpLike(track);
    const bw = await startProxy(t, track, up.url, {
      sessions: { max_handshake_bytes: '8KiB', max_total_bytes: '1MiB', idle_timeout: '2s' },
    });
    const forgotten = async (reason) =>
      sumSamples(await bw.metrics(), 'bulwark_sessions_forgotten_total', { reason });
    await openSession(bw.url, 10 * 1024);
    assert.equal(await forgotten('handshake_too_large'), 1, 'a 10 KiB initialize is over 8KiB');

    const idle = await openSession(bw.url);
    const busy = await openSession(bw.url);
    // `busy` is used while `idle` is not; the sweep forgets `idle` only.
    let used = 0;
    await pollUntil(async () => {
      const call = await post(bw.url, busy, echo(100 + used++));
      assert.equal(call.status, 200, call.body);
      return (await forgotten('idle')) >= 1;
    }, { timeoutMs: 15000, intervalMs: 50, what: 'the unused session forgotten as idle' });
    assert.equal(await forgotten('idle'), 1, 'only the unused one');
    assert.equal(sumSamples(await bw.metrics(), 'bulwark_sessions_active'), 1);
    // A forgotten session still works (it only cannot be recovered any more).
    const call = await post(bw.url, idle, echo(1));
    assert.equal(call.json?.result?.content?.[0]?.text, 'echo: m1', call.body);
  }));

  test('100 padded initializes are proxied, but not kept: memory stays flat; small ones stay recoverable',
    scoped(async (t, track) => {
      const up = await startFastmcpLike(track);
      const bw = await startProxy(t, track, up.url);
      const rss = async () => sumSamples(await bw.metrics(), 'process_resident_memory_bytes');
      await openSession(bw.url); // warm up the buffers a session uses
      const before = await rss();
      // 1 MiB each keeps the test quick on a loaded machine; 100 of them used to add ~100 MiB
      // (3.9 MB each, just under the body limit, added 400 MiB: README, "Bounded session memory").
      const kPadding = 1024 * 1024;
      for (let i = 0; i < 100; i++) await openSession(bw.url, kPadding);
      const after = await rss();
      const m = await bw.metrics();
      const mib = (b) => (b / 1048576).toFixed(1);
      t.diagnostic(`RSS before ${mib(before)} MiB, after 100 padded sessions ${mib(after)} MiB; ` +
                   `session bytes ${sumSamples(m, 'bulwark_session_bytes')}`);
      assert.equal(sumSamples(m, 'bulwark_sessions_forgotten_total', { reason: 'handshake_too_large' }), 100);
      assert.equal(sumSamples(m, 'bulwark_sessions_active'), 1, 'only the small session is kept');
      assert.ok(sumSamples(m, 'bulwark_session_bytes') < 64 * 1024);
      assert.ok(after - before < 32 * 1048576,
                `RSS grew by ${mib(after - before)} MiB (~100 MiB before the cap)`);
      assert.equal((bw.logs().match(/initialize larger than/g) ?? []).length, 1, 'logged once');

      // A padded session works, it just cannot be recovered.
      const stats = await up.stats();
      const padded = stats.live[stats.live.length - 1];
      const call = await post(bw.url, padded, echo(1));
      assert.equal(call.json?.result?.content?.[0]?.text, 'echo: m1');
    }));
});
