// SSE keep-alives and GET streams (issue #20 items 5 and 6), against a server of our own that
// pings every 200 ms (fixtures/keepalive_server.mjs):
//  - `: ping` comments, events without data and the GET stream's `: connected` reach the client
//    as the server writes them, not with the next data event, and they keep a slow tool's
//    per-try timeout from firing;
//  - a client's GET stream outlives an upstream outage of any length (BULWARK_OUTAGE_SECONDS,
//    6 by default; the case is 31 s and more), a client's GET sent during the outage
//    waits for the restart as a POST does, and a session the upstream will not take back ends
//    the stream and answers the reconnect 404.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test tests/integration/streams.test.mjs
//   BULWARK_OUTAGE_SECONDS=40 BULWARK_BIN=... node --test --test-timeout=180000 tests/integration/streams.test.mjs
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { kDirect, kTestsDir, startBulwark } from './lib/peers.mjs';
import { freePort, kHost, request, waitForHttp } from './lib/net.mjs';
import { ChildProcess, sleep } from './lib/procs.mjs';
import { sumSamples } from './lib/metrics.mjs';
import { kMcpHeaders, makeConfig, pollUntil, scoped, tempDir, writeConfig } from './lib/faulty.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const kKeepAliveMain = path.join(here, 'fixtures', 'keepalive_server.mjs');
const kOutageSeconds = Number(process.env.BULWARK_OUTAGE_SECONDS ?? '6');
const kSkip = kDirect ? 'proxy-only behaviour' : false;

async function startKeepAliveServer({ port = 0, name = 'keepalive', args = [] } = {}) {
  const proc = new ChildProcess(name, process.execPath, [kKeepAliveMain, '--port', String(port), ...args],
                                { cwd: kTestsDir });
  try {
    const m = await proc.waitForOutput(/listening on (\d+)/, 15000);
    const origin = `http://${kHost}:${m[1]}`;
    await waitForHttp(`${origin}/healthz`, { proc });
    return { proc, port: Number(m[1]), origin, url: `${origin}/mcp`, stop: () => proc.stop(),
             describe: () => proc.describe(),
             stats: async () => JSON.parse((await request(`${origin}/__control/stats`)).body) };
  } catch (e) {
    await proc.stop();
    throw e;
  }
}

async function configFile(upstreamUrl, { defaults = {}, retry = {} } = {}) {
  const dir = await tempDir('bulwark-streams-');
  const config = makeConfig(upstreamUrl, {
    defaults: { timeout: '20s', per_try_timeout: '1s', ...defaults },
    retry: { max_attempts: 1, ...retry },
    tools: [{ match: '*', idempotent: true }],
  });
  // The test counts the server's initializes: Bulwark's own tool listings would add theirs.
  config.upstream.discovery = { at_start: false };
  const file = await writeConfig(dir.file('bulwark.yaml'), config);
  return { file, dir };
}

async function initialize(url) {
  const res = await request(url, {
    method: 'POST', headers: { ...kMcpHeaders, 'mcp-protocol-version': '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: {
      protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'streams-test', version: '1' } } }),
  });
  assert.equal(res.status, 200, res.body);
  const sid = res.headers['mcp-session-id'];
  assert.ok(sid, 'a session id');
  return sid;
}

const sessionHeaders = (sid) => ({ ...kMcpHeaders, 'mcp-protocol-version': '2025-06-18', 'mcp-session-id': sid });

