// The cache's caller scope (issue 20 item 1, issue 18 item 7): a cached answer is only ever
// given to the caller it was made for. The identity is the client's session, every
// Authorization, Cookie and X-API-Key field, the headers in cache.identity_headers and the
// query string; `shared` (or a server's cacheScope "public") ignores it.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test tests/integration/cache_scope.test.mjs
//
// Upstreams: fixtures/caller_state_server.mjs (the SDK's server: per-session notes on /mcp, a
// stateless `whoami` telling the credentials it got on /stateless) and fixtures/stdio_server.mjs
// (one child per session, `whoami` tells its pid). Clients: the SDK's client.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { kDirect, kTestsDir, startBulwark } from './lib/peers.mjs';
import { kHost, request, waitForHttp } from './lib/net.mjs';
import { sumSamples } from './lib/metrics.mjs';
import { ChildProcess, withTimeout } from './lib/procs.mjs';
import { scoped, tempDir, writeConfig } from './lib/faulty.mjs';

const kSkip = kDirect ? 'proxy-only behaviour' : false;
const here = path.dirname(fileURLToPath(import.meta.url));
const kCallerStateMain = path.join(here, 'fixtures', 'caller_state_server.mjs');
const kStdioFixture = path.join(here, 'fixtures', 'stdio_server.mjs');
const kTimeoutMs = 20000;
const opts = { timeout: kTimeoutMs };

async function startCallerState(track) {
  const proc = new ChildProcess('caller-state', process.execPath, [kCallerStateMain], {
    env: { PORT: '0' }, cwd: kTestsDir,
  });
  track({ stop: () => proc.stop(), describe: () => proc.describe() });
  const m = await proc.waitForOutput(/listening on (\d+)/, 15000);
  const origin = `http://127.0.0.1:${m[1]}`;
  await waitForHttp(`${origin}/healthz`, { proc });
  return {
    sessionsUrl: `${origin}/mcp`,
    statelessUrl: `${origin}/stateless`,
    calls: async (tool) => JSON.parse((await request(`${origin}/stats`)).body).calls[tool] ?? 0,
    forget: () => request(`${origin}/forget`, { method: 'POST' }),
  };
}

async function bulwarkWith(t, track, upstreamUrl, config) {
  const dir = await tempDir('bulwark-cache-scope-');
  t.after(() => dir.remove());
  const file = await writeConfig(dir.file('bulwark.yaml'), config);
  return track(await startBulwark(upstreamUrl, { config: file, name: 'bulwark-cache-scope' }));
}

