// Abusive clients and security (issue 8): request smuggling vectors on raw sockets, each limit of
// `limits:` (answer, metric, log line, other clients unaffected), the Host/Origin allowlists
// (DNS-rebinding protection), no credential in logs or metrics, and cache isolation between
// callers under concurrency. A counting upstream proves that nothing refused ever reaches it.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test tests/integration/hardening.test.mjs
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { kDirect, startBulwark } from './lib/peers.mjs';
import { RawClient, chunked, formatRequest } from './lib/rawhttp.mjs';
import { startRawUpstream } from './lib/raw_upstream.mjs';
import { openStream, request } from './lib/net.mjs';
import { sumSamples } from './lib/metrics.mjs';
import { jsonLogLines, kMcpHeaders, pollUntil, scoped, tempDir, writeConfig, writeConfigAtomic }
  from './lib/faulty.mjs';

const kSecret = 'SECRET-TOKEN-hardening-7f3a9c';
// A valid JSON-RPC request: accepted framing gets it to the upstream (an invalid body would get
// Bulwark's own 400 and hide whether the framing was accepted).
const kPing = '{"jsonrpc":"2.0","id":1,"method":"ping"}';
const kPingLength = String(kPing.length);
const kSecretHeaders = [['Authorization', `Bearer ${kSecret}`], ['Cookie', `session=${kSecret}`]];

// One counting upstream for the whole file (tests count from `up.requests.length` at their
// start and restore its handler with `up.reset()`).
let dir;
let up;
let configCount = 0;
before(async () => {
  dir = await tempDir('bulwark-hardening-');
  up = await startRawUpstream();
});
after(async () => {
  await up?.close();
  await dir?.remove();
});

// Bulwark in front of `upstreamUrl` with `extra` top-level config sections (limits, security,
// tools, ...). It does not list the upstream's tools at start: the tests count what reaches the
// shared upstream exactly, and that listing (retried while a test's handler fails it) would land
// in their counts.
async function bulwarkWith(track, upstreamUrl, extra = {}, name = 'bulwark-hardening') {
  const file = await writeConfig(dir.file(`config-${++configCount}.yaml`),
                                 { upstream: { url: upstreamUrl, discovery: { at_start: false } }, ...extra });
  return track(await startBulwark(upstreamUrl, { config: file, name }));
}

// A JSON-RPC error body that Bulwark wrote itself.
function bulwarkError(res) {
  const body = JSON.parse(res.text ?? res.body);
  assert.equal(body.jsonrpc, '2.0');
  assert.equal(typeof body.error?.code, 'number', JSON.stringify(body));
  assert.equal(body.error.data?.source, 'bulwark', JSON.stringify(body));
  return body.error;
}

// Sends `bytes` on a fresh connection; returns the response and, when it announced a close,
// whether Bulwark then closed (else `closed` is false without waiting).
async function sendRaw(port, bytes, { closeAfterWrite = false } = {}) {
  const c = await RawClient.connect(port);
  try {
    await c.write(bytes);
    if (closeAfterWrite) c.socket.end();
    const res = await c.readResponse({ timeoutMs: 10000 });
    res.closed = res.header('connection') === 'close' ? await c.waitClosed(5000) : false;
    return res;
  } finally {
    c.destroy();
  }
}

const limitCount = async (bw, limit) =>
  sumSamples(await bw.metrics(), 'bulwark_limit_rejections_total', { limit });

const limitLogLines = (bw, limit) => jsonLogLines(bw.logs()).filter((l) => l.limit === limit);

