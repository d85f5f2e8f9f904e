// Shared cache and tool catalog across replicas (issue 15 item 5), with the multi-replica harness
// (lib/replicas.mjs: a real redis-server, pods of replica server + Bulwark with shared_state):
// a replica answers from an entry another one cached (fresh, without its own server; stale,
// when its own server is dead), knows tools another one discovered without listing them, keeps
// caching to itself without the key secret, learns a tool's annotations another one found when a
// retry decision meets the tool, and after a run no key or value in Redis holds a caller's token
// or a client's session id in clear.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test tests/integration/shared_cache.test.mjs
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { kDirect, withDiagnostics } from './lib/peers.mjs';
import { callTool, connectClient, pollUntil, rpc } from './lib/faulty.mjs';
import { request } from './lib/net.mjs';
import { sumSamples } from './lib/metrics.mjs';
import { dumpAll } from './lib/resp.mjs';
import { startReplicas } from './lib/replicas.mjs';
import { startRawUpstream } from './lib/raw_upstream.mjs';

const text = (res) => res.json?.result?.content?.[0]?.text;
// A caller token that must never be found in Redis in clear.
const kToken = `Bearer shared-cache-token-${randomBytes(8).toString('hex')}`;
const kApiKey = `api-key-${randomBytes(8).toString('hex')}`;
const kAuth = { authorization: kToken, 'x-api-key': kApiKey };

// The weather tool cached per caller: fresh for `ttl`, then stale for an hour.
const cacheConfig = (ttl) => ({
  tools: [{ match: 'weather', cache: { ttl, stale_if_error: '1h' } }],
});

async function redisDump(cluster) {
  const client = await cluster.redis.client();
  try {
    return await dumpAll(client);
  } finally {
    client.close();
  }
}

// Polls until Redis holds a cache entry (written asynchronously after the answer).
async function waitForCacheEntries(cluster, count) {
  return pollUntil(async () => {
    const entries = (await redisDump(cluster)).filter((e) => e.key.startsWith('bulwark:cache:'));
    return entries.length >= count ? entries : null;
  }, { timeoutMs: 5000, what: `${count} cache entries in Redis` });
}