// A streaming request whose every chunk is timed on arrival: the keep-alives it carries
// (`seq=N t=MS`) give each one's delay from the server's write to the client's read.
function timedStream(url, { method = 'GET', headers = {}, body } = {}) {
  const u = new URL(url);
  assert.equal(u.hostname, kHost);
  let text = '';
  let finished = false;
  const pings = [];  // {seq, delayMs}
  const waiters = new Set();
  const wake = () => {
    for (const w of waiters) w();
  };
  let headResolve;
  let headReject;
  const head = new Promise((resolve, reject) => {
    headResolve = resolve;
    headReject = reject;
  });
  head.catch(() => {});
  const req = http.request({ host: kHost, port: u.port, path: u.pathname, method, headers, agent: false }, (res) => {
    headResolve({ status: res.statusCode, headers: res.headers });
    res.setEncoding('utf8');
    res.on('data', (chunk) => {
      const arrived = performance.timeOrigin + performance.now();
      for (const m of chunk.matchAll(/seq=(\d+) t=([\d.]+)/g)) {
        pings.push({ seq: Number(m[1]), delayMs: arrived - Number(m[2]) });
      }
      text += chunk;
      wake();
    });
    res.on('end', () => {
      finished = true;
      wake();
    });
    res.on('error', () => {
      finished = true;
      wake();
    });
  });
  req.on('error', (e) => {
    finished = true;
    headReject(e);
    wake();
  });
  if (body !== undefined) req.write(body);
  req.end();
  return {
    head,
    pings,
    text: () => text,
    get finished() { return finished; },
    destroy: () => req.destroy(),
    // Resolves once `predicate(text)` holds (or the stream ended: then returns false); bounded.
    async until(predicate, timeoutMs, what) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(text)) {
        if (finished) return false;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`${what}: not seen within ${timeoutMs} ms; received ${JSON.stringify(text.slice(-600))}`);
        await new Promise((resolve) => {
          const done = () => {
            clearTimeout(timer);
            waiters.delete(done);
            resolve();
          };
          const timer = setTimeout(done, left);
          waiters.add(done);
        });
      }
      return true;
    },
  };
}

function summarize(delays) {
  const sorted = [...delays].sort((a, b) => a - b);
  const q = (p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  return `n=${sorted.length} median=${q(0.5)?.toFixed(1)} ms p90=${q(0.9)?.toFixed(1)} ms max=${sorted.at(-1)?.toFixed(1)} ms`;
}

describe('SSE keep-alives reach the client at once (issue #20 item 5)', { skip: kSkip, timeout: 60000 }, () => {
  test('the GET stream\'s `: connected` and a held call\'s first `: ping` arrive before anything else is sent',
    scoped(async (t, track) => {
      const up = track(await startKeepAliveServer());
      const { file, dir } = await configFile(up.url, { defaults: { per_try_timeout: '10s' } });
      t.after(() => dir.remove());
      const bw = track(await startBulwark(up.url, { config: file, name: 'bulwark-keepalive' }));
      const sid = await initialize(bw.url);

      // Causal, not timed: the server sends nothing after these until the client has seen them,
      // so a proxy that holds them back until the next data event never delivers them.
      const get = timedStream(bw.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' } });
      t.after(() => get.destroy());
      assert.equal((await get.head).status, 200);
      assert.ok(await get.until((s) => s.startsWith(': connected\n\n'), 10000, 'the GET stream\'s `: connected`'));

      const call = timedStream(bw.url, { method: 'POST', headers: sessionHeaders(sid),
        body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'hold', arguments: {} } }) });
      t.after(() => call.destroy());
      assert.equal((await call.head).status, 200);
      assert.ok(await call.until((s) => /^: ping seq=1 t=[\d.]+\n\n$/.test(s), 10000, 'the held call\'s first keep-alive'),
                'the keep-alive came alone, framing intact');
      const released = await request(`${up.origin}/__control/release`, { method: 'POST' });
      assert.equal(JSON.parse(released.body).released, 1);
      assert.ok(await call.until((s) => s.includes('"released"'), 10000, 'the answer'));
      await pollUntil(() => call.finished, { timeoutMs: 5000, what: 'the answer\'s stream ends' });
      assert.match(call.text(), /^: ping seq=1 t=[\d.]+\n\nevent: message\ndata: \{"jsonrpc":"2.0","id":7,"result":\{"content":\[\{"type":"text","text":"released"\}\]\}\}\n\n$/);

      // Events without data pass at once too (even keep-alives are `event: ping` with no data),
      // on the GET stream where nothing else ever comes.
      assert.ok(await get.until((s) => s.includes('event: ping\n: seq=2 '), 10000, 'an event without data on the GET stream'));
      t.diagnostic(`GET stream keep-alive delays (server write -> client read): ${summarize(get.pings.map((p) => p.delayMs))}`);
    }));

  test('a tool that pings every 200 ms outlives a 1 s per-try timeout, and every ping arrives as written',
    scoped(async (t, track) => {
      const up = track(await startKeepAliveServer());
      const { file, dir } = await configFile(up.url);  // per_try_timeout 1s, one attempt
      t.after(() => dir.remove());
      const bw = track(await startBulwark(up.url, { config: file, name: 'bulwark-keepalive' }));
      const sid = await initialize(bw.url);
      const kToolMs = 3000;
      const call = timedStream(bw.url, { method: 'POST', headers: sessionHeaders(sid),
        body: JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'slow', arguments: { ms: kToolMs } } }) });
      t.after(() => call.destroy());
      const head = await call.head;
      await call.until(() => false, 15000, 'the end of the answer').catch(() => {});
      assert.ok(call.finished, 'the answer ended');
      assert.equal(head.status, 200);
      const text = call.text();
      assert.match(text, /event: message\ndata: \{"jsonrpc":"2.0","id":8,"result":\{"content":\[\{"type":"text","text":"slept 3000 ms"\}\]\}\}\n\n$/,
                   `the tool's answer, not a per-try timeout: ${text.slice(-400)}`);
      // The keep-alives arrived whole and in order, each before the answer.
      const seqs = call.pings.map((p) => p.seq);
      assert.ok(seqs.length >= 5, `keep-alives seen: ${seqs}`);
      assert.deepEqual(seqs, [...seqs.keys()].map((i) => i + 1));
      // Arrival spread, for the record (not asserted: timing on a shared machine).
      const delays = call.pings.map((p) => p.delayMs);
      t.diagnostic(`POST SSE keep-alive delays (server write -> client read): ${summarize(delays)}`);
      console.log(`keep-alive delays (ms), POST slow ${kToolMs} ms: ${delays.map((d) => d.toFixed(1)).join(' ')}`);
    }));
});