describe('request smuggling', { skip: kDirect ? 'proxy-only behaviour' : false, timeout: 60000 }, () => {
  let bw;
  before(async () => {
    const file = await writeConfig(dir.file('smuggling.yaml'),
                                   { upstream: { url: up.url, discovery: { at_start: false } } });
    bw = await startBulwark(up.url, { config: file, name: 'bulwark-smuggling' });
  });
  after(async () => {
    await bw?.stop();
  });

  // Every vector is refused with 400 and a close, and nothing of it reaches the upstream: a
  // sentinel request sent after it on a fresh connection is the only thing the upstream sees.
  const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: victim\r\n\r\n';
  const post = (lines, body = '') => Buffer.from(
    `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${lines}\r\n${body}`,
    'latin1');
  const vectors = [
    ['Content-Length with Transfer-Encoding',
     post(`Content-Length: ${5 + smuggled.length}\r\nTransfer-Encoding: chunked\r\n`, `0\r\n\r\n${smuggled}`)],
    ['Transfer-Encoding with Content-Length',
     post(`Transfer-Encoding: chunked\r\nContent-Length: 4\r\n`, `0\r\n\r\n${smuggled}`)],
    ['two Content-Length fields that differ', post(`Content-Length: ${kPing.length}\r\nContent-Length: ${kPing.length + smuggled.length}\r\n`, `${kPing}${smuggled}`)],
    ['two equal Content-Length fields', post(`Content-Length: ${kPing.length}\r\nContent-Length: ${kPing.length}\r\n`, kPing)],
    ['a Content-Length list', post(`Content-Length: ${kPing.length}, ${kPing.length + smuggled.length}\r\n`, `${kPing}${smuggled}`)],
    ['a signed Content-Length', post(`Content-Length: +${kPing.length}\r\n`, kPing)],
    ['a negative Content-Length', post('Content-Length: -1\r\n', kPing)],
    ['a non-numeric Content-Length', post(`Content-Length: ${kPing.length}x\r\n`, kPing)],
    ['Transfer-Encoding not ending in chunked', post('Transfer-Encoding: chunked, identity\r\n', `0\r\n\r\n${smuggled}`)],
    ['Transfer-Encoding gzip alone', post('Transfer-Encoding: gzip\r\n', `${kPing}${smuggled}`)],
    ['Transfer-Encoding xchunked', post('Transfer-Encoding: xchunked\r\n', `0\r\n\r\n${smuggled}`)],
    ['whitespace before the colon of Transfer-Encoding', post('Transfer-Encoding : chunked\r\n', `0\r\n\r\n${smuggled}`)],
    ['obs-fold continuing Transfer-Encoding', post('Transfer-Encoding: identity\r\n chunked\r\n', `0\r\n\r\n${smuggled}`)],
    ['obs-fold in an ordinary field', post(`X-Folded: a\r\n b\r\nContent-Length: ${kPing.length}\r\n`, kPing)],
    ['a bare CR inside a field value', post(`X-Bad: a\rb\r\nContent-Length: ${kPing.length}\r\n`, kPing)],
    ['a bare CR ending a field line', post(`X-Bad: a\rContent-Length: ${kPing.length}\r\n`, kPing)],
    ['a bare LF ending a field line', post(`X-Bad: a\nContent-Length: ${kPing.length}\r\n`, kPing)],
    ['a bare LF ending the request line',
     Buffer.from(`POST /mcp HTTP/1.1\nHost: 127.0.0.1\r\nContent-Length: ${kPing.length}\r\n\r\n${kPing}`, 'latin1')],
    ['a bare LF ending the header section', Buffer.from(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${kPing.length}\r\n\n${kPing}`, 'latin1')],
    ['a NUL in a field value', post(`X-Bad: a\0b\r\nContent-Length: ${kPing.length}\r\n`, kPing)],
    ['a chunk size that is not hex', post('Transfer-Encoding: chunked\r\n', `zz\r\n${kPing}\r\n0\r\n\r\n`)],
    ['a negative chunk size', post('Transfer-Encoding: chunked\r\n', `-${kPing.length.toString(16)}\r\n${kPing}\r\n0\r\n\r\n`)],
    ['a 0x chunk size', post('Transfer-Encoding: chunked\r\n', `0x${kPing.length.toString(16)}\r\n${kPing}\r\n0\r\n\r\n`)],
    ['an overflowing chunk size', post('Transfer-Encoding: chunked\r\n', `1ffffffffffffffff${kPing.length.toString(16)}\r\n${kPing}\r\n0\r\n\r\n`)],
    ['chunk data not followed by CRLF', post('Transfer-Encoding: chunked\r\n', `${kPing.length.toString(16)}\r\n${kPing}XX0\r\n\r\n${smuggled}`)],
    ['a bare LF after the chunk size', post('Transfer-Encoding: chunked\r\n', `${kPing.length.toString(16)}\n${kPing}\r\n0\r\n\r\n`)],
    ['a chunk extension with a bare CR', post('Transfer-Encoding: chunked\r\n', `${kPing.length.toString(16)};a\rb\r\n${kPing}\r\n0\r\n\r\n`)],
    ['a space inside the chunk size', post('Transfer-Encoding: chunked\r\n', `1 ${kPing.length.toString(16)}\r\n${kPing}\r\n0\r\n\r\n`)],
    ['HTTP/1.0 with Transfer-Encoding',
     Buffer.from(`POST /mcp HTTP/1.0\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`, 'latin1')],
  ];

  test('each vector gets 400 with a JSON-RPC error and a close, and never reaches the upstream',
       scoped(async () => {
    const refusedBefore = await limitCount(bw, 'malformed_http');
    const accepted = [];
    for (const [i, [name, bytes]] of vectors.entries()) {
      const seen = up.requests.length;
      const res = await sendRaw(bw.port, bytes);
      const sentinel = `/mcp?sentinel=${i}`;
      const ok = await request(`${bw.origin}${sentinel}`, { method: 'GET' });
      assert.equal(ok.status, 200, `${name}: the sentinel passes`);
      const reached = up.requests.slice(seen).map((r) => r.url);
      if (res.status !== 400 || JSON.parse(res.text).error?.message !== 'Malformed HTTP request') {
        accepted.push(`${name}: ${res.status} ${res.text.slice(0, 160)} (upstream saw ${JSON.stringify(reached)})`);
        continue;
      }
      const error = bulwarkError(res);
      assert.equal(error.code, -32600, name);
      assert.equal(res.header('connection'), 'close', name);
      assert.ok(res.closed, `${name}: Bulwark closed the connection`);
      assert.deepEqual(reached, [sentinel], `${name}: nothing but the sentinel reached the upstream`);
    }
    assert.deepEqual(accepted, [], 'every smuggling vector is refused');
    assert.equal(await limitCount(bw, 'malformed_http') - refusedBefore, vectors.length,
                 'each refusal counted once as malformed_http');
    assert.ok(!up.requests.some((r) => r.url === '/smuggled'), 'no smuggled request ever arrived');
  }));

  test('two Host fields, or a field with an empty name: 400 with a JSON-RPC error, counted as malformed_http',
       scoped(async () => {
    // RFC 9112 3.2 (one Host field) and RFC 9110 5.1 (a field name is a non-empty token).
    const head = (lines) => Buffer.from(
      `POST /mcp HTTP/1.1\r\n${lines}Content-Type: application/json\r\nContent-Length: ${kPingLength}\r\n\r\n${kPing}`,
      'latin1');
    const cases = [
      ['two Host fields', head('Host: 127.0.0.1\r\nHost: victim.example.com\r\n'), /more than one Host field/],
      ['two equal Host fields', head('Host: 127.0.0.1\r\nhost: 127.0.0.1\r\n'), /more than one Host field/],
      ['a field with an empty name', head('Host: 127.0.0.1\r\n: smuggled\r\n'), /empty name/],
    ];
    const refusedBefore = await limitCount(bw, 'malformed_http');
    const seen = up.requests.length;
    for (const [name, bytes, detail] of cases) {
      const res = await sendRaw(bw.port, bytes);
      assert.equal(res.status, 400, `${name}: ${res.status} ${res.text?.slice(0, 160)}`);
      const error = bulwarkError(res);
      assert.equal(error.code, -32600, name);
      assert.equal(error.message, 'Malformed HTTP request', name);
      assert.match(error.data.detail, detail, name);
      assert.equal(res.header('connection'), 'close', name);
      assert.ok(res.closed, `${name}: Bulwark closed the connection`);
    }
    assert.equal(up.requests.length, seen, 'none of them reached the upstream');
    assert.equal(await limitCount(bw, 'malformed_http') - refusedBefore, cases.length,
                 'each refusal counted once as malformed_http');
  }));

  test('a well-formed chunked request with a chunk extension still passes', scoped(async () => {
    const seen = up.requests.length;
    const c = await RawClient.connect(bw.port);
    try {
      await c.write(Buffer.concat([post('Transfer-Encoding: chunked\r\n'),
                                   Buffer.from(`${kPing.length.toString(16)};ext=1\r\n${kPing}\r\n0\r\n\r\n`)]));
      const res = await c.readResponse();
      assert.equal(res.status, 200);
    } finally {
      c.destroy();
    }
    assert.equal(up.requests.length, seen + 1);
    assert.equal(up.requests.at(-1).body.toString(), kPing);
  }));
});

describe('limits', { skip: kDirect ? 'proxy-only behaviour' : false, timeout: 60000 }, () => {

  test('header bytes, header count and body size: 431/413 with a JSON-RPC error, a metric and a log line',
       scoped(async (t, track) => {
    const bw = await bulwarkWith(track, up.url, {
      limits: { max_header_bytes: '2KiB', max_headers: 20, max_body_bytes: '4KiB' },
    });
    const seen = up.requests.length;
    const host = ['Host', `127.0.0.1:${bw.port}`];
    const big = await sendRaw(bw.port, formatRequest('POST', '/mcp', [host, ...kSecretHeaders, ['X-Big', 'b'.repeat(3000)],
                                                                     ['Content-Length', kPingLength]], kPing));
    assert.equal(big.status, 431);
    assert.match(bulwarkError(big).data.detail, /larger than 2048 bytes/);
    const many = Array.from({ length: 20 }, (_, i) => [`X-F${i}`, 'v']);
    const count = await sendRaw(bw.port, formatRequest('GET', '/mcp', [host, ...many]));
    assert.equal(count.status, 431);
    assert.match(bulwarkError(count).data.detail, /21 header fields; the limit is 20/);
    const body = '{"pad":"' + 'x'.repeat(5000) + '"}';
    const declared = await sendRaw(bw.port, formatRequest('POST', '/mcp', [host, ...kSecretHeaders,
                                                                           ['Content-Length', String(body.length)]], body));
    assert.equal(declared.status, 413);
    const streamed = await sendRaw(bw.port, formatRequest('POST', '/mcp', [host, ['Transfer-Encoding', 'chunked']],
                                                          chunked([body.slice(0, 3000), body.slice(3000)])));
    assert.equal(streamed.status, 413, 'a chunked body is counted as it arrives');
    for (const res of [big, count, declared, streamed]) {
      assert.equal(res.header('connection'), 'close');
      assert.ok(res.closed);
    }
    // Within the limits, the same client is served.
    const fine = await request(`${bw.url}`, { method: 'POST', headers: kMcpHeaders, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
    assert.equal(fine.status, 200);
    assert.equal(up.requests.length, seen + 1, 'only the request within the limits reached the upstream');
    assert.equal(await limitCount(bw, 'header_bytes'), 1);
    assert.equal(await limitCount(bw, 'headers'), 1);
    assert.equal(await limitCount(bw, 'body_bytes'), 2);
    await pollUntil(() => limitLogLines(bw, 'body_bytes').length === 2, { what: 'two body_bytes log lines' });
    for (const [limit, status] of [['header_bytes', 431], ['headers', 431], ['body_bytes', 413]]) {
      for (const line of limitLogLines(bw, limit)) {
        assert.equal(line.status, status);
        assert.equal(line.level, 'warn');
        assert.match(line.peer, /^127\.0\.0\.1:\d+$/);
      }
    }
  }));

  test('slowloris: a head or body that trickles gets 408 while other clients are served',
       scoped(async (t, track) => {
    const bw = await bulwarkWith(track, up.url, {
      limits: { header_timeout: '600ms', body_timeout: '600ms', idle_timeout: '30s' },
    });
    const seen = up.requests.length;
    const started = Date.now();  // before the accept, where the first head's clock starts
    const slowHead = await RawClient.connect(bw.port);
    const slowBody = await RawClient.connect(bw.port);
    const silent = await RawClient.connect(bw.port);
    try {
      await slowBody.write(formatRequest('POST', '/mcp', [['Host', '127.0.0.1'], ['Content-Length', '100']], '{"a":'));
      // One header byte every 100 ms: never complete within the header timeout.
      const line = `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${'s'.repeat(40)}`;
      let served = 0;
      for (let i = 0; i < line.length && !slowHead.ended && Date.now() - started < 5000; i++) {
        await slowHead.write(line[i]);
        // Other clients meanwhile: answered at once.
        if (i % 2 === 0) {
          const res = await request(bw.url, { method: 'POST', headers: kMcpHeaders, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
          assert.equal(res.status, 200);
          served++;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      const head = await slowHead.readResponse();
      assert.equal(head.status, 408);
      assert.match(bulwarkError(head).data.detail, /request head did not arrive within 600 ms/);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 550 && elapsed < 3000, `408 after ${elapsed} ms`);
      const body = await slowBody.readResponse();
      assert.equal(body.status, 408);
      assert.match(bulwarkError(body).data.detail, /request body did not arrive within 600 ms/);
      // A connection that never sends a byte is refused the same way.
      const quiet = await silent.readResponse();
      assert.equal(quiet.status, 408);
      for (const c of [slowHead, slowBody, silent]) assert.ok(await c.waitClosed());
      assert.ok(served >= 2, `other clients were served meanwhile (${served})`);
      assert.equal(up.requests.length, seen + served, 'the trickling requests never reached the upstream');
    } finally {
      for (const c of [slowHead, slowBody, silent]) c.destroy();
    }
    assert.equal(await limitCount(bw, 'header_timeout'), 2);
    assert.equal(await limitCount(bw, 'body_timeout'), 1);
    await pollUntil(() => limitLogLines(bw, 'header_timeout').length === 2, { what: 'header_timeout log lines' });
  }));

  test('an idle keep-alive connection closes; an SSE stream that outlives the idle timeout does not',
       scoped(async (t, track) => {
    const bw = await bulwarkWith(track, up.url, { limits: { idle_timeout: '700ms' } });
    up.handler = (req, res, rec) => {
      if (rec.method !== 'GET') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"jsonrpc":"2.0","id":1,"result":{}}');
        return;
      }
      // An SSE stream of 8 events, 250 ms apart (2 s in all), then its end.
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let n = 0;
      const timer = setInterval(() => {
        res.write(`data: {"jsonrpc":"2.0","method":"notifications/message","params":{"n":${++n}}}\n\n`);
        if (n === 8) {
          clearInterval(timer);
          res.end();
        }
      }, 250);
      res.on('close', () => clearInterval(timer));
    };
    try {
      const idle = await RawClient.connect(bw.port);
      const stream = openStream(bw.url, { headers: { accept: 'text/event-stream' } });
      try {
        await idle.write(formatRequest('POST', '/mcp', [['Host', '127.0.0.1'], ['Content-Length', kPingLength]], kPing));
        assert.equal((await idle.readResponse()).status, 200);
        const started = Date.now();
        assert.ok(await idle.waitClosed(5000), 'the idle connection was closed');
        const after = Date.now() - started;
        assert.ok(after >= 500, `closed after ${after} ms of idleness`);
        assert.equal(idle.buf.length, 0, 'closed without an unsolicited answer');
        assert.equal((await stream.head).status, 200);
        const done = await stream.done;
        assert.ok(done.complete, 'the stream ran to its end');
        assert.equal((stream.text().match(/^data: /gm) ?? []).length, 8, 'every event arrived');
      } finally {
        idle.destroy();
        stream.destroy?.();
      }
    } finally {
      up.reset();
    }
    await pollUntil(async () => (await limitCount(bw, 'idle_timeout')) >= 1, { what: 'idle_timeout counted' });
    const lines = limitLogLines(bw, 'idle_timeout');
    assert.ok(lines.length >= 1);
    assert.ok(!('status' in lines[0]), `a connection closed without an answer has no status: ${JSON.stringify(lines[0])}`);
  }));

  test('max_requests_per_connection: the last answer says Connection: close', scoped(async (t, track) => {
    const bw = await bulwarkWith(track, up.url, { limits: { max_requests_per_connection: 3 } });
    const c = await RawClient.connect(bw.port);
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) {
        await c.write(formatRequest('POST', '/mcp', [['Host', '127.0.0.1'], ['Content-Length', kPingLength]], kPing));
        const res = await c.readResponse();
        statuses.push([res.status, res.header('connection') ?? '']);
      }
      assert.deepEqual(statuses, [[200, ''], [200, ''], [200, 'close']]);
      assert.ok(await c.waitClosed());
    } finally {
      c.destroy();
    }
    assert.equal(await limitCount(bw, 'requests_per_connection'), 1);
  }));

  test('max_connections: beyond it 503 with Retry-After and a close; those in service carry on',
       scoped(async (t, track) => {
    const bw = await bulwarkWith(track, up.url, { limits: { max_connections: 3 } });
    const held = [];
    try {
      for (let i = 0; i < 3; i++) held.push(await RawClient.connect(bw.port));
      // Make sure all three were accepted and are in service before the fourth arrives.
      for (const c of held) {
        await c.write(formatRequest('POST', '/mcp', [['Host', '127.0.0.1'], ['Content-Length', kPingLength]], kPing));
        assert.equal((await c.readResponse()).status, 200);
      }
      const refused = await sendRaw(bw.port, formatRequest('POST', '/mcp', [['Host', '127.0.0.1'], ['Content-Length', kPingLength]], kPing));
      assert.equal(refused.status, 503);
      assert.equal(refused.header('retry-after'), '1');
      assert.equal(bulwarkError(refused).data.class, 'overload');
      assert.ok(refused.closed);
      for (const c of held) {
        await c.write(formatRequest('POST', '/mcp', [['Host', '127.0.0.1'], ['Content-Length', kPingLength]], kPing));
        assert.equal((await c.readResponse()).status, 200, 'a held connection is still served');
      }
      const m = await bw.metrics();
      assert.equal(sumSamples(m, 'bulwark_client_connections'), 3);
      assert.equal(sumSamples(m, 'bulwark_limit_rejections_total', { limit: 'connections' }), 1);
    } finally {
      for (const c of held) c.destroy();
    }
    // Once one leaves, a new client is served again.
    await pollUntil(async () => (await request(bw.url, { method: 'POST', headers: kMcpHeaders, body: kPing })).status === 200,
                    { what: 'a new connection served after the others left' });
  }));

  test('max_streams_per_session: a third GET stream of one session gets 429; other sessions are not affected',
       scoped(async (t, track) => {
    const bw = await bulwarkWith(track, up.url, { limits: { max_streams_per_session: 2 } });
    const releases = [];
    up.handler = (req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': open\n\n');
      releases.push(() => res.end());
    };
    const streams = [];
    try {
      const open = (session) => {
        const s = openStream(bw.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': session } });
        streams.push(s);
        return s;
      };
      const a1 = open('session-a');
      const a2 = open('session-a');
      for (const s of [a1, a2]) {
        assert.equal((await s.head).status, 200);
        await s.waitFor(': open', 5000);
      }
      const a3 = open('session-a');
      const third = await a3.head;
      assert.equal(third.status, 429);
      await a3.done;
      assert.equal(JSON.parse(a3.text()).error.data.class, 'overload');
      const b1 = open('session-b');
      assert.equal((await b1.head).status, 200, 'another session is not affected');
      // One of session a's streams ends: a new one is admitted.
      a1.destroy?.() ?? a1.req.destroy();
      await pollUntil(async () => {
        const s = open('session-a');
        const head = await s.head;
        if (head.status !== 200) await s.done;
        return head.status === 200;
      }, { timeoutMs: 5000, intervalMs: 100, what: 'a stream admitted after one closed' });
    } finally {
      for (const s of streams) s.destroy?.() ?? s.req.destroy();
      for (const release of releases) release();
      up.reset();
    }
    assert.ok(await limitCount(bw, 'streams_per_session') >= 1);
  }));
});

describe('Host and Origin allowlists (DNS-rebinding protection)', { skip: kDirect ? 'proxy-only behaviour' : false, timeout: 60000 }, () => {

  const ping = '{"jsonrpc":"2.0","id":"p","method":"ping"}';
  const post = (bw, headers) => sendRaw(bw.port, formatRequest('POST', '/mcp', [
    ['Content-Type', 'application/json'], ['Content-Length', String(ping.length)], ...headers], ping));

  test('on a loopback listener, by default: loopback Host and Origin only', scoped(async (t, track) => {
    const bw = await bulwarkWith(track, up.url);
    const host = ['Host', `127.0.0.1:${bw.port}`];
    const seen = up.requests.length;
    const evilOrigin = await post(bw, [host, ['Origin', 'http://evil.example.com'], ...kSecretHeaders]);
    assert.equal(evilOrigin.status, 403);
    const e = bulwarkError(evilOrigin);
    assert.equal(e.data.class, 'permission');
    assert.match(e.data.detail, /allowed_origins/);
    assert.equal(evilOrigin.closed, false, 'a refused origin does not cost the connection');
    const rebound = await post(bw, [['Host', `evil.example.com:${bw.port}`], ['Origin', `http://evil.example.com:${bw.port}`]]);
    assert.equal(rebound.status, 403, 'the rebinding pattern (foreign Host and Origin)');
    const hostOnly = await post(bw, [['Host', 'evil.example.com']]);
    assert.equal(hostOnly.status, 403, 'a foreign Host without Origin (a same-origin GET after rebinding)');
    assert.match(bulwarkError(hostOnly).data.detail, /allowed_hosts/);
    const nullOrigin = await post(bw, [host, ['Origin', 'null']]);
    assert.equal(nullOrigin.status, 403, 'Origin: null (sandboxed or file: pages)');
    assert.equal(up.requests.length, seen, 'no refused request reached the upstream');
    for (const origin of [undefined, 'http://localhost:6274', `http://127.0.0.1:${bw.port}`, 'http://[::1]:3000']) {
      const res = await post(bw, [host, ...(origin ? [['Origin', origin]] : [])]);
      assert.equal(res.status, 200, `Origin ${origin}`);
    }
    assert.equal((await post(bw, [['Host', `localhost:${bw.port}`]])).status, 200);
    assert.equal(up.requests.length, seen + 5);
    assert.equal(await limitCount(bw, 'origin'), 2);
    assert.equal(await limitCount(bw, 'host'), 2);
  }));

  test('a configured allowlist replaces the default; "*" turns the check off', scoped(async (t, track) => {
    const bw = await bulwarkWith(track, up.url, {
      security: { allowed_origins: ['https://app.example.com'], allowed_hosts: ['127.0.0.1:*', 'mcp.example.com'] },
    });
    const host = ['Host', `127.0.0.1:${bw.port}`];
    assert.equal((await post(bw, [host, ['Origin', 'https://app.example.com']])).status, 200);
    assert.equal((await post(bw, [host, ['Origin', 'http://localhost:6274']])).status, 403);
    assert.equal((await post(bw, [host])).status, 200, 'no Origin: not a browser');
    assert.equal((await post(bw, [['Host', 'mcp.example.com']])).status, 200);
    assert.equal((await post(bw, [['Host', 'localhost']])).status, 403);
    const open = await bulwarkWith(track, up.url, { security: { allowed_origins: ['*'], allowed_hosts: ['*'] } });
    assert.equal((await post(open, [['Host', 'evil.example.com'], ['Origin', 'http://evil.example.com']])).status, 200);
  }));
});

