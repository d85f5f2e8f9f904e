// Chaos soak (issue #8): Bulwark in front of the faulty fixture (fixtures/faulty_upstream.mjs,
// mode "mixed": JSON and SSE replies, or "session") for a bounded time, under
//   - SDK clients (Client + StreamableHTTPClientTransport) calling read-only, idempotent and
//     non-idempotent tools, listing tools, and giving up on a `slow` call with progress, either
//     closing mid-stream or cancelling (notifications/cancelled);
//   - raw HTTP clients sending valid calls (fresh and kept-alive connections, pipelined pairs),
//     bodies that are not JSON or not JSON-RPC, malformed HTTP, GETs, bad arguments, requests
//     cut off before their body is complete, and SSE calls they abandon mid-stream;
//   - seeded random upstream faults per request (503, 429 with and without Retry-After, reset or
//     close before the tool runs, reset after it ran, hangs, malformed replies of five kinds,
//     slow replies, delays);
//   - upstream restarts (SIGKILL, then a new fixture on the same port) and config reloads
//     (SIGHUP or the file watcher; one invalid file that must be rejected).
// Invariants checked at the end:
//   1. Bulwark is still running; it exits 0 on SIGTERM with no sanitizer report in its stderr.
//   2. Every client request settled (answer or error) within the longest configured deadline
//      plus a slack; the hung ones are listed.
//   3. No non-idempotent tool ran more often than clients called it: each write_record call has
//      its own key, the fixture journals every run (across restarts), each key ran at most once,
//      and exactly once when the client got a success.
//   4. Every answer that came back was the answer to that request (no mixed-up results), and no
//      2xx answer to a JSON-RPC request lacked a JSON-RPC response for its id.
//   5. /metrics: bulwark_requests_total summed over all labels equals the sum over the known
//      outcomes, equals the request duration histogram's count, its failure outcomes equal
//      bulwark_errors_total class by class, and it lies between the requests clients surely
//      delivered and those they may have delivered (a request whose connection failed before an
//      answer may or may not have reached Bulwark).
//   6. After the load, once idle connections expired: no client connection open, the open file
//      descriptors back to the post-warm-up baseline, resident memory within a tolerance of it.
//      Dev build: +8 MiB (the warm-up runs the same mix first, so the allocator has already grown
//      to the working set; a leak of a few hundred bytes per request over ~10k requests shows).
//      ASan build: resident memory is dominated by the allocator's quarantine (freed memory is
//      held back, 256 MiB by default) and redzones, so it grows with traffic whether or not
//      anything leaks; the bound is loose there (+320 MiB, only runaway growth fails) and
//      LeakSanitizer's report at exit (invariant 1) is the leak check.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test --test-timeout=600000 tests/integration/soak.test.mjs
//   SOAK_SECONDS=600 SOAK_SEED=12345 ... (longer run; replay a seed)
//   SOAK_UPSTREAM_MODE=session ...      (session-based upstream: each restart loses every session)
//   SOAK_LOG_DIR=/tmp/x SOAK_LOG_LEVEL=debug ... (on failure, Bulwark's and the upstream's whole
//                                       output in that directory; debug: every retry decision)
//
// The seed is printed first ("soak: seed=..."). With SOAK_SEED the clients' action sequences,
// the fault draws and the restart/reload schedule repeat; the interleaving of concurrent
// requests (which request draws which fault) does not, so a failure replays in kind.
// A summary line "soak-summary: ..." reports requests, faults by kind, restarts, reloads, the
// client-visible error rate and retries per request. A second test probes each malformed reply
// kind deterministically (the soak first found them reaching clients unjudged).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { kBulwarkBin, kDirect, startBulwark, stopAll } from './lib/peers.mjs';
import { freePort, kHost, openStream, request } from './lib/net.mjs';
import { RawClient } from './lib/rawhttp.mjs';
import { sleep } from './lib/procs.mjs';
import { mulberry32 } from './lib/random.mjs';
import { findSamples, sumSamples } from './lib/metrics.mjs';
import { callTool, connectClient, kMcpHeaders, makeConfig, pollUntil, rpc, scoped, startFaultyUpstream,
         tempDir, writeConfigAtomic } from './lib/faulty.mjs';

const kSoakSeconds = Number(process.env.SOAK_SECONDS ?? 90);
const kSeed = process.env.SOAK_SEED !== undefined
  ? Number(process.env.SOAK_SEED) >>> 0
  : (Date.now() ^ (process.pid << 16)) >>> 0;
const kWarmupSeconds = 12;
// The fixture's mode: "mixed" (stateless, JSON and SSE replies) by default; "session" runs the
// same soak against session-based Streamable HTTP, where every upstream restart loses every
// session and Bulwark must re-initialize them (raw clients then open sessions too).
const kUpstreamMode = process.env.SOAK_UPSTREAM_MODE ?? 'mixed';
if (!['mixed', 'session'].includes(kUpstreamMode)) throw new Error('SOAK_UPSTREAM_MODE must be mixed or session');
const kSdkClients = 4;
const kRawClients = 3;
const kRestarts = Math.max(3, Math.floor(kSoakSeconds / 25));
const kReloads = Math.max(3, Math.floor(kSoakSeconds / 20));
const kMaxIterations = 1_000_000; // per worker; the soak's time bound ends the loops first

// ASan builds carry the runtime's symbols; their memory and speed differ (see invariant 6).
const kSanitized = !kDirect && fs.existsSync(kBulwarkBin) &&
  fs.readFileSync(kBulwarkBin).includes('__asan_init');
const kSlackMs = kSanitized ? 8000 : 4000;
const kRssToleranceBytes = (kSanitized ? 320 : 8) * 1024 * 1024;

// Configs vary these; the deadline check uses the largest `timeout` any config sets.
const kTimeouts = ['3s', '4s', '5s'];
const kPerTryTimeouts = ['700ms', '1s', '1500ms'];
const kMaxTimeoutMs = 5000;
const kRequestLimitMs = kMaxTimeoutMs + kSlackMs;
// SDK and HTTP client timeouts lie well beyond the limit, so a hang shows as one, not as an error.
const kClientTimeoutMs = kRequestLimitMs + 6000;

