// Raw HTTP/1.1 through Bulwark against a scripted node:http upstream (in this process), so the
// test controls every byte: keep-alive, framing, header passthrough, hop-by-hop headers, HEAD,
// 204, SSE streaming, disconnects, pipelining, long-lived streams, and every bad-input answer.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test --test-timeout=90000 tests/integration/http_edges.test.mjs
//
// BULWARK_BIN=direct points the tests at the upstream itself (harness self-check); tests of
// behaviour only a proxy has (hop-by-hop removal, bad input, pooling, admin) are skipped then.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { kDirect, startBulwark, stopAll, withDiagnostics } from './lib/peers.mjs';
import { freePort, kHost, openStream, request, waitForHttp } from './lib/net.mjs';
import { startRawUpstream } from './lib/raw_upstream.mjs';
import { RawClient, chunked, formatRequest } from './lib/rawhttp.mjs';
import { parseMetrics } from './lib/metrics.mjs';
import { withTimeout } from './lib/procs.mjs';
import { tempDir, writeConfig } from './lib/faulty.mjs';

const kT = { timeout: 30000 };
const kProxyOnly = { timeout: 30000, skip: kDirect && 'BULWARK_BIN=direct' };
const kLimit = 4 * 1024 * 1024; // Bulwark's default body limit (bytes)

// A promise that a test resolves by hand; waiting on it is bounded so an upstream handler can
// never hang forever.
function gate() {
  let open;
  const p = new Promise((resolve) => {
    open = resolve;
  });
  return { open: () => open(), wait: (ms = 10000) => withTimeout(p, ms, 'test gate').catch(() => {}) };
}

function rpc(id, method, params) {
  return JSON.stringify({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) });
}

// A JSON-RPC request body of exactly `size` bytes.
function rpcOfSize(size, id = 1) {
  const shell = (pad) => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call',
                                          params: { name: 'echo', arguments: { message: pad } } });
  const overhead = Buffer.byteLength(shell(''));
  const body = shell('a'.repeat(size - overhead));
  assert.equal(Buffer.byteLength(body), size);
  return body;
}

function assertJsonRpcError(res, status, code, { id = null } = {}) {
  const text = res.text ?? res.body;
  assert.equal(res.status, status, `status (body: ${text})`);
  const ct = res.header ? res.header('content-type') : res.headers['content-type'];
  assert.match(ct ?? '', /application\/json/, 'content-type');
  const parsed = JSON.parse(text);
  assert.equal(parsed.jsonrpc, '2.0');
  assert.deepEqual(parsed.id, id, 'id');
  if (code === undefined) {
    assert.ok(Number.isInteger(parsed.error?.code), `integer error.code in ${text}`);
  } else {
    assert.equal(parsed.error?.code, code, `error.code in ${text}`);
  }
  assert.equal(typeof parsed.error.message, 'string');
  assert.ok(parsed.error.message.length > 0);
  return parsed;
}

const sse = (obj, extra = '') => `${extra}event: message\ndata: ${JSON.stringify(obj)}\n\n`;
const progress = (i, total) => ({ jsonrpc: '2.0', method: 'notifications/progress',
                                   params: { progressToken: 'tok', progress: i, total } });