describe('reload', { skip: kDirect ? 'proxy-only behaviour' : false, timeout: 60000 }, () => {
  test('SIGHUP puts new limits and allowlists in force for the next requests', scoped(async (t, track) => {
    const file = dir.file('reload.yaml');
    await writeConfig(file, { upstream: { url: up.url }, security: { allowed_origins: ['https://a.example.com'] } });
    const bw = track(await startBulwark(up.url, { config: file, name: 'bulwark-hardening-reload' }));
    const call = (origin, body = kPing) => request(bw.url, {
      method: 'POST', headers: { ...kMcpHeaders, origin }, body });
    assert.equal((await call('https://a.example.com')).status, 200);
    assert.equal((await call('https://b.example.com')).status, 403);
    assert.equal((await call('https://b.example.com', `{"pad":"${'x'.repeat(3000)}"}`)).status, 403);
    await writeConfigAtomic(file, { upstream: { url: up.url }, security: { allowed_origins: ['https://b.example.com'] },
                                    limits: { max_body_bytes: '2KiB' } });
    process.kill(bw.proc.pid, 'SIGHUP');
    await pollUntil(async () => sumSamples(await bw.metrics(), 'bulwark_config_reloads_total', { result: 'success' }) >= 1,
                    { what: 'the reload' });
    assert.equal((await call('https://a.example.com')).status, 403);
    assert.equal((await call('https://b.example.com')).status, 200);
    assert.equal((await call('https://b.example.com', `{"pad":"${'x'.repeat(3000)}"}`)).status, 413);
  }));
});