// Seeded randomness: one stream per worker so each worker's sequence repeats.
const streamFor = (index) => mulberry32((kSeed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
const pick = (rng, list) => list[Math.min(list.length - 1, Math.floor(rng() * list.length))];
const between = (rng, lo, hi) => lo + Math.floor(rng() * (hi - lo + 1));

// Every upstream fault the fixture knows, as the soak draws them for tools/call and tools/list.
const kToolFaults = [
  '503', { type: 'status', status: 503, retryAfter: 1 }, '429', { type: 'status', status: 429, retryAfter: 1 },
  'reset_before', 'close_before',
  'reset_after', { type: 'reset_after', headers: true }, { type: 'reset_after', stream: true },
  'hang',
  'malformed', { type: 'malformed', variant: 'garbage' }, { type: 'malformed', variant: 'content_type' },
  { type: 'malformed', variant: 'short_body' }, { type: 'malformed', variant: 'sse_garbage' },
  { type: 'slow_reply', pieceBytes: 8, pauseMs: 15 }, { type: 'delay', ms: 300 },
];
// initialize and notifications: rarer and milder, so clients get connected often enough.
const kHandshakeFaults = ['503', 'reset_before', 'malformed', { type: 'slow_reply', pieceBytes: 32, pauseMs: 5 }];

function faultPlan(generation) {
  const seed = (kSeed + generation * 7919) >>> 0;
  return {
    rules: [
      { method: 'tools/call', random: { rate: 0.3, seed, faults: kToolFaults } },
      { method: 'tools/list', random: { rate: 0.2, seed: seed + 1, faults: kToolFaults } },
      { random: { rate: 0.08, seed: seed + 2, faults: kHandshakeFaults } },
    ],
  };
}

function soakConfig(upstreamUrl, rng) {
  return makeConfig(upstreamUrl, {
    // Breakers on, but opening only on heavy failure (a restart) and for a short time: with
    // the defaults the 30 % fault rate plus restarts keeps the upstream breaker open most of
    // the soak and nearly every request is refused at once, which exercises little else.
    defaults: { timeout: pick(rng, kTimeouts), per_try_timeout: pick(rng, kPerTryTimeouts),
                circuit_breaker: { failure_ratio: 0.8, min_requests: 30, open_for: pick(rng, ['500ms', '1s', '2s']) } },
    retry: { max_attempts: between(rng, 2, 5) },
    tools: [{ match: 'slow', per_try_timeout: '2s' }],
  });
}

// An invalid file (an unknown key): the reload must be rejected and the old config kept.
const invalidConfig = (upstreamUrl) =>
  `upstream:\n  url: ${upstreamUrl}\ndefaults:\n  retry:\n    max_attempts: 3\n    bogus_soak_key: 1\n`;

// ---------------------------------------------------------------------------------------------
// The ledger: every client request with its start, end and result, for invariants 2-5.

class Ledger {
  constructor() {
    this.entries = [];
    this.errors = {};          // client-visible errors of valid requests, by category
    this.errorSamples = {};    // the first messages of each category, for the summary
    this.wrongAnswers = [];    // answers that belong to another request (or are nonsense)
    this.notJsonRpc = [];      // {key, detail}: 2xx answers to JSON-RPC requests without a response for the id
    this.writes = new Map();   // write_record key -> 'ok' | 'error'
    // HTTP requests to the data port: delivered for sure (an answer came back) or maybe
    // (the connection failed before an answer: Bulwark may or may not have read them).
    this.delivered = 0;
    this.maybeDelivered = 0;
    this.counts = {};
  }

  // Runs fn as one client request of `kind`/`op`; `limitMs` is when it counts as hung; `key` is
  // the request's params._meta.testKey (the fixture journals it with each attempt's fault).
  async track(kind, op, limitMs, fn, key = undefined) {
    const entry = { kind, op, key, startedAt: performance.now(), endedAt: undefined, limitMs, ok: undefined };
    if (this.entries.length < 2_000_000) this.entries.push(entry);
    this.counts[`${kind}.${op}`] = (this.counts[`${kind}.${op}`] ?? 0) + 1;
    try {
      const value = await fn();
      entry.ok = true;
      return value;
    } catch (e) {
      entry.ok = false;
      throw e;
    } finally {
      entry.endedAt = performance.now();
    }
  }

  error(category, e = undefined) {
    this.errors[category] = (this.errors[category] ?? 0) + 1;
    if (e !== undefined && (this.errorSamples[category]?.length ?? 0) < 2) {
      (this.errorSamples[category] ??= []).push(String(e?.message ?? e).slice(0, 160));
    }
  }

  hung(now = performance.now()) {
    return this.entries.filter((e) => (e.endedAt ?? now) - e.startedAt > e.limitMs)
      .map((e) => ({ kind: e.kind, op: e.op, key: e.key, ms: Math.round((e.endedAt ?? now) - e.startedAt),
                     settled: e.endedAt !== undefined }));
  }

  pending() {
    return this.entries.filter((e) => e.endedAt === undefined).length;
  }
}

function errorCategory(e) {
  const message = String(e?.message ?? e);
  // The SDK's StreamableHTTPError carries the HTTP status as its code; McpError a JSON-RPC code.
  if (/^Streamable HTTP error/.test(message) && Number.isInteger(e?.code) && e.code >= 100) return `http_${e.code}`;
  if (Number.isInteger(e?.code)) return `jsonrpc_${e.code}`;
  if (/Unexpected content type/i.test(message)) return 'unexpected_content_type';
  if (/fetch failed|ECONNRESET|socket hang up|other side closed/i.test(message)) return 'connection';
  if (/JSON|Unexpected token|parse/i.test(message)) return 'bad_json';
  return message.slice(0, 60).replace(/\s+/g, '_');
}

// A fetch for the SDK transports that counts each HTTP request (invariant 5).
function countingFetch(ledger) {
  return async (input, init) => {
    try {
      const res = await fetch(input, init);
      ledger.delivered++;
      return res;
    } catch (e) {
      ledger.maybeDelivered++;
      throw e;
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Clients

function textOf(result) {
  return result?.content?.[0]?.text;
}

// One SDK client: connects, calls tools in a seeded random mix, reconnects after failures.
async function sdkWorker(index, ctx) {
  const rng = streamFor(index);
  const { ledger } = ctx;
  let conn = null;
  const opts = (extra = {}) => ({ timeout: kClientTimeoutMs, ...extra });
  for (let i = 0; i < kMaxIterations && performance.now() < ctx.endAt; i++) {
    if (conn === null) {
      try {
        conn = await ledger.track('sdk', 'connect', 2 * kRequestLimitMs, () =>
          connectClient(ctx.url(), { fetch: countingFetch(ledger), name: `soak-sdk-${index}` }));
      } catch (e) {
        ledger.error(`connect:${errorCategory(e)}`, e);
        await sleep(20 + rng() * 50);
        continue;
      }
    }
    const client = conn.client;
    const r = rng();
    const tag = `c${index}-${ctx.phase}-${i}`;
    try {
      if (r < 0.38) {
        const key = `r-${tag}`;
        const res = await ledger.track('sdk', 'read_data', kRequestLimitMs, () =>
          client.callTool({ name: 'read_data', arguments: { key }, _meta: { testKey: key } }, undefined, opts()), key);
        if (textOf(res) !== `data for ${key}`) ledger.wrongAnswers.push(`sdk read_data ${key}: ${JSON.stringify(res).slice(0, 300)}`);
      } else if (r < 0.60) {
        const key = `w-${kSeed}-${tag}`;
        ctx.ledger.writes.set(key, 'error');
        const res = await ledger.track('sdk', 'write_record', kRequestLimitMs, () =>
          client.callTool({ name: 'write_record', arguments: { key }, _meta: { testKey: key } }, undefined, opts()), key);
        if (!textOf(res)?.startsWith(`wrote ${key} `)) {
          ledger.wrongAnswers.push(`sdk write_record ${key}: ${JSON.stringify(res).slice(0, 300)}`);
        } else {
          ctx.ledger.writes.set(key, 'ok');
        }
      } else if (r < 0.70) {
        const key = `s-${tag}`;
        const value = `v${i}`;
        const res = await ledger.track('sdk', 'set_value', kRequestLimitMs, () =>
          client.callTool({ name: 'set_value', arguments: { key, value }, _meta: { testKey: key } }, undefined, opts()), key);
        if (textOf(res) !== `set ${key}=${value}`) ledger.wrongAnswers.push(`sdk set_value ${key}: ${JSON.stringify(res).slice(0, 300)}`);
      } else if (r < 0.80) {
        const ms = between(rng, 50, 500);
        const key = `p-${tag}`;
        const res = await ledger.track('sdk', 'slow', kRequestLimitMs, () =>
          client.callTool({ name: 'slow', arguments: { ms, progress: 3 }, _meta: { testKey: key } }, undefined,
                          opts({ onprogress: () => {} })), key);
        if (!/^slept \d+ ms \(asked \d+/.test(textOf(res) ?? '')) ledger.wrongAnswers.push(`sdk slow: ${JSON.stringify(res).slice(0, 300)}`);
      } else if (r < 0.87) {
        // Give up on a call once the first progress event arrived (or after a short while):
        // either close the client, which aborts the SSE response under way (a disconnect
        // mid-stream), or abort the request, which makes the SDK send notifications/cancelled.
        let sawProgress;
        const progressed = new Promise((resolve) => { sawProgress = resolve; });
        const key = `d-${tag}`;
        const closeClient = rng() < 0.5;
        const abort = new AbortController();
        const call = ledger.track('sdk', closeClient ? 'slow_disconnect' : 'slow_cancel', kRequestLimitMs, () =>
          client.callTool({ name: 'slow', arguments: { ms: between(rng, 600, 1500), progress: 4 },
                            _meta: { testKey: key } }, undefined,
                          opts({ onprogress: () => sawProgress(), signal: abort.signal })), key);
        call.catch(() => {});
        await Promise.race([progressed, sleep(between(rng, 100, 800)), call.catch(() => {})]);
        if (closeClient) {
          const closing = conn.close();
          conn = null;
          await closing;
        } else {
          abort.abort('soak: cancelled by the client');
        }
        await call.catch(() => {}); // our own doing: neither an answer nor an error to count
        continue;
      } else if (r < 0.95) {
        const key = `l-${tag}`;
        const res = await ledger.track('sdk', 'tools_list', kRequestLimitMs, () =>
          client.listTools({ _meta: { testKey: key } }, opts()), key);
        if (!res.tools?.some((t) => t.name === 'write_record')) ledger.wrongAnswers.push(`sdk tools/list: ${JSON.stringify(res).slice(0, 300)}`);
      } else {
        await conn.close();
        conn = null;
      }
    } catch (e) {
      ledger.error(errorCategory(e), e);
    }
    await sleep(rng() * 15);
  }
  await conn?.close();
}

let rawId = 0;
// Parses a raw answer to the JSON-RPC request `id`: the response message for it, or undefined.
function responseFor(res, id) {
  const type = String(res.headers['content-type'] ?? '');
  const candidates = [];
  try {
    if (type.startsWith('text/event-stream')) {
      for (const m of res.body.matchAll(/^data: ?(.*)$/gm)) {
        try {
          candidates.push(JSON.parse(m[1]));
        } catch {
          // a non-JSON event; Bulwark may pass it on (judged below)
        }
      }
    } else if (type.startsWith('application/json')) {
      candidates.push(JSON.parse(res.body));
    }
  } catch {
    return undefined;
  }
  return candidates.find((m) => m && m.id === id && ('result' in m || 'error' in m));
}

// One raw JSON-RPC POST (own connection or the worker's keep-alive agent); checks the answer.
async function rawRpc(ctx, agent, op, params, check) {
  const { ledger } = ctx;
  const id = `raw-${++rawId}`;
  // A keyed tool's calls are journaled under their argument key, so a repeated write names its faults.
  const key = params.arguments?.key ?? `${op}-${id}`;
  const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { ...params, _meta: { testKey: key } } });
  let res;
  try {
    res = await ledger.track('raw', op, kRequestLimitMs, () =>
      request(ctx.url(), { method: 'POST', headers: ctx.headers, body, timeoutMs: kClientTimeoutMs, agent }), key);
  } catch (e) {
    ledger.maybeDelivered++;
    ledger.error(`raw:${errorCategory(e)}`);
    return undefined;
  }
  ledger.delivered++;
  if (res.status === 404 && ctx.headers['mcp-session-id'] !== undefined) {
    ctx.sessionLost(); // Bulwark could not restore the session: the client starts a new one
  }
  const message = responseFor(res, id);
  if (message === undefined) {
    if (res.status >= 200 && res.status < 300) {
      ledger.notJsonRpc.push({ key, detail: `${op} ${id}: HTTP ${res.status} ${res.headers['content-type']} ${JSON.stringify(res.body.slice(0, 160))}` });
    }
    ledger.error(`raw:http_${res.status}`);
    return undefined;
  }
  if (message.error) {
    ledger.error(`raw:jsonrpc_${message.error.code}`);
    return message;
  }
  if (!check(message.result)) ledger.wrongAnswers.push(`raw ${op} ${id}: ${JSON.stringify(message).slice(0, 300)}`);
  return message;
}

// Bad input that Bulwark answers itself: 400 with a JSON-RPC error of `code`.
async function rawInvalid(ctx, op, body, code) {
  const { ledger } = ctx;
  let res;
  try {
    res = await ledger.track('raw', op, kRequestLimitMs, () =>
      request(ctx.url(), { method: 'POST', headers: kMcpHeaders, body, timeoutMs: kClientTimeoutMs }));
  } catch (e) {
    ledger.maybeDelivered++;
    ledger.error(`raw:${op}:${errorCategory(e)}`);
    return;
  }
  ledger.delivered++;
  let error;
  try {
    error = JSON.parse(res.body).error;
  } catch {
    // judged below
  }
  if (res.status !== 400 || error?.code !== code) {
    ledger.wrongAnswers.push(`raw ${op}: expected 400 with ${code}, got ${res.status} ${res.body.slice(0, 200)}`);
  }
}

const kMalformedHttp = [
  'BLAH /mcp\r\n\r\n',
  'POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'POST /mcp HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}',
  'GET /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
];

// Malformed HTTP: a 400 and a closed connection; never an Exchange, so never in requests_total.
async function rawMalformedHttp(ctx, rng) {
  const { ledger } = ctx;
  const bytes = pick(rng, kMalformedHttp);
  let client;
  try {
    await ledger.track('raw', 'malformed_http', kRequestLimitMs, async () => {
      client = await RawClient.connect(ctx.port());
      await client.write(bytes);
      const res = await client.readResponse({ timeoutMs: kClientTimeoutMs });
      if (res.status !== 400) ledger.wrongAnswers.push(`raw malformed HTTP ${JSON.stringify(bytes)}: ${res.status}`);
      if (!(await client.waitClosed(kRequestLimitMs))) ledger.wrongAnswers.push(`raw malformed HTTP ${JSON.stringify(bytes)}: connection left open`);
    });
  } catch (e) {
    ledger.error(`raw:malformed_http:${errorCategory(e)}`);
  } finally {
    client?.destroy();
  }
}

// Two calls pipelined on one connection (both written at once). Bulwark answers them in order;
// after an answer it had to cut short (the connection closes) the second may go unread.
async function rawPipelined(ctx, rng) {
  const { ledger } = ctx;
  const ids = [`raw-${++rawId}`, `raw-${++rawId}`];
  const keys = ids.map((id) => `pipelined-${id}`);
  let client;
  let answers = 0;
  try {
    await ledger.track('raw', 'pipelined', 2 * kRequestLimitMs, async () => {
      client = await RawClient.connect(ctx.port());
      const requests = ids.map((id, i) => {
        const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call',
                                      params: { name: 'read_data', arguments: { key: keys[i] }, _meta: { testKey: keys[i] } } });
        const session = ctx.headers['mcp-session-id'];
        return `POST /mcp HTTP/1.1\r\nHost: ${kHost}\r\nContent-Type: application/json\r\n` +
               (session === undefined ? '' : `Mcp-Session-Id: ${session}\r\n`) +
               `Accept: ${pick(rng, ['application/json, text/event-stream', 'text/event-stream, application/json'])}\r\n` +
               `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
      });
      await client.write(requests.join(''));
      for (let i = 0; i < 2; i++) {
        let res;
        try {
          res = await client.readResponse({ method: 'POST', timeoutMs: kClientTimeoutMs });
        } catch (e) {
          if (client.ended) break; // closed after a cut-short answer
          throw e;
        }
        answers++;
        const message = responseFor({ headers: { 'content-type': res.header('content-type') }, body: res.text }, ids[i]);
        if (message === undefined) {
          if (res.status >= 200 && res.status < 300) {
            ledger.notJsonRpc.push({ key: keys[i], detail: `pipelined ${ids[i]}: HTTP ${res.status} ${res.header('content-type')} ${JSON.stringify(res.text.slice(0, 160))}` });
          }
          ledger.error(`raw:pipelined:http_${res.status}`);
        } else if (message.error) {
          ledger.error(`raw:pipelined:jsonrpc_${message.error.code}`);
        } else if (textOf(message.result) !== `data for ${keys[i]}`) {
          ledger.wrongAnswers.push(`raw pipelined ${ids[i]}: ${JSON.stringify(message).slice(0, 300)}`);
        }
      }
    });
  } catch (e) {
    ledger.error(`raw:pipelined:${errorCategory(e)}`, e);
  } finally {
    client?.destroy();
  }
  ledger.delivered += answers;
  ledger.maybeDelivered += 2 - answers;
}

// A client that goes away before its request is complete: a head and half a body, or nothing
// at all, then the connection closes. Bulwark must drop it without an answer, a count or a
// leaked descriptor.
async function rawPartialRequest(ctx, rng) {
  const { ledger } = ctx;
  let client;
  try {
    await ledger.track('raw', 'partial_request', kRequestLimitMs, async () => {
      client = await RawClient.connect(ctx.port());
      if (rng() < 0.7) {
        const body = JSON.stringify({ jsonrpc: '2.0', id: 'partial', method: 'tools/call',
                                      params: { name: 'write_record', arguments: { key: 'never-complete' } } });
        await client.write(`POST /mcp HTTP/1.1\r\nHost: ${kHost}\r\nContent-Type: application/json\r\n` +
                           `Accept: application/json, text/event-stream\r\nContent-Length: ${body.length}\r\n\r\n` +
                           body.slice(0, body.length >> 1));
      }
      await sleep(between(rng, 0, 200));
    });
  } catch (e) {
    ledger.error(`raw:partial_request:${errorCategory(e)}`, e);
  } finally {
    client?.destroy();
  }
}

// An SSE call abandoned mid-stream: waits for the answer's head, then for the first event or a
// short while, and closes the connection.
async function rawStreamDisconnect(ctx, rng) {
  const { ledger } = ctx;
  const id = `raw-${++rawId}`;
  const key = `sse-${id}`;
  const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call',
                                params: { name: 'slow', arguments: { ms: between(rng, 400, 1500), progress: 4 },
                                          _meta: { progressToken: id, testKey: key } } });
  const stream = openStream(ctx.url(), { method: 'POST', headers: ctx.headers, body });
  let headed = false;
  try {
    await ledger.track('raw', 'sse_disconnect', kRequestLimitMs, async () => {
      let timer;
      const limit = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('no answer head')), kClientTimeoutMs);
      });
      try {
        await Promise.race([stream.head, limit]);
      } finally {
        clearTimeout(timer);
      }
      headed = true;
      await Promise.race([stream.waitFor('data:', between(rng, 30, 400)).catch(() => {}), stream.done]);
    }, key);
  } catch (e) {
    ledger.error(`raw:sse_disconnect:${errorCategory(e)}`);
  } finally {
    stream.destroy();
  }
  if (headed) ledger.delivered++;
  else ledger.maybeDelivered++;
}

// A GET on the MCP path (without a session): the fixture answers 405 (stateless) or 400 (session
// mode), a dead upstream makes it a 502.
async function rawGet(ctx) {
  const { ledger } = ctx;
  try {
    const res = await ledger.track('raw', 'get', kRequestLimitMs, () =>
      request(ctx.url(), { headers: { accept: 'text/event-stream' }, timeoutMs: kClientTimeoutMs }));
    ledger.delivered++;
    if (![400, 405, 502, 503, 504].includes(res.status)) ledger.wrongAnswers.push(`raw GET: ${res.status} ${res.body.slice(0, 200)}`);
  } catch (e) {
    ledger.maybeDelivered++;
    ledger.error(`raw:get:${errorCategory(e)}`);
  }
}

// Session mode: initialize and notifications/initialized by raw HTTP; the session id goes into
// ctx.headers. Returns false when the handshake failed (the worker tries again later).
async function rawHandshake(ctx) {
  const { ledger } = ctx;
  const id = `raw-${++rawId}`;
  const init = JSON.stringify({ jsonrpc: '2.0', id, method: 'initialize',
                                params: { protocolVersion: '2025-06-18', capabilities: {},
                                          clientInfo: { name: 'soak-raw', version: '1.0.0' } } });
  try {
    const res = await ledger.track('raw', 'initialize', kRequestLimitMs, () =>
      request(ctx.url(), { method: 'POST', headers: kMcpHeaders, body: init, timeoutMs: kClientTimeoutMs }));
    ledger.delivered++;
    const session = res.headers['mcp-session-id'];
    if (res.status !== 200 || responseFor(res, id)?.result === undefined || session === undefined) {
      ledger.error(`raw:initialize:http_${res.status}`);
      return false;
    }
    const headers = { ...kMcpHeaders, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' };
    const note = await ledger.track('raw', 'initialized', kRequestLimitMs, () =>
      request(ctx.url(), { method: 'POST', headers, timeoutMs: kClientTimeoutMs,
                           body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) }));
    ledger.delivered++;
    if (note.status !== 202) {
      ledger.error(`raw:initialized:http_${note.status}`);
      return false;
    }
    ctx.headers = headers;
    return true;
  } catch (e) {
    ledger.maybeDelivered++;
    ledger.error(`raw:initialize:${errorCategory(e)}`, e);
    return false;
  }
}

async function rawWorker(index, sharedCtx) {
  // The worker's own view: live soak state from sharedCtx, its own headers (session).
  const ctx = Object.create(sharedCtx);
  ctx.headers = kMcpHeaders;
  ctx.sessionLost = () => {
    ctx.headers = kMcpHeaders;
  };
  const rng = streamFor(100 + index);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let i = 0; i < kMaxIterations && performance.now() < ctx.endAt; i++) {
      if (kUpstreamMode === 'session' && ctx.headers['mcp-session-id'] === undefined && !(await rawHandshake(ctx))) {
        await sleep(20 + rng() * 50);
        continue;
      }
      const r = rng();
      const tag = `raw${index}-${ctx.phase}-${i}`;
      const viaAgent = rng() < 0.5 ? agent : false;
      if (r < 0.30) {
        const key = `r-${tag}`;
        await rawRpc(ctx, viaAgent, 'read_data', { name: 'read_data', arguments: { key } },
                     (result) => textOf(result) === `data for ${key}`);
      } else if (r < 0.45) {
        const key = `w-${kSeed}-${tag}`;
        ctx.ledger.writes.set(key, 'error');
        const m = await rawRpc(ctx, viaAgent, 'write_record', { name: 'write_record', arguments: { key } },
                               (result) => textOf(result)?.startsWith(`wrote ${key} `));
        if (m?.result && textOf(m.result)?.startsWith(`wrote ${key} `)) ctx.ledger.writes.set(key, 'ok');
      } else if (r < 0.53) {
        await rawInvalid(ctx, 'not_json', '{"jsonrpc":"2.0","id":1,"method":', -32700);
      } else if (r < 0.60) {
        await rawInvalid(ctx, 'not_jsonrpc', '{"hello":"world"}', -32600);
      } else if (r < 0.64) {
        await rawMalformedHttp(ctx, rng);
      } else if (r < 0.67) {
        await rawPartialRequest(ctx, rng);
      } else if (r < 0.72) {
        await rawPipelined(ctx, rng);
      } else if (r < 0.86) {
        await rawStreamDisconnect(ctx, rng);
      } else if (r < 0.90) {
        await rawGet(ctx);
      } else {
        // Invalid arguments: the upstream's -32602 passes through (or a fault's error does).
        await rawRpc(ctx, viaAgent, 'bad_args', { name: 'bad_args', arguments: { n: 'not a number' } }, () => false);
      }
      await sleep(rng() * 15);
    }
  } finally {
    agent.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Chaos: upstream restarts and config reloads on a seeded schedule.

async function sleepUntil(t) {
  const left = t - performance.now();
  if (left > 0) await sleep(left);
}

// Runs action(rng, i) `count` times spread over the soak: the i-th time at a seeded point of
// the i-th slot, between `offset` and `offset + spread` of its width.
async function onSchedule(ctx, { stream, count, offset, spread }, action) {
  const rng = streamFor(stream);
  const span = ctx.endAt - ctx.startAt;
  for (let i = 0; i < count && performance.now() < ctx.endAt; i++) {
    await sleepUntil(ctx.startAt + span * ((i + offset + spread * rng()) / (count + 0.5)));
    if (performance.now() >= ctx.endAt) break;
    await action(rng, i);
  }
}

const restarter = (ctx) => onSchedule(ctx, { stream: 200, count: kRestarts, offset: 0.6, spread: 0.3 },
                                      (rng) => ctx.restartUpstream(between(rng, 150, 1200)));
const reloader = (ctx) => onSchedule(ctx, { stream: 300, count: kReloads, offset: 0.3, spread: 0.4 },
                                     (rng, i) => ctx.reload(rng, { invalid: i === 1, viaSignal: i % 2 === 0 }));

// ---------------------------------------------------------------------------------------------

async function processGauges(bw) {
  const m = await bw.metrics();
  return {
    fds: sumSamples(m, 'process_open_fds'),
    rss: sumSamples(m, 'process_resident_memory_bytes'),
    connections: sumSamples(m, 'bulwark_client_connections'),
  };
}

// Waits until Bulwark is idle: no client connection, and the descriptor count unchanged over
// three scrapes 500 ms apart, at least `quietMs` after the load (pooled connections expire).
async function settle(bw, quietMs) {
  const started = performance.now();
  let last = null;
  let same = 0;
  for (let i = 0; i < 200 && performance.now() - started < 30000; i++) {
    const g = await processGauges(bw);
    same = last !== null && g.fds === last.fds && g.connections === 0 ? same + 1 : 0;
    last = g;
    if (same >= 2 && performance.now() - started >= quietMs) return g;
    await sleep(500);
  }
  return last;
}

function readJournal(file) {
  const out = { execsByKey: new Map(), execsByTool: {}, faults: {}, attempts: 0, faultsByKey: new Map(),
               linesByKey: new Map() };
  if (!fs.existsSync(file)) return out;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      continue; // a line cut by SIGKILL mid-write
    }
    if (e.e === 'exec') {
      if (typeof e.key === 'string') {
        if (!out.linesByKey.has(e.key)) out.linesByKey.set(e.key, []);
        out.linesByKey.get(e.key).push(line);
      }
      out.execsByTool[e.tool] = (out.execsByTool[e.tool] ?? 0) + 1;
      if (e.tool === 'write_record') out.execsByKey.set(e.key, (out.execsByKey.get(e.key) ?? 0) + 1);
    } else if (e.e === 'attempt') {
      out.attempts++;
      out.faults[e.fault] = (out.faults[e.fault] ?? 0) + 1;
      if (typeof e.testKey === 'string') {
        if (!out.faultsByKey.has(e.testKey)) out.faultsByKey.set(e.testKey, []);
        out.faultsByKey.get(e.testKey).push(e.fault);
        if (!out.linesByKey.has(e.testKey)) out.linesByKey.set(e.testKey, []);
        out.linesByKey.get(e.testKey).push(line);
      }
    }
  }
  return out;
}

const kOutcomes = ['success', 'cancelled', 'invalid_input', 'upstream', 'timeout', 'overload', 'resource',
                   'permission', 'tool_error', 'session_lost', 'protocol'];

describe('chaos soak', { skip: kDirect ? 'BULWARK_BIN=direct: proxy-only behaviour' : false }, () => {
  let dir;
  let up;
  let bw;
  let upstreamPort;
  let generation = 0;
  const journalFile = () => dir.file('journal.jsonl');
  const planFile = (g) => dir.file(`plan-${g}.json`);
  const configFile = () => dir.file('bulwark.yaml');

  async function startUpstream(g) {
    fs.writeFileSync(planFile(g), JSON.stringify(faultPlan(g)));
    let lastError;
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        return await startFaultyUpstream({ mode: kUpstreamMode, port: upstreamPort, name: `faulty-soak-${g}`,
                                           planFile: planFile(g), journalFile: journalFile() });
      } catch (e) {
        lastError = e; // the port may still be held for a moment after the kill
        await sleep(100);
      }
    }
    throw lastError;
  }

  before(async () => {
    dir = await tempDir('bulwark-soak-');
    upstreamPort = await freePort();
    up = await startUpstream(0);
  });
  after(async () => {
    await stopAll(bw, up);
    await dir?.remove();
  });

  test(`${kSoakSeconds} s of clients, faults, restarts and reloads; invariants hold`,
       { timeout: (kWarmupSeconds + kSoakSeconds + 300) * 1000 }, async (t) => {
    const seedLine = `soak: seed=${kSeed} seconds=${kSoakSeconds} sanitized=${kSanitized} mode=${kUpstreamMode} ` +
      `(replay: SOAK_SEED=${kSeed} SOAK_SECONDS=${kSoakSeconds} SOAK_UPSTREAM_MODE=${kUpstreamMode})`;
    console.log(seedLine);
    t.diagnostic(seedLine);
    try {
      await runSoak(t);
    } catch (e) {
      if (process.env.SOAK_LOG_DIR) {
        for (const p of [bw, up]) {
          if (p?.proc) fs.writeFileSync(`${process.env.SOAK_LOG_DIR}/${p.proc.name}.log`, `${p.proc.out}\n${p.proc.err}`);
        }
      }
      for (const p of [bw, up]) {
        if (!p) continue;
        const text = p.describe();
        for (const line of text.split('\n').slice(-80)) t.diagnostic(line);
        process.stderr.write(`\n${text}\n`);
      }
      process.stderr.write(`\n${seedLine}\n`);
      throw e;
    }
  });

  async function runSoak(t) {
    const configRng = streamFor(400);
    await writeConfigAtomic(configFile(), soakConfig(`http://${kHost}:${upstreamPort}/mcp`, configRng));
    bw = await startBulwark(up.url, { config: configFile(), name: 'bulwark-soak',
                                    extraArgs: process.env.SOAK_LOG_LEVEL ? ['--log-level', process.env.SOAK_LOG_LEVEL] : [] });
    const ledger = new Ledger();
    const counts = { restarts: 0, reloads: 0, invalidReloads: 0, signals: 0 };
    const ctx = {
      ledger, phase: 'warmup', startAt: 0, endAt: 0,
      url: () => bw.url,
      port: () => bw.port,
      restartUpstream: async (downMs) => {
        const old = up;
        process.kill(-old.proc.pid, 'SIGKILL');
        await old.proc.exited;
        await sleep(downMs);
        up = await startUpstream(++generation);
        counts.restarts++;
      },
      reload: async (rng, { invalid, viaSignal }) => {
        const m = await bw.metrics();
        const before = sumSamples(m, 'bulwark_config_reloads_total', { result: invalid ? 'failure' : 'success' });
        if (invalid) {
          await writeConfigAtomic(configFile(), invalidConfig(`http://${kHost}:${upstreamPort}/mcp`));
        } else {
          await writeConfigAtomic(configFile(), soakConfig(`http://${kHost}:${upstreamPort}/mcp`, rng));
        }
        if (viaSignal || invalid) {
          process.kill(bw.proc.pid, 'SIGHUP');
          counts.signals++;
        }
        await pollUntil(async () => sumSamples(await bw.metrics(), 'bulwark_config_reloads_total',
                                               { result: invalid ? 'failure' : 'success' }) > before,
                        { timeoutMs: 5000, intervalMs: 100,
                          what: `config reload ${invalid ? 'rejected' : 'applied'} (${viaSignal ? 'SIGHUP' : 'file watch'})` });
        if (invalid) {
          counts.invalidReloads++;
          // Put a valid file back (the watcher applies it), so later reloads start from a good one.
          const ok = sumSamples(await bw.metrics(), 'bulwark_config_reloads_total', { result: 'success' });
          await writeConfigAtomic(configFile(), soakConfig(`http://${kHost}:${upstreamPort}/mcp`, rng));
          await pollUntil(async () => sumSamples(await bw.metrics(), 'bulwark_config_reloads_total',
                                                 { result: 'success' }) > ok,
                          { timeoutMs: 5000, intervalMs: 100, what: 'the valid file after the invalid one applied' });
        }
        counts.reloads++;
      },
    };
    const runClients = async () => {
      const workers = [];
      for (let i = 0; i < kSdkClients; i++) workers.push(sdkWorker(i, ctx));
      for (let i = 0; i < kRawClients; i++) workers.push(rawWorker(i, ctx));
      return workers;
    };

    // Warm-up: the same client mix and faults, no restarts or reloads; then the baseline.
    ctx.startAt = performance.now();
    ctx.endAt = ctx.startAt + kWarmupSeconds * 1000;
    await Promise.all(await runClients());
    const baseline = await settle(bw, 6000);

    // The soak.
    ctx.phase = 'soak';
    ctx.startAt = performance.now();
    ctx.endAt = ctx.startAt + kSoakSeconds * 1000;
    let peakRss = baseline.rss;
    let sampling = true;
    const sampler = (async () => {
      for (let i = 0; i < 100000 && sampling; i++) {
        peakRss = Math.max(peakRss, (await processGauges(bw).catch(() => ({ rss: 0 }))).rss);
        await sleep(2000);
      }
    })();
    const chaos = [restarter(ctx), reloader(ctx)];
    const clients = await runClients();
    // Bounded: each request ends by kClientTimeoutMs at the latest.
    let boundTimer;
    const bounded = await Promise.race([
      Promise.allSettled([...clients, ...chaos]).then((r) => ({ results: r })),
      new Promise((resolve) => {
        boundTimer = setTimeout(() => resolve({ timedOut: true }), kSoakSeconds * 1000 + kClientTimeoutMs + 30000);
      }),
    ]);
    clearTimeout(boundTimer);
    sampling = false;
    await sampler;
    const loadEnded = performance.now();

    // A worker still running long after the soak is a hang in itself: report it as one.
    const hung = ledger.hung();
    assert.ok(!bounded.timedOut, `clients still running long after the soak: ${ledger.pending()} requests pending; ` +
              `hung: ${JSON.stringify(hung.slice(0, 20))}`);
    const failures = bounded.results.filter((r) => r.status === 'rejected')
      .map((f) => String(f.reason?.stack ?? f.reason));

    // Invariant 1: alive.
    assert.ok(bw.proc.running, `Bulwark died during the soak\n${bw.describe()}`);

    // Quiet: connections expire; then the metrics and the process gauges.
    const settled = await settle(bw, 6000);
    const m = await bw.metrics();
    const total = sumSamples(m, 'bulwark_requests_total');
    const byOutcome = Object.fromEntries(kOutcomes.map((o) => [o, sumSamples(m, 'bulwark_requests_total', { outcome: o })]));
    const unknownOutcomes = [...new Set(findSamples(m, 'bulwark_requests_total')
      .map((s) => s.labels.outcome).filter((o) => !kOutcomes.includes(o)))];
    const durationCount = sumSamples(m, 'bulwark_request_duration_seconds_count');
    const errorsTotal = sumSamples(m, 'bulwark_errors_total');
    const retries = sumSamples(m, 'bulwark_retries_total');
    const attempts = sumSamples(m, 'bulwark_upstream_attempts_total');
    const reloadsOk = sumSamples(m, 'bulwark_config_reloads_total', { result: 'success' });
    const reloadsFailed = sumSamples(m, 'bulwark_config_reloads_total', { result: 'failure' });
    const journal = readJournal(journalFile());

    // The faults each problem request's attempts drew (journaled with the call's testKey).
    const withFaults = (x) => ({ ...x, faults: journal.faultsByKey.get(x.key) ?? [] });

    // The summary, before the assertions, so a failing run still reports it.
    const valid = Object.entries(ledger.counts)
      .filter(([k]) => !/not_json|not_jsonrpc|malformed_http|partial_request|bad_args|disconnect|cancel|initialize/.test(k))
      .reduce((a, [, v]) => a + v, 0);
    const visibleErrors = Object.entries(ledger.errors)
      .filter(([k]) => !/not_json|not_jsonrpc|malformed_http|raw:jsonrpc_-32602/.test(k))
      .reduce((a, [, v]) => a + v, 0);
    const writesCalled = ledger.writes.size;
    const writesOk = [...ledger.writes.values()].filter((v) => v === 'ok').length;
    const summary = {
      seed: kSeed, seconds: kSoakSeconds, sanitized: kSanitized, upstream_mode: kUpstreamMode,
      session_recoveries: Object.fromEntries(findSamples(m, 'bulwark_session_recoveries_total')
        .map((x) => [Object.values(x.labels).join('/') || 'total', x.value])),
      client_requests: ledger.entries.length, by_op: ledger.counts,
      delivered_http: ledger.delivered, maybe_delivered_http: ledger.maybeDelivered,
      bulwark_requests_total: total, outcomes: byOutcome,
      upstream_attempts_journal: journal.attempts, faults: journal.faults,
      restarts: counts.restarts, reloads: counts.reloads, invalid_reloads: counts.invalidReloads,
      reloads_metric: { success: reloadsOk, failure: reloadsFailed },
      client_visible_error_rate: Number((visibleErrors / Math.max(1, valid)).toFixed(4)),
      client_errors: ledger.errors,
      client_error_samples: ledger.errorSamples,
      circuit_opened: Object.fromEntries(findSamples(m, 'bulwark_circuit_transitions_total', { to: 'open' })
        .map((x) => [x.labels.target, x.value]).filter(([, v]) => v > 0)),
      outcomes_by_tool: Object.fromEntries(findSamples(m, 'bulwark_requests_total').filter((x) => x.value > 0)
        .map((x) => [`${x.labels.method || '-'}/${x.labels.tool || '-'}/${x.labels.outcome}`, x.value])),
      retries_per_request: Number((retries / Math.max(1, total)).toFixed(3)),
      upstream_attempts_per_request: Number((attempts / Math.max(1, total)).toFixed(3)),
      write_record: { called: writesCalled, ok: writesOk, executions: journal.execsByTool.write_record ?? 0 },
      hung: hung.length,
      wrong_answers: ledger.wrongAnswers.length,
      non_jsonrpc_2xx: ledger.notJsonRpc.length,
      fds: { baseline: baseline.fds, after: settled.fds },
      rss_mib: { baseline: +(baseline.rss / 1048576).toFixed(1), peak: +(peakRss / 1048576).toFixed(1),
                 after: +(settled.rss / 1048576).toFixed(1), tolerance: kRssToleranceBytes / 1048576 },
      load_seconds: +((loadEnded - ctx.startAt) / 1000).toFixed(1),
    };
    const summaryLine = `soak-summary: ${JSON.stringify(summary)}`;
    console.log(summaryLine);
    t.diagnostic(summaryLine);

    // Every invariant is evaluated; all violations are reported together.
    const problems = [];
    const check = (ok, what) => {
      if (!ok) problems.push(what);
    };
    check(failures.length === 0, `a client worker or chaos task failed: ${JSON.stringify(failures)}`);

    // Invariant 2.
    check(hung.length === 0, `${hung.length} requests took longer than their limit ` +
          `(${kRequestLimitMs} ms: the longest deadline ${kMaxTimeoutMs} ms + ${kSlackMs} ms slack): ` +
          JSON.stringify(hung.slice(0, 10).map(withFaults)));

    // Invariant 3: no repeated side effect; a success means it ran exactly once.
    const repeated = [...journal.execsByKey].filter(([, n]) => n > 1);
    check(repeated.length === 0, `${repeated.length} write_record keys ran more than once: ${JSON.stringify(repeated.slice(0, 10).map(([key, runs]) => ({ key, runs, faults: journal.faultsByKey.get(key) ?? [] })))}`);
    for (const [key] of repeated.slice(0, 3)) {
      for (const line of journal.linesByKey.get(key) ?? []) t.diagnostic(`journal ${key}: ${line}`);
    }
    const unknownRuns = [...journal.execsByKey.keys()].filter((k) => k.startsWith(`w-${kSeed}-`) && !ledger.writes.has(k));
    check(unknownRuns.length === 0, `write_record runs no client asked for: ${JSON.stringify(unknownRuns.slice(0, 10))}`);
    check(!journal.execsByKey.has('never-complete'), 'a request whose body never arrived in full ran upstream');
    const okNotRun = [...ledger.writes].filter(([k, v]) => v === 'ok' && journal.execsByKey.get(k) !== 1).map(([k]) => k);
    check(okNotRun.length === 0, `write_record answered with success but not run exactly once: ${JSON.stringify(okNotRun.slice(0, 10))}`);
    check((journal.execsByTool.write_record ?? 0) <= writesCalled,
          `write_record ran ${journal.execsByTool.write_record} times for ${writesCalled} calls`);

    // Invariant 4.
    check(ledger.wrongAnswers.length === 0, `${ledger.wrongAnswers.length} answers were not the answer to their request: ` +
          JSON.stringify(ledger.wrongAnswers.slice(0, 10)));
    check(ledger.notJsonRpc.length === 0, `${ledger.notJsonRpc.length} 2xx answers to JSON-RPC requests carried no ` +
          `JSON-RPC response for the request: ${JSON.stringify(ledger.notJsonRpc.slice(0, 10).map(withFaults))}`);

    // Invariant 5: the request counters add up, and to what the clients sent.
    check(unknownOutcomes.length === 0, `bulwark_requests_total has unknown outcome labels ${JSON.stringify(unknownOutcomes)}`);
    const outcomeSum = Object.values(byOutcome).reduce((a, b) => a + b, 0);
    check(total === outcomeSum, `bulwark_requests_total ${total} != sum over its outcomes ${outcomeSum}`);
    check(durationCount === total, `bulwark_request_duration_seconds_count ${durationCount} != bulwark_requests_total ${total}`);
    for (const cls of kOutcomes.filter((o) => o !== 'success' && o !== 'cancelled')) {
      const errors = sumSamples(m, 'bulwark_errors_total', { class: cls });
      check(errors === byOutcome[cls], `bulwark_errors_total{class="${cls}"} ${errors} != bulwark_requests_total{outcome="${cls}"} ${byOutcome[cls]}`);
    }
    check(errorsTotal === total - byOutcome.success - byOutcome.cancelled,
          `bulwark_errors_total ${errorsTotal} != requests that did not succeed ${total - byOutcome.success - byOutcome.cancelled}`);
    check(total >= ledger.delivered && total <= ledger.delivered + ledger.maybeDelivered,
          `bulwark_requests_total ${total} outside what clients delivered ` +
          `[${ledger.delivered}, ${ledger.delivered + ledger.maybeDelivered}]`);

    // The chaos happened (otherwise the invariants above prove little).
    check(faultsInjected(journal) > 0.1 * journal.attempts, `too few faults injected: ${JSON.stringify(journal.faults)}`);
    check(counts.restarts >= Math.min(kRestarts, 3), `the upstream restarted only ${counts.restarts} times`);
    check(reloadsOk >= counts.reloads - counts.invalidReloads && reloadsFailed >= counts.invalidReloads,
          `reloads counted ${JSON.stringify(summary.reloads_metric)} for ${counts.reloads} (${counts.invalidReloads} invalid)`);

    // Invariant 6: nothing left behind.
    check(settled.connections === 0, `${settled.connections} client connections still open after the load`);
    let fdsAfter = settled.fds;
    for (let i = 0; i < 30 && fdsAfter > baseline.fds; i++) {
      await sleep(500);
      fdsAfter = (await processGauges(bw)).fds;
    }
    check(fdsAfter <= baseline.fds, `open descriptors ${fdsAfter} after the load, baseline ${baseline.fds}`);
    check(settled.rss <= baseline.rss + kRssToleranceBytes,
          `resident memory ${summary.rss_mib.after} MiB vs baseline ${summary.rss_mib.baseline} MiB ` +
          `(+${kRssToleranceBytes / 1048576} MiB allowed)`);

    // Invariant 1: a clean exit, no sanitizer report (stop() checks stderr and an early death).
    const exit = await bw.stop();
    check(exit.code === 0, `Bulwark exit status on SIGTERM: ${JSON.stringify(exit)}`);

    assert.deepEqual(problems, [], `soak invariants violated (seed ${kSeed})`);
  }

  // The soak found these reaching clients unjudged (hangs of SDK clients, 2xx answers that are
  // no JSON-RPC response; fixed in e5b71bb): one deterministic probe per malformed reply and
  // tool, so a regression shows by name and not only as a random soak failure.
  test('every malformed upstream reply ends as the real answer (after a retry) or a Bulwark error',
       scoped(async (t, track) => {
    const probeUp = track(await startFaultyUpstream({ mode: 'sse', name: 'faulty-soak-probe' }));
    const file = await writeConfigAtomic(dir.file('probe.yaml'), makeConfig(probeUp.url, { retry: { max_attempts: 3 } }));
    const probeBw = track(await startBulwark(probeUp.url, { config: file, name: 'bulwark-soak-probe' }));
    const list = await rpc(probeBw.url, 'tools/list', {}); // Bulwark learns read_data's readOnlyHint
    assert.ok(list.json?.result?.tools?.length > 0, `tools/list through Bulwark: ${list.status} ${list.body.slice(0, 200)}`);
    const findings = [];
    for (const variant of ['truncated', 'garbage', 'content_type', 'short_body', 'sse_garbage']) {
      for (const [tool, expected] of [['read_data', (key) => `data for ${key}`], ['write_record', (key) => `wrote ${key} (run 1)`]]) {
        await probeUp.control.plan([{ tool, sequence: [{ type: 'malformed', variant }] }]);
        const key = `probe-${variant}-${tool}`;
        const id = `probe-${variant}-${tool}`;
        const res = await request(probeBw.url, {
          method: 'POST', headers: kMcpHeaders, timeoutMs: kClientTimeoutMs,
          body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: tool, arguments: { key } } }),
        });
        // A non-JSON SSE event may pass on (events stream through); the answer must follow it.
        const message = responseFor(res, id);
        const ok = message?.result !== undefined ? textOf(message.result) === expected(key)
                                                 : message?.error?.data?.source === 'bulwark';
        if (!ok) {
          findings.push(`${tool} with a ${variant} reply: HTTP ${res.status} ${res.headers['content-type']} ` +
                        JSON.stringify(res.body.slice(0, 160)));
        }
      }
    }
    const runs = (await probeUp.control.stats()).executions.byKey;
    const repeated = Object.entries(runs).filter(([, n]) => n > 1);
    assert.deepEqual(findings, [], 'every malformed reply was judged');
    assert.deepEqual(repeated, [], 'no write_record ran twice');
  }));
});

function faultsInjected(journal) {
  return Object.entries(journal.faults).filter(([k]) => k !== 'ok').reduce((a, [, v]) => a + v, 0);
}