// Waits until replica 0's tool catalog (the fixture's 3 tools) is in Redis.
async function catalogInRedis(cluster) {
  const redis = await cluster.redis.client();
  try {
    await pollUntil(async () => (await redis.command('HLEN', 'bulwark:catalog')) >= 3,
                    { timeoutMs: 10000, what: 'the catalog of replica 0 in Redis' });
  } finally {
    redis.close();
  }
}
describe('shared cache and catalog across replicas', { skip: kDirect ? 'proxy-only behaviour' : false, timeout: 90000 }, () => {
  const clusters = [];
  after(async () => {
    for (const c of clusters) await c.stop();
  });
  const track = (c) => {
    clusters.push(c);
    return c;
  };

  test('a replica answers from an entry another cached, without calling its own server', async (t) => {
    const cluster = track(await startReplicas({ count: 2, stateless: true, name: 'fresh', config: cacheConfig('1h') }));
    await withDiagnostics(() => cluster.procs(), async () => {
      const [a, b] = cluster.pairs;
      const first = await callTool(a.bulwark.url, 'weather', { city: 'Oslo' }, { headers: kAuth });
      assert.equal(text(first), 'weather in Oslo by fresh-0-server #1');
      const [entry] = await waitForCacheEntries(cluster, 1);
      assert.match(entry.key, /^bulwark:cache:[0-9a-f]{64}$/, 'named by an HMAC, nothing else');

      const fromB = await callTool(b.bulwark.url, 'weather', { city: 'Oslo' }, { headers: kAuth });
      assert.equal(fromB.status, 200, fromB.body);
      assert.equal(text(fromB), 'weather in Oslo by fresh-0-server #1', "replica 0's answer, from Redis");
      assert.equal((await b.server.stats()).runs.weather, undefined, "replica 1's server was never called");
      const m = await b.bulwark.metrics();
      assert.equal(sumSamples(m, 'bulwark_cache_requests_total', { result: 'hit' }), 1);
      assert.equal(sumSamples(m, 'bulwark_cache_requests_total', { result: 'miss' }), 0, 'one request, one count');
      assert.ok(sumSamples(m, 'bulwark_shared_state_operations_total', { op: 'cache_read', result: 'ok' }) >= 1);

      // Another caller has its own entry: B asks its server.
      const other = await callTool(b.bulwark.url, 'weather', { city: 'Oslo' }, { headers: { authorization: 'Bearer someone-else' } });
      assert.equal(text(other), 'weather in Oslo by fresh-1-server #1');
    })(t);
  });

  test('a replica whose server died serves the stale answer another replica cached', async (t) => {
    const cluster = track(await startReplicas({ count: 2, stateless: true, name: 'stale', config: cacheConfig('300ms') }));
    await withDiagnostics(() => cluster.procs(), async () => {
      const [a, b] = cluster.pairs;
      const first = await callTool(a.bulwark.url, 'weather', { city: 'Bergen' }, { headers: kAuth });
      assert.equal(text(first), 'weather in Bergen by stale-0-server #1');
      const [entry] = await waitForCacheEntries(cluster, 1);
      await cluster.killServer(1);
      // Past the 300 ms ttl the entry in Redis is stale, good only when the upstream fails. Its
      // value says until when it is fresh ("bk1 <stored> <fresh until> <stale until> ..." in ms).
      const freshUntil = Number(entry.text.split(' ')[2]);
      assert.ok(freshUntil > 0, entry.text.slice(0, 80));
      await pollUntil(() => Date.now() > freshUntil + 50, { timeoutMs: 5000, what: 'the entry is stale' });
      const res = await callTool(b.bulwark.url, 'weather', { city: 'Bergen' }, { headers: kAuth });
      assert.equal(res.status, 200, res.body);
      assert.equal(text(res), 'weather in Bergen by stale-0-server #1');
      assert.equal(res.json.result._meta['bulwark/stale'], true, 'marked stale');
      const m = await b.bulwark.metrics();
      assert.equal(sumSamples(m, 'bulwark_cache_requests_total', { result: 'stale' }), 1);
      assert.equal(sumSamples(m, 'bulwark_recoveries_total', { strategy: 'stale' }), 1);
      // Without an entry anywhere, the same dead server is an error: the stale answer came from A.
      const none = await callTool(b.bulwark.url, 'weather', { city: 'Nowhere' }, { headers: kAuth });
      assert.ok(none.json?.error, `no entry: an error (${none.body.slice(0, 200)})`);
    })(t);
  });

  test('Redis down at start, then killed mid-run: cacheable calls never fail, and sharing resumes', async (t) => {
    const cluster = track(await startReplicas({ count: 2, stateless: true, name: 'down', startRedis: false,
                                                config: cacheConfig('1h') }));
    await withDiagnostics(() => cluster.procs(), async () => {
      const [a, b] = cluster.pairs;
      // No Redis: each replica caches for itself.
      for (let i = 0; i < 3; i++) {
        const res = await callTool(a.bulwark.url, 'weather', { city: 'Tromso' }, { headers: kAuth });
        assert.equal(text(res), 'weather in Tromso by down-0-server #1');
      }
      await cluster.redis.start();
      await pollUntil(async () => sumSamples(await b.bulwark.metrics(), 'bulwark_shared_state_up', {}) === 1,
                      { timeoutMs: 10000, what: 'replica 1 connected to Redis' });
      await pollUntil(async () => sumSamples(await a.bulwark.metrics(), 'bulwark_shared_state_up', {}) === 1,
                      { timeoutMs: 10000, what: 'replica 0 connected to Redis' });
      await callTool(a.bulwark.url, 'weather', { city: 'Alta' }, { headers: kAuth });
      await waitForCacheEntries(cluster, 1);
      const shared = await callTool(b.bulwark.url, 'weather', { city: 'Alta' }, { headers: kAuth });
      assert.equal(text(shared), 'weather in Alta by down-0-server #2', "replica 0's answer: shared once Redis is up");

      await cluster.redis.kill();
      for (const [pair, city] of [[a, 'Narvik'], [b, 'Narvik'], [a, 'Alta'], [b, 'Bodo']]) {
        const res = await callTool(pair.bulwark.url, 'weather', { city }, { headers: kAuth });
        assert.equal(res.status, 200, res.body);
        assert.match(text(res), new RegExp(`weather in ${city} by down-`));
      }
      for (const pair of [a, b]) {
        const ready = await request(`${pair.bulwark.admin}/readyz`, { timeoutMs: 5000 });
        assert.equal(ready.status, 200, '/readyz stays 200 without Redis');
      }
    })(t);
  });

  test('a replica knows the tools another one discovered, without listing them', async (t) => {
    const cluster = track(await startReplicas({
      count: 1, stateless: true, name: 'catalog',
      config: { upstream: { discovery: { at_start: true } } },
    }));
    await withDiagnostics(() => cluster.procs(), async () => {
      await catalogInRedis(cluster);
      const b = await cluster.startPair({ upstream: { discovery: { enabled: false } } });
      const view = await pollUntil(async () => {
        const res = await request(`${b.bulwark.admin}/tools`, { timeoutMs: 5000 });
        const body = JSON.parse(res.body);
        return body.tools.length >= 3 ? body : null;
      }, { timeoutMs: 10000, what: 'replica 1 knows the tools' });
      const byName = Object.fromEntries(view.tools.map((tool) => [tool.name, tool]));
      assert.deepEqual(byName.whoami.hints, { readOnlyHint: true, idempotentHint: true });
      assert.deepEqual(byName.weather.hints, { readOnlyHint: true, idempotentHint: null });
      assert.deepEqual(byName.record.hints, { readOnlyHint: null, idempotentHint: null });
      assert.equal(byName.whoami.hints_source, 'discovered', 'as replica 0 learned it');
      assert.equal((await b.server.stats()).methods['tools/list'], undefined, 'replica 1 listed nothing');
    })(t);
  });

  test('a retry decision about a tool this replica does not know uses the annotations another replica listed', async (t) => {
    // Replica 1's server is scripted (in this process): its first tools/call fails with a 502
    // (it may have run: a retry needs the tool's annotations), and it holds Bulwark's listing
    // of its tools until the test saw replica 1 learn the tool from Redis; then it lists
    // nothing. So the retry can only come from what replica 0 wrote to Redis.
    const raw = await startRawUpstream();
    t.after(() => raw.close());
    let calls = 0;
    let releaseListing;
    const listingHeld = new Promise((resolve) => { releaseListing = resolve; });
    const json = (res, status, value) => {
      const text = JSON.stringify(value);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    raw.handler = async (req, res, rec) => {
      let msg = {};
      try {
        msg = JSON.parse(rec.body.toString('utf8'));
      } catch {
        // not JSON (a probe): answered below
      }
      if (msg.method === 'tools/call') {
        calls++;
        if (calls === 1) {
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end('bad gateway');
          return;
        }
        json(res, 200, { jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: 'replica raw' }] } });
      } else if (msg.method === 'tools/list') {
        await listingHeld;
        json(res, 200, { jsonrpc: '2.0', id: msg.id, result: { tools: [] } });
      } else if (msg.method === 'initialize') {
        json(res, 200, { jsonrpc: '2.0', id: msg.id, result: {
          protocolVersion: msg.params?.protocolVersion ?? '2025-06-18', capabilities: { tools: {} },
          serverInfo: { name: 'raw', version: '1' } } });
      } else if (msg.id === undefined) {
        res.writeHead(202);
        res.end();
      } else {
        json(res, 200, { jsonrpc: '2.0', id: msg.id, result: {} });
      }
    };
    // Replica 0 lists nothing by itself (it learns from a client's listing, later); replica 1
    // fronts the scripted server and never lists on its own (a caller listing at most).
    const cluster = track(await startReplicas({
      count: 2, stateless: true, name: 'hints',
      config: (i) => (i === 0 ? { upstream: { discovery: { at_start: false } } }
                              : { upstream: { url: raw.url, discovery: { enabled: false } } }),
    }));
    await withDiagnostics(() => cluster.procs(), async () => {
      const [a, b] = cluster.pairs;
      const toolsOf = async (pair) => JSON.parse((await request(`${pair.bulwark.admin}/tools`, { timeoutMs: 5000 })).body).tools;
      // Replica 1 has read the (empty) shared catalog once Redis was up: it knows no tool.
      await pollUntil(async () => sumSamples(await b.bulwark.metrics(), 'bulwark_shared_state_operations_total',
                                             { op: 'catalog_read', result: 'ok' }) >= 1,
                      { timeoutMs: 10000, what: 'replica 1 read the shared catalog' });
      // Then replica 0 learns the tools from a client's listing and writes them to Redis.
      const listed = await rpc(a.bulwark.url, 'tools/list', {});
      assert.equal(listed.status, 200, listed.body);
      await catalogInRedis(cluster);
      assert.deepEqual(await toolsOf(b), [], 'replica 1 does not know whoami before the call');

      const pending = callTool(b.bulwark.url, 'whoami', {});
      await pollUntil(async () => (await toolsOf(b)).some((tool) => tool.name === 'whoami'),
                      { timeoutMs: 10000, what: 'replica 1 learned whoami from Redis at the retry decision' });
      releaseListing();
      const res = await pending;
      assert.equal(res.status, 200, res.body);
      assert.equal(text(res), 'replica raw', 'retried after the 502, on the annotations from Redis');
      assert.equal(calls, 2, 'one failed attempt and one retry');
      const whoami = (await toolsOf(b)).find((tool) => tool.name === 'whoami');
      assert.deepEqual(whoami.hints, { readOnlyHint: true, idempotentHint: true });
      assert.equal(whoami.hints_source, 'listed', "as replica 0 learned it (a client's listing)");
      assert.equal(sumSamples(await b.bulwark.metrics(), 'bulwark_retries_total', {}), 1);
    })(t);
  });

  test('without the key secret, cache entries stay local (and the log says so once)', async (t) => {
    const cluster = track(await startReplicas({ count: 2, stateless: true, name: 'nosecret', keySecret: null,
                                                config: cacheConfig('1h') }));
    await withDiagnostics(() => cluster.procs(), async () => {
      const [a, b] = cluster.pairs;
      await callTool(a.bulwark.url, 'weather', { city: 'Oslo' }, { headers: kAuth });
      const again = await callTool(a.bulwark.url, 'weather', { city: 'Oslo' }, { headers: kAuth });
      assert.equal(text(again), 'weather in Oslo by nosecret-0-server #1', 'the local cache works');
      const fromB = await callTool(b.bulwark.url, 'weather', { city: 'Oslo' }, { headers: kAuth });
      assert.equal(text(fromB), 'weather in Oslo by nosecret-1-server #1', 'nothing shared');
      const dump = await redisDump(cluster);
      assert.deepEqual(dump.filter((e) => e.key.includes('cache')), []);
      const lines = a.bulwark.logs().split('\n').filter((l) => l.includes('cache sharing is off'));
      assert.equal(lines.length, 1, a.bulwark.logs());
      assert.match(lines[0], /BULWARK_SHARED_KEY_SECRET/);
    })(t);
  });

  test('after a run, no key or value in Redis holds the caller\'s token or a session id in clear', async (t) => {
    const cluster = track(await startReplicas({ count: 2, name: 'scan', config: {
      ...cacheConfig('1h'), upstream: { discovery: { at_start: true } },
    } }));
    await withDiagnostics(() => cluster.procs(), async () => {
      // Sessions (SDK client, the token on every request) through the balancer (so requests
      // are forwarded between pods) and on each pod, cached and uncached calls. Their ids are
      // bearer-like too: only their digests may be in Redis (the sessions stay open: closing the
      // SDK client sends no DELETE, so the records are still there at the scan).
      const sessionIds = [];
      for (const url of [cluster.url, ...cluster.pairs.map((pair) => pair.bulwark.url)]) {
        const sdk = await connectClient(url, { headers: kAuth });
        sessionIds.push(sdk.transport.sessionId);
        try {
          for (const city of ['Oslo', 'Bergen']) {
            await sdk.client.callTool({ name: 'weather', arguments: { city } });
          }
          await sdk.client.callTool({ name: 'whoami', arguments: {} });
          await sdk.client.callTool({ name: 'record', arguments: {} });
        } finally {
          await sdk.close();
        }
      }
      // And stateless-looking traffic (no session) with the token, through the balancer.
      await rpc(cluster.url, 'tools/list', {}, { headers: kAuth });
      await waitForCacheEntries(cluster, 2);
      const recordKeys = sessionIds.map((id) => cluster.sessionKey(id));
      await pollUntil(async () => {
        const keys = new Set((await redisDump(cluster)).map((e) => e.key));
        return recordKeys.every((k) => keys.has(k));
      }, { timeoutMs: 5000, what: 'every session recorded under the digest of its id' });
      const dump = await redisDump(cluster);
      assert.ok(dump.length >= 3, `Redis holds something: ${dump.map((e) => e.key).join(', ')}`);
      const secret = kToken.slice('Bearer '.length);
      assert.equal(sessionIds.filter(Boolean).length, 3, 'three sessions were opened');
      const leaks = dump.filter((e) => [secret, kApiKey, ...sessionIds].some((v) => e.key.includes(v) || e.text.includes(v)))
        .map((e) => `${e.type} ${e.key}`);
      assert.deepEqual(leaks, [], 'keys whose name or value holds the token, the API key or a session id');
      t.diagnostic(`scanned ${dump.length} keys: ${[...new Set(dump.map((e) => e.key.replace(/[0-9a-f]{16,}/g, '<hex>')))].join(', ')}`);
    })(t);
  });
});
