// Every spelling of the MCP endpoint is judged (issue 20 item 7). Bulwark judges POSTs to the MCP
// path only; an upstream that routes leniently (fixtures/lenient_router_server.mjs: case folded,
// trailing and repeated slashes, ";params", percent-decoding, dot segments, absolute-form) runs
// its MCP handler for many other spellings. Each spelling must either reach the policy path (a
// duplicate-key body is refused as on /mcp; with the circuit open the answer is the same 503)
// or be refused by Bulwark with 400; in neither case does the upstream see it.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test tests/integration/mcp_paths.test.mjs
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { kDirect, kTestsDir, startBulwark } from './lib/peers.mjs';
import { ChildProcess } from './lib/procs.mjs';
import { kHost, request, waitForHttp } from './lib/net.mjs';
import { RawClient, formatRequest } from './lib/rawhttp.mjs';
import { scoped, tempDir, writeConfig } from './lib/faulty.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const kLenientMain = path.resolve(here, 'fixtures', 'lenient_router_server.mjs');

// [target, what Bulwark does with it]; `PORT` stands for Bulwark's port. 'judged': the policy
// path, and the upstream gets /mcp; 'refused': 400 before anything reaches the upstream.
const kVariants = [
  ['/mcp', 'judged'],
  ['/mcp?x=1', 'judged'],
  ['/mcp/', 'judged'],
  ['/%6dcp', 'judged'],
  ['/%6D%63%70/', 'judged'],
  ['/x/../mcp', 'judged'],
  ['/./mcp', 'judged'],
  ['http://127.0.0.1:PORT/mcp', 'judged'],
  ['/MCP', 'refused'],
  ['/Mcp/', 'refused'],
  ['/mcp;x', 'refused'],
  ['/x/..;/mcp', 'refused'],
  ['//mcp', 'refused'],
  ['/mcp//', 'refused'],
  ['/%2fmcp', 'refused'],
  ['/mcp%2F', 'refused'],
  ['/mcp%3Bx', 'refused'],
  ['/%256dcp', 'refused'],
  ['/mcp%00', 'refused'],
  ['/mcp#x', 'refused'],
  ['/\\mcp', 'refused'],
  ['HTTP://127.0.0.1:PORT/MCP', 'refused'],
  ['http://127.0.0.1:PORT//mcp', 'refused'],
  ['http://evil.example/mcp', 'refused'],
];

let dir;
let up;
before(async () => {
  dir = await tempDir('bulwark-paths-');
  const proc = new ChildProcess('lenient-router', process.execPath, [kLenientMain], {
    env: { PORT: '0' }, cwd: kTestsDir });
  try {
    const m = await proc.waitForOutput(/listening on (\d+)/, 15000);
    const origin = `http://${kHost}:${m[1]}`;
    await waitForHttp(`${origin}/healthz`, { proc });
    up = { proc, origin, url: `${origin}/mcp`, stop: () => proc.stop(), describe: () => proc.describe() };
  } catch (e) {
    await proc.stop();
    throw e;
  }
});
after(async () => {
  await up?.stop();
  await dir?.remove();
});

async function upstreamStats() {
  return JSON.parse((await request(`${up.origin}/__control/stats`)).body);
}
async function failUpstream(status) {
  await request(`${up.origin}/__control/fail`, { method: 'POST', body: JSON.stringify({ status }),
                                                  headers: { 'content-type': 'application/json' } });
}

let configCount = 0;
// The tests count the upstream's POSTs and runs exactly: Bulwark's own listing of its tools (at
// start, retried while the upstream fails) would add POSTs of its own.
async function bulwarkWith(track, extra) {
  const file = await writeConfig(dir.file(`config-${++configCount}.yaml`),
                                 { upstream: { url: up.url, discovery: { at_start: false } }, ...extra });
  return track(await startBulwark(up.url, { config: file, name: 'bulwark-paths' }));
}

// One POST of `body` to `target` on a fresh connection, byte-exact.
async function post(bw, target, body) {
  const c = await RawClient.connect(bw.port);
  try {
    await c.write(formatRequest('POST', target.replace('PORT', String(bw.port)), [
      ['Host', `${kHost}:${bw.port}`], ['Content-Type', 'application/json'],
      ['Accept', 'application/json, text/event-stream'],
      ['Content-Length', String(Buffer.byteLength(body))]], body));
    const res = await c.readResponse({ timeoutMs: 10000 });
    let json;
    try {
      json = JSON.parse(res.text);
    } catch {
      json = undefined;
    }
    return { status: res.status, text: res.text, json };
  } finally {
    c.destroy();
  }
}

const call = (id, params) => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params });
// JavaScript's JSON.parse keeps the last "name": a server would run `record`.
const kDuplicateName =
  '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"other","name":"record","arguments":{}}}';

// Bulwark's own refusal of an ambiguous spelling: 400, JSON-RPC -32600, naming the MCP path.
function assertRefusedSpelling(res, target) {
  assert.equal(res.status, 400, `${target}: ${res.text}`);
  assert.equal(res.json?.error?.code, -32600, `${target}: ${res.text}`);
  assert.equal(res.json.error.data?.source, 'bulwark', `${target}: ${res.text}`);
  assert.equal(res.json.error.data.class, 'invalid_input');
  assert.match(res.json.error.data.detail, /\/mcp/, `${target}: ${res.text}`);
}