describe(`a GET stream across an upstream outage of ${kOutageSeconds} s (issue #20 item 6)`, { skip: kSkip, timeout: 60000 + kOutageSeconds * 3000 }, () => {
  test('the held stream stays open, a GET sent during the outage waits for the restart, and both get notifications after it',
    scoped(async (t, track) => {
      const port = await freePort();
      let up = await startKeepAliveServer({ port, name: 'keepalive-1' });
      track({ stop: () => up.stop(), describe: () => up.describe() });
      // A client's GET waits for a restart as a POST does, for restart_wait.max: set past the
      // outage here (the default 5 s is for the short restarts of a process).
      const waitSeconds = kOutageSeconds + 15;
      const { file, dir } = await configFile(up.url, { retry: { restart_wait: { max: `${waitSeconds}s`, window: `${waitSeconds + 60}s` } } });
      t.after(() => dir.remove());
      const bw = track(await startBulwark(up.url, { config: file, name: 'bulwark-outage' }));
      const sid = await initialize(bw.url);
      const getHeaders = { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' };
      const notify = async (text) => {
        const res = await request(bw.url, { method: 'POST', headers: sessionHeaders(sid), timeoutMs: 20000,
          body: JSON.stringify({ jsonrpc: '2.0', id: `n-${text}`, method: 'tools/call', params: { name: 'notify', arguments: { text } } }) });
        assert.equal(res.status, 200, res.body);
        return JSON.parse(res.body).result.content[0].text;
      };

      const held = timedStream(bw.url, { headers: getHeaders });
      t.after(() => held.destroy());
      assert.equal((await held.head).status, 200);
      await pollUntil(async () => (await up.stats()).getStreams === 1, { timeoutMs: 10000, what: 'the GET stream upstream' });
      assert.equal(await notify('before the outage'), 'delivered 1');
      assert.ok(await held.until((s) => s.includes('before the outage'), 10000, 'a notification before the outage'));

      await up.stop();
      const outageStarted = performance.now();
      await sleep(Math.min(1000, kOutageSeconds * 500));
      // The client's own reconnect, sent while the server is down: no 502 at once.
      const reconnect = timedStream(bw.url, { headers: getHeaders });
      t.after(() => reconnect.destroy());
      let reconnectHeadAt;
      reconnect.head.then(() => { reconnectHeadAt = performance.now(); }, () => {});
      await sleep(Math.max(0, kOutageSeconds * 1000 - (performance.now() - outageStarted)));
      if (reconnectHeadAt !== undefined) {
        assert.fail(`the reconnect was answered during the outage: ${JSON.stringify(await reconnect.head)} ${reconnect.text().slice(0, 300)}`);
      }
      assert.equal(held.finished, false, `the held stream ended during the outage: ${JSON.stringify(held.text().slice(-300))}`);

      up = await startKeepAliveServer({ port, name: 'keepalive-2' });
      const restartedAt = performance.now();
      assert.equal((await reconnect.head).status, 200, 'the reconnect opened once the server was back');
      // Both streams are re-opened in the session Bulwark re-initialized (one replay).
      await pollUntil(async () => (await up.stats()).getStreams === 2, { timeoutMs: 15000, what: 'two GET streams on the restarted server' });
      const reopenedMs = performance.now() - restartedAt;
      // Between tries the streams wait up to 2 s (the backoff's cap; about 1 s here without the
      // wake); the health probe, which checks a down upstream every 200 ms, wakes them when it
      // sees the server again (measured 34-71 ms, ASan included).
      assert.ok(reopenedMs < 600, `both streams re-opened ${reopenedMs.toFixed(0)} ms after the restart (woken by the probe)`);
      assert.equal((await up.stats()).initializes, 1, 'one initialize replay for the session');
      assert.equal(await notify('after the outage'), 'delivered 2');
      assert.ok(await held.until((s) => s.includes('after the outage'), 10000, 'a notification on the held stream after the outage'));
      assert.ok(await reconnect.until((s) => s.includes('after the outage'), 10000, 'a notification on the reconnected stream'));
      assert.equal(held.finished, false);
      t.diagnostic(`outage ${kOutageSeconds} s: held stream open throughout; reconnect answered ${((reconnectHeadAt - outageStarted) / 1000).toFixed(1)} s into the outage ` +
                   `(server back after ${((restartedAt - outageStarted) / 1000).toFixed(1)} s); both streams re-opened upstream ${reopenedMs.toFixed(0)} ms after the restart`);
      const m = await bw.metrics();
      assert.equal(sumSamples(m, 'bulwark_session_recoveries_total', { result: 'success' }), 1, 'one replay served both streams');
    }));

  test('a held stream whose session the restarted server will not take back ends, and the reconnect is answered 404',
    scoped(async (t, track) => {
      const port = await freePort();
      let up = await startKeepAliveServer({ port, name: 'keepalive-1' });
      track({ stop: () => up.stop(), describe: () => up.describe() });
      const { file, dir } = await configFile(up.url);
      t.after(() => dir.remove());
      const bw = track(await startBulwark(up.url, { config: file, name: 'bulwark-unrecoverable' }));
      const sid = await initialize(bw.url);
      const getHeaders = { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' };
      const held = timedStream(bw.url, { headers: getHeaders });
      t.after(() => held.destroy());
      assert.equal((await held.head).status, 200);
      await pollUntil(async () => (await up.stats()).getStreams === 1, { timeoutMs: 10000, what: 'the GET stream upstream' });

      await up.stop();
      up = await startKeepAliveServer({ port, name: 'keepalive-refusing', args: ['--refuse-initialize'] });
      await pollUntil(() => held.finished, { timeoutMs: 15000, what: 'the held stream ends once the session cannot be re-opened' });
      assert.ok((await up.stats()).initializes >= 1, 'the session\'s initialize was replayed (and refused)');
      const again = await request(bw.url, { headers: getHeaders, timeoutMs: 15000 });
      assert.equal(again.status, 404, `the reconnect learns that the session is gone: ${again.status} ${again.body}`);
      assert.equal(JSON.parse(again.body).error.message.startsWith('Session not found'), true, again.body);
    }));
});
