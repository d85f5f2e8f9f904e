// Memory stays bounded whatever clients and answers do, and goes back afterwards (issue 17):
// slow readers of large SSE and JSON answers on raw sockets, the send timeout, large answers
// to a fast client, and the global buffer budget (limits.max_buffered_bytes).
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test tests/integration/memory.test.mjs
//
// BULWARK_SLOW_READERS (default 8) readers each ask for a BULWARK_ANSWER_MB (default 8) MB
// answer and read nothing. The upstream is fixtures/large_answer_server.mjs (the SDK's
// stateless transport, JSON or SSE answers). Resident memory is read from /proc/PID/status.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { kBulwarkBin, kDirect, kTestsDir, startBulwark } from './lib/peers.mjs';
import { kHost, request, waitForHttp } from './lib/net.mjs';
import { sumSamples } from './lib/metrics.mjs';
import { ChildProcess, sleep } from './lib/procs.mjs';
import { makeConfig, pollUntil, scoped, tempDir, writeConfig } from './lib/faulty.mjs';
import { largeText } from './fixtures/large_answer_server.mjs';

const kSkip = kDirect ? 'proxy-only behaviour' : false;
const here = path.dirname(fileURLToPath(import.meta.url));
const kServerMain = path.join(here, 'fixtures', 'large_answer_server.mjs');
const kReaders = Number(process.env.BULWARK_SLOW_READERS ?? 8);
const kAnswerBytes = Math.round(Number(process.env.BULWARK_ANSWER_MB ?? 8) * 1000 * 1000);
const MiB = 1024 * 1024;
// What the slow-reader runs configure: well under what the readers' answers add up to
// (kReaders x kAnswerBytes, 64 MB by default), so holding them would show.
const kBudgetBytes = 16 * MiB;
// ASan builds: with no quarantine (below) freed memory is not held back, but shadow memory,
// redzones and the sanitizer allocator's own caches still add to every resident byte.
const kSanitized = !kDirect && fs.existsSync(kBulwarkBin) &&
  fs.readFileSync(kBulwarkBin).includes('__asan_init');
// Resident memory beyond the budget that Bulwark may add under load: code paths touched for the
// first time, kernel-facing buffers, the allocator's slack.
const kOverheadBytes = (kSanitized ? 32 : 16) * MiB;
const kPeakAllowance = kSanitized ? Math.round(1.5 * kBudgetBytes) + kOverheadBytes : kBudgetBytes + kOverheadBytes;
// How close to idle resident memory comes back once the readers are gone.
const kAfterAllowance = (kSanitized ? 24 : 3) * MiB;

function statusKib(pid, field) {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = text.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return m ? Number(m[1]) * 1024 : 0;
}
const mib = (bytes) => (bytes / MiB).toFixed(1);

async function startLargeAnswerServer(track) {
  const proc = new ChildProcess('large-answers', process.execPath, [kServerMain], {
    env: { PORT: '0' }, cwd: kTestsDir,
  });
  track({ stop: () => proc.stop(), describe: () => proc.describe() });
  const m = await proc.waitForOutput(/listening on (\d+)/, 15000);
  const origin = `http://${kHost}:${m[1]}`;
  await waitForHttp(`${origin}/healthz`, { proc });
  return { proc, url: `${origin}/mcp`, stats: async () => JSON.parse((await request(`${origin}/stats`)).body) };
}

async function startProxy(t, track, upstreamUrl, limits = {}) {
  const dir = await tempDir('bulwark-memory-');
  t.after(() => dir.remove());
  const config = { ...makeConfig(upstreamUrl, { defaults: { timeout: '60s', per_try_timeout: '60s' } }),
                   limits: { max_buffered_bytes: `${kBudgetBytes}`, ...limits } };
  const file = await writeConfig(dir.file('bulwark.yaml'), config);
  // Under AddressSanitizer freed memory waits in a quarantine (up to 256 MiB) that would read as
  // resident memory Bulwark keeps, and the sanitizer's allocator (which malloc_trim does not
  // reach) returns free pages only every 5 s: with no quarantine and a release every 500 ms, RSS
  // measures what Bulwark holds. A build without ASan ignores the variable.
  const asan = `${process.env.ASAN_OPTIONS ? `${process.env.ASAN_OPTIONS}:` : ''}` +
               'quarantine_size_mb=0:allocator_release_to_os_interval_ms=500';
  return track(await startBulwark(upstreamUrl, { config: file, name: 'bulwark-memory', env: { ASAN_OPTIONS: asan } }));
}

function callBody(id, name, args) {
  return JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
}

function headersFor(mode) {
  return { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
           ...(mode === 'sse' ? { 'x-answer-mode': 'sse' } : {}) };
}