describe('spellings of the MCP path', { skip: kDirect ? 'proxy-only behaviour' : false, timeout: 60000 }, () => {
  test('a duplicate-key body is refused on every spelling, and never runs the tool',
       scoped(async (t, track) => {
    await failUpstream(0);
    const bw = await bulwarkWith(track, {});
    const before = await upstreamStats();
    for (const [target, verdict] of kVariants) {
      const res = await post(bw, target, kDuplicateName);
      if (verdict === 'judged') {
        assert.equal(res.status, 400, `${target}: ${res.text}`);
        assert.equal(res.json?.error?.code, -32600, `${target}: ${res.text}`);
        assert.match(res.json.error.data?.detail ?? '', /duplicate "params.name"/, `${target}: ${res.text}`);
        assert.equal(res.json.id, 7, target);
      } else {
        assertRefusedSpelling(res, target);
      }
    }
    const afterStats = await upstreamStats();
    assert.equal(afterStats.posts, before.posts, 'no spelling reached the upstream');
    assert.equal(afterStats.runs, before.runs, 'the tool never ran');
  }));

  test('judged spellings reach the upstream as /mcp and work; another path is forwarded as it came',
       scoped(async (t, track) => {
    await failUpstream(0);
    const bw = await bulwarkWith(track, {});
    let id = 100;
    for (const [target, verdict] of kVariants) {
      if (verdict !== 'judged') continue;
      const before = await upstreamStats();
      const res = await post(bw, target, call(++id, { name: 'record', arguments: {} }));
      assert.equal(res.status, 200, `${target}: ${res.text}`);
      assert.equal(res.json?.id, id, `${target}: ${res.text}`);
      const afterStats = await upstreamStats();
      assert.equal(afterStats.runs, before.runs + 1, target);
      assert.equal(afterStats.lastTarget, target.includes('?') ? '/mcp?x=1' : '/mcp', target);
    }
    const other = await post(bw, '/other/path;p?q=%2F', '{}');
    assert.equal(other.status, 404);
    assert.equal(other.json.path, '/other/path;p?q=%2F', 'forwarded byte for byte');
  }));

  test('with the circuit open, every spelling gets the same refusal or a 400; none gets through',
       scoped(async (t, track) => {
    const bw = await bulwarkWith(track, {
      defaults: {
        retry: { max_attempts: 1 },
        circuit_breaker: { failure_ratio: 0.5, min_requests: 3, window: '30s', open_for: '60s' },
      },
    });
    await failUpstream(503);
    for (let i = 0; i < 3; i++) {
      assert.equal((await post(bw, '/mcp', call(i, { name: 'record', arguments: {} }))).status, 503);
    }
    await failUpstream(0);  // the upstream is well again, but the circuit stays open for 60 s
    const open = await post(bw, '/mcp', call('open', { name: 'record', arguments: {} }));
    assert.equal(open.status, 503, open.text);
    assert.equal(open.json.error.data.source, 'bulwark');
    assert.match(open.json.error.data.detail, /circuit open/);
    const before = await upstreamStats();
    for (const [target, verdict] of kVariants) {
      const res = await post(bw, target, call('v', { name: 'record', arguments: {} }));
      if (verdict === 'judged') {
        assert.equal(res.status, 503, `${target}: ${res.text}`);
        assert.equal(res.json?.error?.data?.source, 'bulwark', `${target}: ${res.text}`);
        assert.match(res.json.error.data.detail, /circuit open/, target);
      } else {
        assertRefusedSpelling(res, target);
      }
    }
    const afterStats = await upstreamStats();
    assert.equal(afterStats.posts, before.posts, 'no spelling reached the upstream');
    assert.equal(afterStats.runs, before.runs, 'the tool never ran');
  }));
});

// Behind a stdio server, the bridge served every path as MCP: a POST to another path ran
// unjudged. Now the exchange sends each spelling of the endpoint as /mcp and the bridge answers
// any other path with 404.
describe('spellings of the MCP path in front of a stdio server',
         { skip: kDirect ? 'proxy-only behaviour' : false, timeout: 60000 }, () => {
  const kStdioFixture = path.resolve(here, 'fixtures', 'stdio_server.mjs');
  const initialize = (id) => JSON.stringify({
    jsonrpc: '2.0', id, method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {},
              clientInfo: { name: 'bulwark-paths-test', version: '1.0.0' } } });

  test('another path gets 404, a judged spelling initializes, an ambiguous one gets 400',
       scoped(async (t, track) => {
    const bw = track(await startBulwark(`http://${kHost}/mcp`,
                                        { command: [process.execPath, kStdioFixture],
                                          name: 'bulwark-paths-stdio' }));
    const other = await post(bw, '/other', initialize(1));
    assert.equal(other.status, 404, other.text);
    assert.match(other.text, /served at \/mcp only/);
    const judged = await post(bw, '/mcp/', initialize(2));
    assert.equal(judged.status, 200, judged.text);
    assert.equal(judged.json?.result?.serverInfo !== undefined, true, judged.text);
    assertRefusedSpelling(await post(bw, '/MCP', initialize(3)), '/MCP');
  }));
});