// An SDK client on `url`, with extra request headers; closed when the test ends.
async function connect(t, url, headers = {}) {
  const client = new Client({ name: 'cache-scope-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  await withTimeout(client.connect(transport, opts), kTimeoutMs, `initialize via ${url}`);
  t.after(() => withTimeout(client.close(), 5000, 'client.close').catch(() => {}));
  return client;
}

const textOf = (result) => result.content?.[0]?.text;
const call = async (client, name, args = {}) => textOf(await client.callTool({ name, arguments: args }, undefined, opts));

describe('caller scope: sessions', { skip: kSkip, timeout: 90000 }, () => {
  test('two sessions without Authorization each get their own session\'s answer', scoped(async (t, track) => {
    const up = await startCallerState(track);
    const bw = await bulwarkWith(t, track, up.sessionsUrl, {
      upstream: { url: up.sessionsUrl },
      tools: [{ match: 'recall', cache: { ttl: '60s' } }],
    });
    const alice = await connect(t, bw.url);
    const bob = await connect(t, bw.url);
    assert.equal(await call(alice, 'remember', { note: 'alice private' }), 'noted');
    assert.equal(await call(bob, 'remember', { note: 'bob private' }), 'noted');

    const aliceNote = await call(alice, 'recall');
    assert.match(aliceNote, /: alice private$/);
    const bobNote = await call(bob, 'recall');
    assert.match(bobNote, /: bob private$/, 'bob never gets the answer cached for alice\'s session');
    assert.notEqual(bobNote, aliceNote);

    // Within a session the cache still answers.
    assert.equal(await call(alice, 'recall'), aliceNote);
    assert.equal(await call(bob, 'recall'), bobNote);
    assert.equal(await up.calls('recall'), 2, 'one upstream call per session');
    assert.equal(sumSamples(await bw.metrics(), 'bulwark_cache_requests_total', { result: 'hit' }), 2);
  }));

  test('a session keeps its entries when Bulwark recovers it upstream (the key is the client\'s id)',
       scoped(async (t, track) => {
    const up = await startCallerState(track);
    const bw = await bulwarkWith(t, track, up.sessionsUrl, {
      upstream: { url: up.sessionsUrl },
      tools: [{ match: 'recall', cache: { ttl: '60s' } }],
    });
    const alice = await connect(t, bw.url);
    await call(alice, 'remember', { note: 'before the restart' });
    const before = await call(alice, 'recall');
    await up.forget();  // the upstream loses every session, as a restart would
    // A call that is not cached finds the session gone; Bulwark re-initializes it upstream.
    assert.equal(await call(alice, 'remember', { note: 'after the restart' }), 'noted');
    assert.ok(sumSamples(await bw.metrics(), 'bulwark_session_recoveries_total', { result: 'success' }) >= 1,
              'the session was recovered');
    assert.equal(await call(alice, 'recall'), before, 'still the same caller: the entry answers');
    assert.equal(await up.calls('recall'), 1);
  }));

  test('scope: shared serves every session from one entry', scoped(async (t, track) => {
    const up = await startCallerState(track);
    const bw = await bulwarkWith(t, track, up.sessionsUrl, {
      upstream: { url: up.sessionsUrl },
      tools: [{ match: 'recall', cache: { ttl: '60s', scope: 'shared' } }],
    });
    const alice = await connect(t, bw.url);
    const bob = await connect(t, bw.url);
    await call(alice, 'remember', { note: 'for everyone' });
    const first = await call(alice, 'recall');
    assert.equal(await call(bob, 'recall'), first, 'shared: the one entry, whichever session asks');
    assert.equal(await up.calls('recall'), 1);
  }));

  test('a stdio upstream: each session gets its own child\'s answer', scoped(async (t, track) => {
    const bw = await bulwarkWith(t, track, `http://${kHost}/mcp`, {
      upstream: { command: [process.execPath, kStdioFixture], cwd: kTestsDir },
      tools: [{ match: 'whoami', cache: { ttl: '60s' } }],
    });
    const alice = await connect(t, bw.url);
    const bob = await connect(t, bw.url);
    const a = JSON.parse(await call(alice, 'whoami'));
    const b = JSON.parse(await call(bob, 'whoami'));
    assert.notEqual(b.pid, a.pid, 'bob is answered by his own child, not from alice\'s entry');
    assert.deepEqual(JSON.parse(await call(bob, 'whoami')), b);
    assert.equal(sumSamples(await bw.metrics(), 'bulwark_cache_requests_total', { result: 'hit' }), 1);
  }));
});

describe('caller scope: credentials of a stateless request', { skip: kSkip, timeout: 90000 }, () => {
  // Each pair: two callers told apart by one credential only. Each is asked twice: the second
  // time comes from the cache, and must be the caller's own answer.
  const kPairs = [
    { what: 'the query string', alice: { query: '?api_key=alice' }, bob: { query: '?api_key=bob' },
      seen: (w) => w.query },
    { what: 'Cookie', alice: { headers: { cookie: 'sid=alice' } }, bob: { headers: { cookie: 'sid=bob' } },
      seen: (w) => w.cookie },
    { what: 'X-API-Key', alice: { headers: { 'x-api-key': 'key-alice' } }, bob: { headers: { 'x-api-key': 'key-bob' } },
      seen: (w) => w.apiKey },
    { what: 'a header in cache.identity_headers', alice: { headers: { 'x-tenant': 'alice' } },
      bob: { headers: { 'x-tenant': 'bob' } }, seen: (w) => w.tenant },
  ];

  for (const pair of kPairs) {
    test(`callers that differ only in ${pair.what} never share an entry`, scoped(async (t, track) => {
      const up = await startCallerState(track);
      const bw = await bulwarkWith(t, track, up.statelessUrl, {
        upstream: { url: up.statelessUrl },
        cache: { identity_headers: ['X-Tenant'] },
        tools: [{ match: 'whoami', cache: { ttl: '60s' } }],
      });
      const answers = {};
      for (const who of ['alice', 'bob']) {
        const { query = '', headers = {} } = pair[who];
        const client = await connect(t, bw.url + query, headers);
        const first = await call(client, 'whoami');
        answers[who] = JSON.parse(first);
        assert.match(String(pair.seen(answers[who])), new RegExp(who), `${who} gets the answer to ${who}'s own credential`);
        assert.equal(await call(client, 'whoami'), first, `${who}'s second call is her own cached answer`);
      }
      assert.notDeepEqual(answers.bob, answers.alice, 'bob is never answered from alice\'s entry');
      assert.equal(await up.calls('whoami'), 2, 'one upstream call per caller');
    }));
  }

  test('scope: shared ignores every credential', scoped(async (t, track) => {
    const up = await startCallerState(track);
    const bw = await bulwarkWith(t, track, up.statelessUrl, {
      upstream: { url: up.statelessUrl },
      tools: [{ match: 'whoami', cache: { ttl: '60s', scope: 'shared' } }],
    });
    const alice = await connect(t, `${bw.url}?api_key=alice`, { cookie: 'sid=alice', 'x-api-key': 'a' });
    const bob = await connect(t, `${bw.url}?api_key=bob`, { cookie: 'sid=bob', 'x-api-key': 'b' });
    const first = await call(alice, 'whoami');
    assert.equal(await call(bob, 'whoami'), first);
    assert.equal(await up.calls('whoami'), 1);
  }));
});