describe('HTTP edges through Bulwark', () => {
  let up;
  let bw;
  const procs = () => [bw];
  let hostHeader;
  let dir;

  before(async () => {
    up = await startRawUpstream();
    // The defaults, except that Bulwark does not list the upstream's tools at start: the tests
    // count what reaches the upstream exactly (pooling, "upstream not contacted"), and that
    // listing, retried while a test's handler fails it, would land in their counts.
    dir = await tempDir('bulwark-http-edges-');
    const file = await writeConfig(dir.file('bulwark.yaml'),
                                   { upstream: { url: up.url, discovery: { at_start: false } } });
    bw = await startBulwark(up.url, { config: file });
    hostHeader = ['Host', `${kHost}:${bw.port}`];
  });
  after(async () => {
    await stopAll(bw, up && { stop: () => up.close() });
    await dir?.remove();
  });
  afterEach(() => up.reset());

  const mcpHeaders = (extra = []) => [hostHeader, ['Content-Type', 'application/json'],
    ['Accept', 'application/json, text/event-stream'], ...extra];

  test('keep-alive: several requests on one client connection', kT, withDiagnostics(procs, async () => {
    const c = await RawClient.connect(bw.port);
    try {
      for (let i = 1; i <= 4; i++) {
        const body = rpc(i, 'tools/list');
        await c.write(formatRequest('POST', '/mcp', mcpHeaders([['Content-Length', Buffer.byteLength(body)]]), body));
        const res = await c.readResponse({ timeoutMs: 5000 });
        assert.equal(res.status, 200, res.head);
        assert.equal(JSON.parse(res.text).id, i);
        assert.doesNotMatch(res.header('connection') ?? '', /close/i);
        await c.write(formatRequest('GET', `/other/${i}`, [hostHeader]));
        const res2 = await c.readResponse({ timeoutMs: 5000 });
        assert.equal(res2.status, 200);
        assert.equal(JSON.parse(res2.text).result.url, `/other/${i}`);
      }
      assert.equal(c.ended, false, 'the client connection is still open');
    } finally {
      c.destroy();
    }
  }));

  test('upstream connections are pooled and reused for sequential requests', kProxyOnly,
       withDiagnostics(procs, async () => {
    const first = up.requests.length;
    for (let i = 0; i < 6; i++) {
      const res = await request(bw.url, { method: 'POST', body: rpc(i, 'ping'),
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' } });
      assert.equal(res.status, 200);
    }
    const ports = new Set(up.requests.slice(first).map((r) => r.remotePort));
    assert.equal(up.requests.length - first, 6);
    assert.ok(ports.size <= 2, `6 sequential requests used ${ports.size} upstream connections`);
  }));

  test('Content-Length bodies pass byte-exact both ways', kT, withDiagnostics(procs, async () => {
    const body = '{ "jsonrpc" : "2.0",\n  "id": 7, "method":"tools/call",' +
                 '"params":{"name":"echo","arguments":{"message":"h\u00e9llo \u2713 \\u00e9"}} }';
    const reply = '{"jsonrpc":"2.0", "id":7, "result":{"content":[{"type":"text","text":"\u00fcber \u2713"}]}}';
    up.handler = (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(reply) });
      res.end(reply);
    };
    const c = await RawClient.connect(bw.port);
    try {
      await c.write(formatRequest('POST', '/mcp', mcpHeaders([['Content-Length', Buffer.byteLength(body)]]), body));
      const res = await c.readResponse({ timeoutMs: 5000 });
      assert.equal(res.status, 200);
      assert.equal(res.text, reply);
      if (res.header('content-length') !== undefined) {
        assert.equal(Number(res.header('content-length')), Buffer.byteLength(reply));
      }
      const rec = up.requests.at(-1);
      assert.equal(rec.body.toString('utf8'), body, 'the upstream got the bytes the client sent');
    } finally {
      c.destroy();
    }
  }));

  test('chunked request body is forwarded whole', kT, withDiagnostics(procs, async () => {
    const parts = ['{"jsonrpc":"2.0",', '"id":"chunky","method":"tools/call",',
                   '"params":{"name":"echo","arguments":{"message":"in three chunks"}}}'];
    const c = await RawClient.connect(bw.port);
    try {
      await c.write(formatRequest('POST', '/mcp', mcpHeaders([['Transfer-Encoding', 'chunked']])));
      const enc = chunked(parts);
      // Sent in three writes, split inside the chunk framing.
      await c.write(enc.subarray(0, 10));
      await c.write(enc.subarray(10, 40));
      await c.write(enc.subarray(40));
      const res = await c.readResponse({ timeoutMs: 5000 });
      assert.equal(res.status, 200, res.head);
      assert.equal(JSON.parse(res.text).id, 'chunky');
      assert.equal(up.requests.at(-1).body.toString('utf8'), parts.join(''));
    } finally {
      c.destroy();
    }
  }));

  test('chunked response body reaches the client whole', kT, withDiagnostics(procs, async () => {
    const pieces = ['{"jsonrpc":"2.0","id":3,', '"result":{"tools":[', '{"name":"a"},{"name":"b"}]}}'];
    up.handler = async (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }); // no length: node chunks it
      for (const p of pieces) {
        res.write(p);
        await new Promise((r) => setImmediate(r));
      }
      res.end();
    };
    const c = await RawClient.connect(bw.port);
    try {
      const body = rpc(3, 'tools/list');
      await c.write(formatRequest('POST', '/mcp', mcpHeaders([['Content-Length', Buffer.byteLength(body)]]), body));
      const res = await c.readResponse({ timeoutMs: 5000 });
      assert.equal(res.status, 200);
      assert.equal(res.text, pieces.join(''));
      assert.ok(res.chunked || res.header('content-length') !== undefined, 'framed');
      // The connection is still usable afterwards.
      await c.write(formatRequest('GET', '/after-chunked', [hostHeader]));
      up.reset();
      assert.equal((await c.readResponse({ timeoutMs: 5000 })).status, 200);
    } finally {
      c.destroy();
    }
  }));

  test('end-to-end request headers reach the upstream unchanged', kT, withDiagnostics(procs, async () => {
    const sent = [
      ['Mcp-Session-Id', '3f1c9a2e-7d5b-4e8a-b0c1-5a6f7e8d9c0b'],
      ['MCP-Protocol-Version', '2025-11-25'],
      ['Authorization', 'Bearer eyJhbGciOi.J9-abc_DEF.xyz'],
      ['Last-Event-ID', 'stream-1_evt-41'],
      ['Mcp-Method', 'tools/call'],
      ['Mcp-Name', 'echo'],
      ['Mcp-Param-Region', 'eu-west-1'],
      ['X-Custom-Thing', 'a  b;c=d, "quoted"'],
      ['X-Repeated', 'first'],
      ['X-Repeated', 'second'],
      ['User-Agent', 'bulwark-integration/1.0'],
    ];
    const body = rpc(11, 'tools/call', { name: 'echo', arguments: { message: 'x' } });
    const c = await RawClient.connect(bw.port);
    try {
      await c.write(formatRequest('POST', '/mcp', mcpHeaders([...sent, ['Content-Length', Buffer.byteLength(body)]]), body));
      const res = await c.readResponse({ timeoutMs: 5000 });
      assert.equal(res.status, 200);
    } finally {
      c.destroy();
    }
    const rec = up.requests.at(-1);
    for (const name of new Set(sent.map(([k]) => k))) {
      const want = sent.filter(([k]) => k === name).map(([, v]) => v);
      const got = up.rawValues(rec, name);
      // Repeated fields may be kept as separate lines or combined into one, in order.
      assert.ok(JSON.stringify(got) === JSON.stringify(want) || got.join(', ') === want.join(', '),
                `${name}: sent ${JSON.stringify(want)}, upstream got ${JSON.stringify(got)}`);
    }
    assert.equal(up.rawValues(rec, 'content-type')[0], 'application/json');
    assert.equal(up.rawValues(rec, 'accept')[0], 'application/json, text/event-stream');
  }));

  test('end-to-end response headers reach the client unchanged, incl. 401 WWW-Authenticate',
       kT, withDiagnostics(procs, async () => {
    const challenge = 'Bearer error="invalid_token", error_description="expired", ' +
                      `resource_metadata="http://${kHost}:1/.well-known/oauth-protected-resource"`;
    const errBody = '{"error":"invalid_token"}';
    up.handler = (req, res) => {
      res.writeHead(401, [
        ['WWW-Authenticate', challenge],
        ['Content-Type', 'application/json'],
        ['Content-Length', String(Buffer.byteLength(errBody))],
        ['Mcp-Session-Id', 'sess-401'],
        ['MCP-Protocol-Version', '2025-06-18'],
        ['X-Upstream-Trace', 'trace  id=42'],
        ['Cache-Control', 'no-store'],
        ['Set-Cookie', 'a=1; Path=/'],
        ['Set-Cookie', 'b=2; Path=/'],
      ].flat());
      res.end(errBody);
    };
    const c = await RawClient.connect(bw.port);
    try {
      const body = rpc(1, 'tools/list');
      await c.write(formatRequest('POST', '/mcp', mcpHeaders([['Authorization', 'Bearer expired'],
        ['Content-Length', Buffer.byteLength(body)]]), body));
      const res = await c.readResponse({ timeoutMs: 5000 });
      assert.equal(res.status, 401, res.head);
      assert.equal(res.header('www-authenticate'), challenge);
      assert.equal(res.header('mcp-session-id'), 'sess-401');
      assert.equal(res.header('mcp-protocol-version'), '2025-06-18');
      assert.equal(res.header('x-upstream-trace'), 'trace  id=42');
      assert.equal(res.header('cache-control'), 'no-store');
      assert.deepEqual(res.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/'],
                       'Set-Cookie lines stay separate');
      assert.equal(res.text, errBody);
      assert.equal(up.rawValues(up.requests.at(-1), 'authorization')[0], 'Bearer expired');
    } finally {
      c.destroy();
    }
  }));

  test('hop-by-hop request headers are not forwarded', kProxyOnly, withDiagnostics(procs, async () => {
    const c = await RawClient.connect(bw.port);
    try {
      await c.write(formatRequest('GET', '/hop', [hostHeader,
        ['Connection', 'keep-alive, X-Hop-Custom, TE'],
        ['X-Hop-Custom', 'must-not-pass'],
        ['Keep-Alive', 'timeout=77'],
        ['TE', 'trailers'],
        ['Upgrade', 'example/1'],
        ['Proxy-Connection', 'keep-alive'],
        ['X-End-To-End', 'must-pass']]));
      const res = await c.readResponse({ timeoutMs: 5000 });
      assert.equal(res.status, 200);
    } finally {
      c.destroy();
    }
    const rec = up.requests.at(-1);
    assert.equal(rec.url, '/hop');
    const h = rec.headers;
    assert.equal(h['x-end-to-end'], 'must-pass');
    assert.equal(h['x-hop-custom'], undefined, 'header named in Connection');
    assert.equal(h.te, undefined, 'TE');
    assert.equal(h.upgrade, undefined, 'Upgrade');
    assert.equal(h['proxy-connection'], undefined, 'Proxy-Connection');
    assert.notEqual(h['keep-alive'], 'timeout=77', 'the client\'s Keep-Alive');
    assert.doesNotMatch(h.connection ?? '', /(^|,)\s*(x-hop-custom|te)\s*(,|$)/i, 'Connection tokens of the client');
  }));

  test('hop-by-hop response headers are not forwarded', kProxyOnly, withDiagnostics(procs, async () => {
    up.handler = (req, res) => {
      const text = '{"ok":true}';
      res.writeHead(200, {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(text),
        Connection: 'keep-alive, X-Resp-Hop',
        'X-Resp-Hop': 'secret',
        'Keep-Alive': 'timeout=5, max=997',
        'Proxy-Connection': 'keep-alive',
        Upgrade: 'example/2',
        'X-End': 'yes',
      });
      res.end(text);
    };
    const c = await RawClient.connect(bw.port);
    try {
      await c.write(formatRequest('GET', '/hop-response', [hostHeader]));
      const res = await c.readResponse({ timeoutMs: 5000 });
      assert.equal(res.status, 200);
      assert.equal(res.text, '{"ok":true}');
      assert.equal(res.header('x-end'), 'yes');
      assert.equal(res.header('x-resp-hop'), undefined, 'header named in Connection');
      assert.equal(res.header('proxy-connection'), undefined);
      assert.equal(res.header('upgrade'), undefined);
      assert.notEqual(res.header('keep-alive'), 'timeout=5, max=997', 'the upstream\'s Keep-Alive');
      assert.doesNotMatch(res.header('connection') ?? '', /x-resp-hop/i);
    } finally {
      c.destroy();
    }
  }));

  test('other paths and methods are forwarded to the upstream origin', kT, withDiagnostics(procs, async () => {
    const meta = JSON.stringify({ resource: `http://${kHost}:${bw.port}/mcp`,
                                  authorization_servers: [`http://${kHost}:1`] });
    up.handler = (req, res, rec) => {
      if (rec.url === '/.well-known/oauth-protected-resource') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(meta) });
        res.end(meta);
      } else if (rec.method === 'OPTIONS') {
        res.writeHead(204, { 'access-control-allow-origin': '*',
                             'access-control-allow-methods': 'GET,POST,DELETE',
                             'access-control-expose-headers': 'mcp-session-id' });
        res.end();
      } else {
        const text = `${rec.method} ${rec.url} ${rec.body.toString('utf8')}`;
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      }
    };
    const base = bw.origin;
    const wk = await request(`${base}/.well-known/oauth-protected-resource`);
    assert.equal(wk.status, 200);
    assert.equal(wk.body, meta);
    assert.equal(up.requests.at(-1).url, '/.well-known/oauth-protected-resource');

    const opt = await request(`${base}/mcp`, { method: 'OPTIONS',
      headers: { origin: 'http://localhost:6274', 'access-control-request-method': 'POST' } });
    assert.equal(opt.status, 204);
    assert.equal(opt.headers['access-control-allow-methods'], 'GET,POST,DELETE');
    assert.equal(up.requests.at(-1).headers.origin, 'http://localhost:6274');

    const put = await request(`${base}/files/a%20b?x=1&y=%2F`, { method: 'PUT', body: 'plain text body',
      headers: { 'content-type': 'text/plain' } });
    assert.equal(put.status, 200);
    assert.equal(put.body, 'PUT /files/a%20b?x=1&y=%2F plain text body');

    const del = await request(`${base}/some/resource`, { method: 'DELETE' });
    assert.equal(del.body, 'DELETE /some/resource ');
  }));

  test('HEAD: headers only, and the connection stays usable', kT, withDiagnostics(procs, async () => {
    up.handler = (req, res, rec) => {
      if (rec.method === 'HEAD') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1234', 'x-head': 'yes' });
        res.end();
      } else {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5' });
        res.end('after');
      }
    };
    const c = await RawClient.connect(bw.port);
    try {
      await c.write(formatRequest('HEAD', '/mcp', [hostHeader]));
      const res = await c.readResponse({ method: 'HEAD', timeoutMs: 5000 });
      assert.equal(res.status, 200);
      assert.equal(res.header('x-head'), 'yes');
      assert.equal(res.header('content-length'), '1234', 'HEAD keeps the upstream Content-Length');
      assert.equal(up.requests.at(-1).method, 'HEAD');
      await c.write(formatRequest('GET', '/after-head', [hostHeader]));
      const next = await c.readResponse({ timeoutMs: 5000 });
      assert.equal(next.status, 200, 'no phantom body was expected after HEAD');
      assert.equal(next.text, 'after');
    } finally {
      c.destroy();
    }
  }));

  test('204 and 202 responses carry no body, and the connection stays usable', kT,
       withDiagnostics(procs, async () => {
    up.handler = (req, res, rec) => {
      if (rec.method === 'DELETE') {
        res.writeHead(204, { 'mcp-session-id': 'gone' });
        res.end();
      } else if (rec.url === '/mcp') {
        res.writeHead(202);
        res.end();
      } else {
        res.writeHead(200, { 'content-length': '2' });
        res.end('ok');
      }
    };
    const c = await RawClient.connect(bw.port);
    try {
      await c.write(formatRequest('DELETE', '/mcp', [hostHeader, ['Mcp-Session-Id', 'gone']]));
      const del = await c.readResponse({ timeoutMs: 5000 });
      assert.equal(del.status, 204);
      assert.equal(del.header('mcp-session-id'), 'gone');
      const note = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' });
      await c.write(formatRequest('POST', '/mcp', mcpHeaders([['Content-Length', Buffer.byteLength(note)]]), note));
      const acc = await c.readResponse({ timeoutMs: 5000 });
      assert.equal(acc.status, 202);
      assert.equal(acc.body.length, 0);
      await c.write(formatRequest('GET', '/after', [hostHeader]));
      const next = await c.readResponse({ timeoutMs: 5000 });
      assert.equal(next.status, 200);
      assert.equal(next.text, 'ok');
    } finally {
      c.destroy();
    }
  }));

  test('SSE reply to a POST is streamed event by event (no buffering)', kT,
       withDiagnostics(procs, async () => {
    const gates = [gate(), gate(), gate()];
    up.handler = async (req, res, rec) => {
      const id = JSON.parse(rec.body.toString('utf8')).id;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      for (let i = 1; i <= 3; i++) {
        res.write(sse(progress(i, 3)));
        await gates[i - 1].wait(); // the next event only once the client has seen this one
      }
      res.end(sse({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: 'done' }] } }));
    };
    const s = openStream(bw.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: rpc(21, 'tools/call', { name: 'slow', arguments: {}, _meta: { progressToken: 'tok' } }),
    });
    try {
      const head = await withTimeout(s.head, 5000, 'response head');
      assert.equal(head.status, 200);
      assert.match(head.headers['content-type'], /^text\/event-stream/);
      for (let i = 1; i <= 3; i++) {
        await s.waitFor(`"progress":${i},`, 5000, `progress event ${i} while the upstream holds the stream`);
        assert.doesNotMatch(s.text(), /"result"/, 'result not there yet');
        gates[i - 1].open();
      }
      await s.waitFor('"result"', 5000, 'the final result');
      const done = await withTimeout(s.done, 5000, 'end of stream');
      assert.equal(done.complete, true);
      const datas = s.text().split('\n').filter((l) => l.startsWith('data:')).map((l) => JSON.parse(l.slice(5)));
      assert.deepEqual(datas.map((d) => d.params?.progress ?? d.id), [1, 2, 3, 21]);
    } finally {
      gates.forEach((g) => g.open());
      s.destroy();
    }
  }));

  test('SSE on a GET stream: streamed incrementally, event ids and Last-Event-ID pass through', kT,
       withDiagnostics(procs, async () => {
    const gates = [gate(), gate()];
    up.handler = async (req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'mcp-session-id': 's-get' });
      res.write(': comment line\n\n');
      res.write(`id: evt-42\nretry: 1500\n${sse({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' })}`);
      await gates[0].wait();
      res.write(`id: evt-43\n${sse({ jsonrpc: '2.0', id: 'srv-1', method: 'ping' })}`);
      await gates[1].wait();
      res.end();
    };
    const s = openStream(bw.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': 's-get',
                                              'last-event-id': 'evt-41' } });
    try {
      const head = await withTimeout(s.head, 5000, 'response head');
      assert.equal(head.status, 200);
      assert.equal(head.headers['mcp-session-id'], 's-get');
      await s.waitFor('list_changed', 5000, 'first event');
      assert.match(s.text(), /id: evt-42\n/);
      assert.match(s.text(), /retry: 1500\n/);
      gates[0].open();
      await s.waitFor('"srv-1"', 5000, 'second event');
      assert.match(s.text(), /id: evt-43\n/);
      gates[1].open();
      assert.equal((await withTimeout(s.done, 5000, 'end of stream')).complete, true);
      assert.equal(up.requests.at(-1).headers['last-event-id'], 'evt-41');
      assert.equal(up.requests.at(-1).method, 'GET');
    } finally {
      gates.forEach((g) => g.open());
      s.destroy();
    }
  }));

  for (const method of ['POST', 'GET']) {
    test(`client disconnect in the middle of an SSE reply (${method}) closes the upstream request`, kT,
         withDiagnostics(procs, async () => {
      let upstreamClosed;
      const closed = new Promise((resolve) => { upstreamClosed = resolve; });
      let endedByUs = false;
      up.handler = async (req, res) => {
        res.on('close', () => upstreamClosed({ finished: res.writableEnded }));
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(sse(progress(1, 10)));
        // Keep the stream open until the proxy closes it (bounded: end it ourselves after 15 s).
        setTimeout(() => {
          if (!res.writableEnded && !res.destroyed) {
            endedByUs = true;
            res.end();
          }
        }, 15000).unref();
      };
      const s = openStream(bw.url, method === 'POST'
        ? { method, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
            body: rpc(31, 'tools/call', { name: 'long', arguments: {}, _meta: { progressToken: 'tok' } }) }
        : { method, headers: { accept: 'text/event-stream' } });
      try {
        await s.waitFor('"progress":1,', 5000, 'first event');
        s.destroy();
        const r = await withTimeout(closed, 5000, 'upstream seeing the request closed after the client left');
        assert.equal(r.finished, false, 'closed by the proxy, not finished by the upstream');
        assert.equal(endedByUs, false);
      } finally {
        s.destroy();
      }
    }));
  }

  test('long-lived GET stream: 32 s with 8 s silent gaps', { timeout: 60000 },
       withDiagnostics(procs, async () => {
    const kTicks = 5;
    const kGapMs = 8000;
    up.handler = async (req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (let i = 0; i < kTicks; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, kGapMs));
        if (res.destroyed) return;
        res.write(sse({ jsonrpc: '2.0', method: 'notifications/message',
                        params: { level: 'info', data: `tick ${i}` } }));
      }
      res.end();
    };
    const s = openStream(bw.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': 'long' } });
    try {
      const t0 = Date.now();
      for (let i = 0; i < kTicks; i++) {
        await s.waitFor(`tick ${i}"`, kGapMs + 5000, `tick ${i}`);
      }
      assert.equal((await withTimeout(s.done, 5000, 'end of stream')).complete, true);
      assert.ok(Date.now() - t0 >= (kTicks - 1) * kGapMs - 500);
    } finally {
      s.destroy();
    }
  }));

  test('pipelined requests on one connection are answered in order', kT, withDiagnostics(procs, async () => {
    up.handler = async (req, res, rec) => {
      if (rec.url === '/pipe/1') await new Promise((r) => setTimeout(r, 300)); // finishes last
      const text = rec.url === '/mcp' ? JSON.stringify({ jsonrpc: '2.0', id: 2, result: {} }) : rec.url;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const body = rpc(2, 'ping');
    const c = await RawClient.connect(bw.port);
    try {
      await c.write(Buffer.concat([
        formatRequest('GET', '/pipe/1', [hostHeader]),
        formatRequest('POST', '/mcp', mcpHeaders([['Content-Length', Buffer.byteLength(body)]]), body),
        formatRequest('GET', '/pipe/3', [hostHeader]),
      ]));
      const r1 = await c.readResponse({ timeoutMs: 5000 });
      const r2 = await c.readResponse({ timeoutMs: 5000 });
      const r3 = await c.readResponse({ timeoutMs: 5000 });
      assert.deepEqual([r1.status, r2.status, r3.status], [200, 200, 200]);
      assert.equal(r1.text, '/pipe/1');
      assert.equal(JSON.parse(r2.text).id, 2);
      assert.equal(r3.text, '/pipe/3');
    } finally {
      c.destroy();
    }
  }));

  test('invalid JSON: 400 with -32700, upstream not contacted', kProxyOnly, withDiagnostics(procs, async () => {
    const bodies = ['{"jsonrpc":"2.0","id":1,"method":', 'not json at all', '{"a":1}}',
                    '{"jsonrpc":"2.0","id":1,"method":"ping"} trailing', '{\'single\':1}', ''];
    for (const body of bodies) {
      const before = up.requests.length;
      const c = await RawClient.connect(bw.port);
      try {
        await c.write(formatRequest('POST', '/mcp', mcpHeaders([['Content-Length', Buffer.byteLength(body)]]), body));
        const res = await c.readResponse({ timeoutMs: 5000 });
        try {
          assertJsonRpcError(res, 400, -32700);
        } catch (e) {
          e.message = `body ${JSON.stringify(body)}: ${e.message}`;
          throw e;
        }
      } finally {
        c.destroy();
      }
      assert.equal(up.requests.length, before, `upstream not contacted for ${JSON.stringify(body)}`);
    }
  }));

  test('valid JSON that is not JSON-RPC: 400 with -32600', kProxyOnly, withDiagnostics(procs, async () => {
    // [body, ids accepted in the answer]: null when no id can be read; where the body carries a
    // readable id, echoing it is as valid as null (JSON-RPC 2.0 section 5).
    const cases = [['{"foo":1}', [null]], ['[]', [null]], ['42', [null]], ['"a string"', [null]],
                   ['{"jsonrpc":"2.0","id":1}', [null, 1]],
                   ['{"jsonrpc":"1.0","id":1,"method":"ping"}', [null, 1]]];
    for (const [body, ids] of cases) {
      const res = await request(bw.url, { method: 'POST', body, timeoutMs: 5000,
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' } });
      try {
        let id = null;
        try {
          id = JSON.parse(res.body)?.id ?? null;
        } catch {
          // assertJsonRpcError reports the unparseable body
        }
        assert.ok(ids.includes(id), `id ${JSON.stringify(id)} not one of ${JSON.stringify(ids)}`);
        assertJsonRpcError(res, 400, -32600, { id });
      } catch (e) {
        e.message = `body ${body}: ${e.message}`;
        throw e;
      }
    }
  }));

  test('body limit: a body of exactly 4 MiB is forwarded byte-exact', kProxyOnly,
       withDiagnostics(procs, async () => {
    const atLimit = rpcOfSize(kLimit, 'big');
    const c = await RawClient.connect(bw.port);
    try {
      await c.write(formatRequest('POST', '/mcp', mcpHeaders([['Content-Length', kLimit]]), atLimit));
      const res = await c.readResponse({ timeoutMs: 10000 });
      assert.equal(res.status, 200, `a body of exactly ${kLimit} bytes: ${res.text.slice(0, 300)}`);
      assert.ok(up.requests.at(-1).body.equals(Buffer.from(atLimit)), 'forwarded byte-exact');
    } finally {
      c.destroy();
    }
  }));

  // The client sends its whole request at once, as clients do; the 413 must reach it (a server
  // that closes with unread input makes the kernel reset the connection and drop the answer).
  for (const framing of ['Content-Length', 'chunked']) {
    test(`body limit: 4 MiB + 1 byte (${framing}) gets 413 with a JSON-RPC error`, kProxyOnly,
         withDiagnostics(procs, async () => {
      const over = rpcOfSize(kLimit + 1, 'too-big');
      const before = up.requests.length;
      const c = await RawClient.connect(bw.port);
      try {
        if (framing === 'chunked') {
          const parts = [];
          for (let at = 0; at < over.length; at += 256 * 1024) parts.push(over.slice(at, at + 256 * 1024));
          await c.write(Buffer.concat([
            formatRequest('POST', '/mcp', mcpHeaders([['Transfer-Encoding', 'chunked']])), chunked(parts)]));
        } else {
          await c.write(formatRequest('POST', '/mcp', mcpHeaders([['Content-Length', kLimit + 1]]), over));
        }
        const res = await c.readResponse({ timeoutMs: 10000 });
        const err = assertJsonRpcError(res, 413, -32600,
                                       { id: res.text.includes('"too-big"') ? 'too-big' : null });
        assert.match(err.error.message, /size|limit|large|bytes|MiB/i, err.error.message);
      } finally {
        c.destroy();
      }
      assert.equal(up.requests.length, before, 'upstream not contacted');
    }));
  }

  test('malformed HTTP: 400 and the connection is closed', kProxyOnly, withDiagnostics(procs, async () => {
    const host = `Host: ${kHost}:${bw.port}\r\n`;
    const cases = [
      ['garbage request line', 'GARBAGE\r\n\r\n', true],
      ['non-numeric Content-Length', `POST /mcp HTTP/1.1\r\n${host}Content-Length: abc\r\n\r\n{}`, true],
      ['negative Content-Length', `POST /mcp HTTP/1.1\r\n${host}Content-Length: -1\r\n\r\n{}`, true],
      ['conflicting Content-Length', `POST /mcp HTTP/1.1\r\n${host}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}`, true],
      ['Content-Length and Transfer-Encoding',
       `POST /mcp HTTP/1.1\r\n${host}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`, true],
      ['header line without a colon', `GET /mcp HTTP/1.1\r\n${host}This is not a header\r\n\r\n`, true],
      ['invalid chunk size', `POST /mcp HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n` +
       'Content-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n', false],
    ];
    for (const [what, bytes, upstreamUntouched] of cases) {
      const before = up.requests.length;
      const c = await RawClient.connect(bw.port);
      try {
        await c.write(Buffer.from(bytes, 'latin1'));
        let res;
        try {
          res = await c.readResponse({ timeoutMs: 5000 });
        } catch (e) {
          assert.fail(`${what}: no HTTP answer (${e.message})`);
        }
        assert.equal(res.status, 400, `${what}: ${res.head}`);
        assert.ok(await c.waitClosed(3000), `${what}: connection closed after the 400`);
      } finally {
        c.destroy();
      }
      if (upstreamUntouched) assert.equal(up.requests.length, before, `${what}: upstream not contacted`);
    }
    // Still serving.
    assert.equal((await request(`${bw.origin}/still-alive`, { timeoutMs: 5000 })).status, 200);
  }));

  test('JSON-RPC batches, responses and notifications POSTed by the client are forwarded', kT,
       withDiagnostics(procs, async () => {
    const batchReply = '[{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":2,"result":{"tools":[]}}]';
    const batch = `[${rpc(1, 'ping')},${rpc(2, 'tools/list')}]`;
    up.handler = (req, res, rec) => {
      if (rec.body.toString('utf8') === batch) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(batchReply) });
        res.end(batchReply);
      } else {
        res.writeHead(202);
        res.end();
      }
    };
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const b = await request(bw.url, { method: 'POST', headers, body: batch });
    assert.equal(b.status, 200, b.body);
    assert.equal(b.body, batchReply);
    assert.equal(up.requests.at(-1).body.toString('utf8'), batch);
    const bodies = [
      '{"jsonrpc":"2.0","id":"srv-7","result":{"action":"accept","content":{}}}', // answer to a server request
      '{"jsonrpc":"2.0","id":"srv-8","error":{"code":-1,"message":"User rejected sampling request"}}',
      '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5}}',
      `[${'{"jsonrpc":"2.0","method":"notifications/initialized"}'}]`,
    ];
    for (const body of bodies) {
      const r = await request(bw.url, { method: 'POST', headers, body });
      assert.equal(r.status, 202, `${body}: ${r.status} ${r.body}`);
      assert.equal(up.requests.at(-1).body.toString('utf8'), body);
    }
  }));

  test('a pooled connection the upstream closed while idle is not reused', kProxyOnly,
       withDiagnostics(procs, async () => {
    const saved = up.server.keepAliveTimeout;
    up.server.keepAliveTimeout = 300; // the upstream drops idle connections after 0.3 s
    try {
      const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
      const first = await request(bw.url, { method: 'POST', headers, body: rpc(1, 'tools/list') });
      assert.equal(first.status, 200);
      const sock = up.requests.at(-1).socket;
      // Wait (bounded) until the upstream has closed that connection; Bulwark has seen the FIN.
      if (!sock.destroyed) {
        await withTimeout(new Promise((resolve) => sock.once('close', resolve)), 5000, 'upstream idle close');
      }
      const second = await request(bw.url, { method: 'POST', headers, body: rpc(2, 'tools/list'), timeoutMs: 5000 });
      assert.equal(second.status, 200, `after the upstream closed the idle connection: ${second.body}`);
      assert.equal(JSON.parse(second.body).id, 2);
    } finally {
      up.server.keepAliveTimeout = saved;
    }
  }));

  test('a request lost on a reused connection before any response byte goes again on a fresh one',
       kProxyOnly, withDiagnostics(procs, async () => {
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const warm = await request(bw.url, { method: 'POST', headers, body: rpc(1, 'tools/list') });
    assert.equal(warm.status, 200);
    let dropped = 0;
    up.handler = (req, res, rec) => {
      // The race the design notes describe: the upstream closed a kept-alive connection just as
      // the request went out on it. Simulated once: drop it without a response byte.
      if (rec.reused && dropped === 0) {
        dropped++;
        req.socket.destroy();
        return;
      }
      const text = JSON.stringify({ jsonrpc: '2.0', id: 2, result: { tools: [] } });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const before = up.requests.length;
    const r = await request(bw.url, { method: 'POST', headers, body: rpc(2, 'tools/list'), timeoutMs: 10000 });
    assert.equal(dropped, 1, 'the reused connection was dropped once (else the test proves nothing)');
    assert.equal(r.status, 200, `client got ${r.status} ${r.body}`);
    assert.equal(JSON.parse(r.body).id, 2);
    const tries = up.requests.slice(before);
    assert.equal(tries.length, 2, 'sent twice');
    assert.equal(tries[1].reused, false, 'the second try used a fresh connection');
  }));

  test('admin: /healthz, /readyz and /metrics', kProxyOnly, withDiagnostics(procs, async () => {
    await request(bw.url, { method: 'POST', body: rpc(1, 'tools/call', { name: 'echo', arguments: {} }),
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' } });
    assert.equal((await request(`${bw.admin}/healthz`)).status, 200);
    assert.equal((await request(`${bw.admin}/readyz`)).status, 200, 'upstream reachable');
    const m = await request(`${bw.admin}/metrics`);
    assert.equal(m.status, 200);
    assert.match(m.headers['content-type'], /^text\/plain/);
    const parsed = parseMetrics(m.body);
    assert.equal(parsed.types.bulwark_requests_total, 'counter');
    assert.equal(parsed.types.bulwark_request_duration_seconds, 'histogram');
    const calls = parsed.samples.filter((s) => s.name === 'bulwark_requests_total' && s.labels.method === 'tools/call');
    assert.ok(calls.length > 0 && calls.every((s) => 'tool' in s.labels && 'outcome' in s.labels),
              'bulwark_requests_total{method="tools/call",tool,outcome}');
    assert.notEqual((await request(`${bw.admin}/no-such-admin-path`)).status, 200);
  }));

  test('still alive and healthy after everything above', kProxyOnly, withDiagnostics(procs, async () => {
    assert.ok(bw.proc.running, 'bulwark is running');
    assert.equal((await request(`${bw.admin}/healthz`)).status, 200);
    assert.equal((await request(`${bw.origin}/final`)).status, 200);
  }));
});

describe('upstream unreachable', () => {
  let bw;
  let deadPort;
  let revived;
  const procs = () => [bw];

  before(async () => {
    deadPort = await freePort(); // nothing listens here
    bw = await startBulwark(`http://${kHost}:${deadPort}/mcp`, { name: 'bulwark-dead-upstream' });
  });
  after(async () => {
    try {
      await bw?.stop();
    } finally {
      if (revived) await new Promise((r) => revived.close(r));
    }
  });

  test('502 with a JSON-RPC error that echoes the id and names the cause', { ...kProxyOnly, timeout: 60000 },
       withDiagnostics(procs, async () => {
    for (const id of [42, 'req-abc']) {
      const t0 = Date.now();
      const res = await request(bw.url, { method: 'POST', timeoutMs: 15000,
        body: rpc(id, 'tools/call', { name: 'echo', arguments: { message: 'x' } }),
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' } });
      const err = assertJsonRpcError(res, 502, undefined, { id });
      assert.match(err.error.message, /connect|refused/i,
                   `error.message should name the cause; got error ${JSON.stringify(err.error)}`);
      assert.equal(err.error.data?.class, 'upstream', `error.data: ${JSON.stringify(err.error.data)}`);
      assert.ok(Date.now() - t0 < 15000);
    }
    const get = await request(`${bw.origin}/.well-known/oauth-protected-resource`, { timeoutMs: 15000 });
    assert.equal(get.status, 502, 'a GET on another path also gets 502');
  }));

  test('/readyz is 503 while the upstream refuses connections, 200 once it listens', { ...kProxyOnly, timeout: 60000 },
       withDiagnostics(procs, async () => {
    assert.equal((await request(`${bw.admin}/healthz`)).status, 200, 'the loop is alive');
    assert.equal((await request(`${bw.admin}/readyz`)).status, 503);
    revived = http.createServer((req, res) => res.end('{}'));
    await new Promise((resolve, reject) => {
      revived.once('error', reject);
      revived.listen(deadPort, kHost, resolve);
    });
    await waitForHttp(`${bw.admin}/readyz`, { status: 200, timeoutMs: 20000, proc: bw.proc });
  }));
});