describe('secrets', { skip: kDirect ? 'proxy-only behaviour' : false, timeout: 60000 }, () => {

  test('a credential on refused and failing requests reaches neither the log nor /metrics',
       scoped(async (t, track) => {
    const bw = await bulwarkWith(track, up.url, {
      limits: { max_header_bytes: '2KiB', max_body_bytes: '4KiB', header_timeout: '500ms' },
      monitoring: { access_log: true },
    }, 'bulwark-secrets');
    const host = ['Host', `127.0.0.1:${bw.port}`];
    const withSecret = [host, ...kSecretHeaders];
    const statuses = [];
    // Refused by a limit or the allowlists, malformed, timed out, and failed upstream.
    statuses.push((await sendRaw(bw.port, formatRequest('POST', `/mcp?token=${kSecret}`, [...withSecret, ['Origin', 'http://evil.example.com'], ['Content-Length', kPingLength]], kPing))).status);
    statuses.push((await sendRaw(bw.port, formatRequest('POST', '/mcp', [...withSecret, ['X-Big', 'b'.repeat(3000)]]))).status);
    statuses.push((await sendRaw(bw.port, formatRequest('POST', '/mcp', [...withSecret, ['Content-Length', '9000']], 'x'.repeat(9000)))).status);
    statuses.push((await sendRaw(bw.port, Buffer.from(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${kSecret}\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`, 'latin1'))).status);
    statuses.push((await sendRaw(bw.port, Buffer.from(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${kSecret}\r\n`, 'latin1'))).status);
    up.handler = (req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('down');
    };
    try {
      const failed = await request(bw.url, { method: 'POST', headers: { ...kMcpHeaders, authorization: `Bearer ${kSecret}`, cookie: `session=${kSecret}` },
                                             body: '{"jsonrpc":"2.0","id":"s1","method":"tools/list"}' });
      statuses.push(failed.status);
    } finally {
      up.reset();
    }
    assert.deepEqual(statuses, [403, 431, 413, 400, 408, 503]);
    await pollUntil(() => limitLogLines(bw, 'header_timeout').length === 1, { what: 'the header_timeout log line' });
    const logs = bw.logs();
    assert.ok(jsonLogLines(logs).length >= 6, 'the failures were logged');
    assert.ok(!logs.includes(kSecret), 'the credential never reaches the log');
    assert.ok(!(await bw.metricsText()).includes(kSecret), 'nor /metrics');
    assert.ok(up.requests.some((r) => r.headers.authorization === `Bearer ${kSecret}`),
              'the upstream did receive it: forwarded, never logged');
  }));

  test('a 3 MB tool name is cut in the log, and a session id never appears in it in clear',
       scoped(async (t, track) => {
    const bw = await bulwarkWith(track, up.url, { monitoring: { access_log: true } }, 'bulwark-log-hygiene');
    const session = 'sess-hardening-4b1f8e2a9c7d6053';
    const tool = `tool-${'n'.repeat(3 * 1024 * 1024)}`;
    const call = (id) => request(bw.url, {
      method: 'POST', headers: { ...kMcpHeaders, 'mcp-session-id': session }, timeoutMs: 30000,
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: tool, arguments: {} } }),
    });
    const answered = await call('big-1');
    up.handler = (req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('down');
    };
    let failed;
    try {
      failed = await call('big-2');
    } finally {
      up.reset();
    }
    assert.equal(answered.status, 200);
    assert.notEqual(failed.status, 200);
    await pollUntil(() => jsonLogLines(bw.logs()).filter((l) => l.tool?.startsWith('tool-nnn')).length >= 3,
                    { what: 'two access lines and one error line naming the tool' });
    const logs = bw.logs();
    assert.ok(!logs.includes(tool), 'the tool name is never copied whole into the log');
    assert.ok(logs.length < 256 * 1024, `the log stays small (${logs.length} bytes)`);
    const lines = jsonLogLines(logs).filter((l) => l.tool?.startsWith('tool-nnn'));
    for (const line of lines) {
      assert.match(line.tool, /\.\.\.\[cut, 3145733 bytes\]$/, 'a cut field says so, with its full size');
    }
    assert.ok(!logs.includes(session), 'the Mcp-Session-Id never reaches the log in clear');
    const hashes = new Set(lines.map((l) => l.session));
    assert.equal(hashes.size, 1, `one session, one stable hash: ${[...hashes]}`);
    assert.match([...hashes][0], /^[0-9a-f]{12}$/);
  }));
});