// A raw client that sends one request and never reads: its receive buffer fills, then Bulwark's
// window for it. resume() reads what is left and resolves with the byte count at the end.
function slowReader(port, id, mode, bytes, body = callBody(id, 'big', { bytes })) {
  const socket = net.connect({ host: kHost, port });
  socket.on('error', () => {});
  socket.pause();
  socket.write(`POST /mcp HTTP/1.1\r\nHost: ${kHost}:${port}\r\n` +
               Object.entries(headersFor(mode)).map(([k, v]) => `${k}: ${v}\r\n`).join('') +
               `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  return {
    socket,
    readToEnd: () => new Promise((resolve) => {
      let received = 0;
      socket.on('data', (c) => { received += c.length; });
      socket.on('close', () => resolve(received));
      socket.resume();
    }),
  };
}

function post(url, body, mode = 'json', timeoutMs = 30000) {
  return request(url, { method: 'POST', headers: headersFor(mode), body, timeoutMs });
}

// The JSON-RPC message of an answer: the body, or the last `data:` of an SSE stream.
function messageOf(res) {
  if ((res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
    const datas = [...res.body.matchAll(/^data: ?(.*)$/gm)].map((m) => m[1]).filter((d) => d !== '');
    return JSON.parse(datas.at(-1));
  }
  return JSON.parse(res.body);
}

async function echoThrough(bw, mode, id) {
  const res = await post(bw.url, callBody(id, 'echo', { message: `m${id}` }), mode);
  return res.status === 200 && messageOf(res).result?.content?.[0]?.text === `echo: m${id}`;
}

describe('slow readers of large answers', { skip: kSkip, timeout: 120000 }, () => {
  for (const mode of ['sse', 'json']) {
    test(`${kReaders} readers of ${mib(kAnswerBytes)} MiB ${mode} answers: memory stays within the budget, others are served, and it goes back`,
      scoped(async (t, track) => {
        const up = await startLargeAnswerServer(track);
        const bw = await startProxy(t, track, up.url);
        const pid = bw.proc.pid;
        assert.ok(await echoThrough(bw, mode, 1), 'a first call warms Bulwark up');
        const idle = statusKib(pid, 'VmRSS');

        const readers = [];
        for (let i = 0; i < kReaders; i++) readers.push(slowReader(bw.port, 100 + i, mode, kAnswerBytes));
        await pollUntil(async () => (await up.stats()).posts >= kReaders + 1,
                        { timeoutMs: 30000, what: 'every slow reader reached the upstream' });
        // While they hold: a normal client is served, again and again.
        for (let i = 0; i < 6; i++) {
          assert.ok(await echoThrough(bw, mode, 200 + i), 'a normal client is served meanwhile');
          await sleep(250);
        }
        const peak = statusKib(pid, 'VmHWM');
        const buffered = sumSamples(await bw.metrics(), 'bulwark_buffered_bytes');
        t.diagnostic(`${mode}: idle ${mib(idle)} MiB, peak ${mib(peak)} MiB, buffered while held ` +
                     `${mib(buffered)} MiB (budget ${mib(kBudgetBytes)} MiB, answers ${mib(kReaders * kAnswerBytes)} MiB in all)`);
        assert.ok(buffered <= kBudgetBytes + kReaders * 256 * 1024, `buffered ${buffered} bytes`);
        assert.ok(peak - idle <= kPeakAllowance,
                  `peak resident memory grew by ${mib(peak - idle)} MiB; allowed ${mib(kPeakAllowance)} MiB`);

        for (const r of readers) r.socket.destroy();
        const settled = await pollUntil(async () => {
          const rss = statusKib(pid, 'VmRSS');
          const level = sumSamples(await bw.metrics(), 'bulwark_buffered_bytes');
          return rss - idle <= kAfterAllowance && level < 64 * 1024 ? { rss, level } : false;
        }, { timeoutMs: 15000, intervalMs: 250, what: 'resident memory back near idle' });
        t.diagnostic(`${mode}: after the readers left ${mib(settled.rss)} MiB (idle ${mib(idle)} MiB)`);
        assert.ok(await echoThrough(bw, mode, 300), 'served as before');
      }));
  }
});

describe('the send timeout', { skip: kSkip, timeout: 60000 }, () => {
  test('closes a reader that never reads, and its upstream request is cancelled', scoped(async (t, track) => {
    const up = await startLargeAnswerServer(track);
    const bw = await startProxy(t, track, up.url, { send_timeout: '1s' });
    // The upstream is still at work (notifications stream for 10 s before the answer) when the
    // reader's window has been full for a second.
    const flood = callBody(7, 'flood', { count: 200, bytes: 64 * 1024, ms: 50 });
    const reader = slowReader(bw.port, 7, 'sse', 0, flood);
    await pollUntil(async () => sumSamples(await bw.metrics(), 'bulwark_limit_rejections_total', { limit: 'send_timeout' }) >= 1,
                    { timeoutMs: 20000, intervalMs: 100, what: 'limit="send_timeout" counted' });
    await pollUntil(async () => (await up.stats()).aborted >= 1,
                    { timeoutMs: 10000, what: 'the upstream request cancelled' });
    const received = await reader.readToEnd();
    assert.ok(received < 200 * 64 * 1024, `the reader got ${received} bytes, not the whole stream`);
    const m = await bw.metrics();
    assert.equal(sumSamples(m, 'bulwark_requests_total', { outcome: 'cancelled' }), 1);
    assert.match(bw.logs(), /"limit":"send_timeout"/);
    assert.ok(await echoThrough(bw, 'json', 8), 'others are served');
  }));
});

describe('large answers to a fast client', { skip: kSkip, timeout: 60000 }, () => {
  for (const mode of ['sse', 'json']) {
    test(`a ${mib(kAnswerBytes)} MiB ${mode} answer arrives byte-exact and counts as a success`, scoped(async (t, track) => {
      const up = await startLargeAnswerServer(track);
      const bw = await startProxy(t, track, up.url);
      const body = callBody(5, 'big', { bytes: kAnswerBytes });
      const direct = await post(up.url, body, mode);
      const through = await post(bw.url, body, mode);
      assert.equal(through.status, 200);
      assert.equal(through.headers['content-type'], direct.headers['content-type']);
      assert.ok(through.body === direct.body, `the body differs (${through.body.length} vs ${direct.body.length} bytes)`);
      assert.ok(messageOf(through).result.content[0].text === largeText(kAnswerBytes), 'the text is the one asked for');
      const m = await bw.metrics();
      assert.equal(sumSamples(m, 'bulwark_requests_total', { method: 'tools/call', outcome: 'success' }), 1);
      assert.equal(sumSamples(m, 'bulwark_errors_total'), 0);
    }));
  }

  test('a large JSON-RPC error answer arrives whole and still counts as an error', scoped(async (t, track) => {
    const up = await startLargeAnswerServer(track);
    const bw = await startProxy(t, track, up.url);
    const body = callBody(6, 'big_error', { bytes: 4 * MiB });
    const through = await post(bw.url, body);
    assert.equal(through.status, 200);
    const message = JSON.parse(through.body);
    assert.equal(message.error.code, -32603);
    assert.ok(message.error.message === largeText(4 * MiB));
    const m = await bw.metrics();
    assert.equal(sumSamples(m, 'bulwark_requests_total', { method: 'tools/call', outcome: 'success' }), 0);
    assert.equal(sumSamples(m, 'bulwark_requests_total', { method: 'tools/call' }), 1);
    assert.equal(sumSamples(m, 'bulwark_errors_total'), 1);
  }));
});

describe('the global buffer budget', { skip: kSkip, timeout: 60000 }, () => {
  test('refuses with 503, Retry-After and class overload once reached, and accepts again when it drains',
    scoped(async (t, track) => {
      const up = await startLargeAnswerServer(track);
      const bw = await startProxy(t, track, up.url, { max_buffered_bytes: '64KiB' });
      assert.ok(await echoThrough(bw, 'json', 1));
      // One reader that does not read holds its window (over 64 KiB queued for it): the budget
      // is full while it stays.
      const reader = slowReader(bw.port, 2, 'json', kAnswerBytes);
      await pollUntil(async () => sumSamples(await bw.metrics(), 'bulwark_buffered_bytes') >= 64 * 1024,
                      { timeoutMs: 20000, intervalMs: 100, what: 'the budget full' });
      const refused = await post(bw.url, callBody(3, 'echo', { message: 'm3' }));
      assert.equal(refused.status, 503, refused.body.slice(0, 300));
      assert.equal(refused.headers['retry-after'], '1');
      const error = JSON.parse(refused.body).error;
      assert.equal(error.code, -32000);
      assert.equal(error.data.class, 'overload');
      let m = await bw.metrics();
      assert.equal(sumSamples(m, 'bulwark_limit_rejections_total', { limit: 'memory' }), 1);
      assert.equal((bw.logs().match(/"limit":"memory"/g) ?? []).length, 1, 'one log line');

      reader.socket.destroy();
      await pollUntil(() => echoThrough(bw, 'json', 4), { timeoutMs: 10000, intervalMs: 100,
                                                          what: 'accepted again once drained' });
      m = await bw.metrics();
      assert.ok(sumSamples(m, 'bulwark_buffered_bytes') < 64 * 1024);
    }));
});