describe('cache isolation under concurrency', { skip: kDirect ? 'proxy-only behaviour' : false, timeout: 60000 }, () => {

  test('many callers at once on a cached tool: each only ever sees its own answer', scoped(async (t, track) => {
    const bw = await bulwarkWith(track, up.url, { tools: [{ match: 'whoami', cache: { ttl: '60s' } }] });
    const upstreamCalls = new Map();
    // The answer names the caller; a short, varying delay keeps many misses in flight at once.
    up.handler = (req, res, rec) => {
      const msg = JSON.parse(rec.body.toString());
      const caller = req.headers.authorization ?? '(none)';
      upstreamCalls.set(caller, (upstreamCalls.get(caller) ?? 0) + 1);
      const text = JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: `answer for ${caller}` }] } });
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(text);
      }, 5 + (upstreamCalls.size % 7) * 3);
    };
    const kCallers = 24;
    const kRounds = 5;
    const mismatches = [];
    let calls = 0;
    try {
      for (let round = 0; round < kRounds; round++) {
        // Every caller twice per round, all at once, in a shuffled order.
        const jobs = [];
        for (let c = 0; c < kCallers; c++) jobs.push(c, c);
        jobs.sort(() => Math.random() - 0.5);
        await Promise.all(jobs.map(async (c, i) => {
          const caller = `Bearer caller-${c}`;
          const id = `r${round}-${i}`;
          const res = await request(bw.url, {
            method: 'POST', headers: { ...kMcpHeaders, authorization: caller },
            body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'whoami', arguments: {} } }),
          });
          calls++;
          const body = JSON.parse(res.body);
          const text = body.result?.content?.[0]?.text;
          if (res.status !== 200 || body.id !== id || text !== `answer for ${caller}`) {
            mismatches.push(`${caller} ${id}: ${res.status} ${res.body.slice(0, 200)}`);
          }
        }));
      }
    } finally {
      up.reset();
    }
    assert.equal(calls, kCallers * 2 * kRounds);
    assert.deepEqual(mismatches, [], 'no caller ever saw another caller\'s answer');
    // The cache did its job per caller: the later rounds were hits.
    for (const [caller, n] of upstreamCalls) assert.ok(n <= 2, `${caller} reached the upstream ${n} times`);
    assert.equal(upstreamCalls.size, kCallers);
    const m = await bw.metrics();
    assert.ok(sumSamples(m, 'bulwark_cache_requests_total', { result: 'hit' }) >= kCallers * 2 * (kRounds - 1));
  }));
});
