// Retries, backoff, Retry-After, deadlines, per-try timeouts and the retry budget: Bulwark (run
// with --config) in front of fixtures/faulty_upstream.mjs, driven by the SDK client and raw HTTP.
// Every test writes its own config (small backoffs so it is fast), starts its own Bulwark, and
// checks the client's answers, the fixture's attempt/execution counters and /metrics.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test --test-timeout=120000 tests/integration/retries.test.mjs
//
// The 25% fault tests print one summary line each ("retries-25pct: ...", "retries-25pct-sse: ...")
// with the client-visible error rate and the attempts per request (the fixture's count and
// bulwark_upstream_attempts_total); the budget test prints "retries-budget: ...". The last
// describe block repeats the key cases with SSE replies (progress across attempts, one final
// answer). BULWARK_BIN=direct runs only the fixture's self-checks.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { kDirect, startBulwark, stopAll } from './lib/peers.mjs';
import { freePort } from './lib/net.mjs';
import { findSamples, sumSamples } from './lib/metrics.mjs';
import { callTool, connectClient, jsonLogLines, jsonRpcError, makeConfig, pollUntil, recordsFor, rpc,
         scoped, startFaultyUpstream, tempDir, writeConfig } from './lib/faulty.mjs';

const kSecret = 'SECRET-TOKEN-1234';
let dir; // config files of every Bulwark this file starts
let configCount = 0;
before(async () => {
  dir = await tempDir('bulwark-retries-');
});
after(async () => {
  await dir?.remove();
});
async function bulwarkWith(track, upstreamUrl, config, name = 'bulwark') {
  const file = await writeConfig(dir.file(`config-${++configCount}.yaml`), config);
  return track(await startBulwark(upstreamUrl, { config: file, name }));
}

describe('faulty upstream fixture (direct, no Bulwark)', { timeout: 60000 }, () => {
  let up;
  before(async () => {
    up = await startFaultyUpstream({ mode: 'json', name: 'faulty-direct' });
  });
  after(async () => {
    await stopAll(up);
  });

  test('lists the tools with their annotations; counts attempts and executions', scoped(async () => {
    await up.control.reset();
    const c = await connectClient(up.url);
    try {
      const { tools } = await c.client.listTools();
      const byName = Object.fromEntries(tools.map((x) => [x.name, x]));
      for (const name of ['read_data', 'write_record', 'set_value', 'slow', 'fail_tool', 'bad_args']) {
        assert.ok(byName[name], `tool ${name} listed`);
      }
      assert.equal(byName.read_data.annotations?.readOnlyHint, true);
      assert.equal(byName.set_value.annotations?.idempotentHint, true);
      assert.equal(byName.write_record.annotations, undefined, 'write_record has no hints');
      const r = await c.client.callTool({ name: 'write_record', arguments: { key: 'direct-1' } });
      assert.match(r.content[0].text, /wrote direct-1/);
      const failed = await c.client.callTool({ name: 'fail_tool', arguments: {} });
      assert.equal(failed.isError, true);
      await assert.rejects(c.client.callTool({ name: 'bad_args', arguments: { n: 'x' } }), (e) => e.code === -32602);
    } finally {
      await c.close();
    }
    const s = await up.control.stats();
    assert.equal(s.executions.byKey['direct-1'], 1);
    assert.equal(s.attempts.byTool.write_record, 1);
    assert.equal(s.attempts.byTool.bad_args, 1);
    assert.equal(s.executions.byTool.bad_args, undefined, 'invalid arguments never run the tool');
  }));

  test('plays a fault sequence, loses the answer after running, hangs until closed', scoped(async () => {
    await up.control.reset();
    await up.control.plan([
      { tool: 'read_data', sequence: [{ type: 'status', status: 503, retryAfter: 1 }, '429', 'reset_before',
                                      'malformed', { type: 'jsonrpc_error', code: -32603 }] },
      { tool: 'write_record', sequence: ['reset_after'] },
      { tool: 'slow', sequence: ['hang'] },
    ]);
    const r1 = await callTool(up.url, 'read_data', {});
    assert.equal(r1.status, 503);
    assert.equal(r1.headers['retry-after'], '1');
    assert.equal((await callTool(up.url, 'read_data', {})).status, 429);
    await assert.rejects(callTool(up.url, 'read_data', {}), /socket hang up|ECONNRESET/);
    const r4 = await callTool(up.url, 'read_data', {});
    assert.equal(r4.status, 200);
    assert.equal(r4.json, undefined, 'malformed body');
    assert.equal(jsonRpcError(await callTool(up.url, 'read_data', {}), 'injected').code, -32603);
    assert.equal((await callTool(up.url, 'read_data', {})).json.result.content[0].text, 'data for k');
    await assert.rejects(callTool(up.url, 'write_record', { key: 'lost-1' }), /socket hang up|ECONNRESET/);
    await assert.rejects(callTool(up.url, 'slow', { ms: 1 }, { timeoutMs: 200 }), /no complete answer/);
    const s = await pollUntil(async () => {
      const st = await up.control.stats();
      return recordsFor(st, 'slow')[0]?.closedAt ? st : null;
    }, { what: 'fixture records the close of the hanging request' });
    assert.equal(s.executions.byKey['lost-1'], 1, 'reset_after ran the tool');
    assert.equal(s.attempts.byTool.read_data, 6);
    assert.equal(s.executions.byTool.read_data, 1);
    assert.equal(recordsFor(s, 'slow')[0].outcome, 'hung_then_closed');
    assert.equal(s.executions.byTool.slow, undefined);
  }));

  test('SSE mode: reset_after with stream forwards progress, then loses the final answer', scoped(async (t, track) => {
    const sse = track(await startFaultyUpstream({ mode: 'sse', name: 'faulty-sse-direct' }));
    await sse.control.plan([{ tool: 'slow', sequence: [{ type: 'reset_after', stream: true }] }]);
    const params = { name: 'slow', arguments: { ms: 200, progress: 2 }, _meta: { progressToken: 'p-direct' } };
    await assert.rejects(rpc(sse.url, 'tools/call', params), /aborted|socket hang up|ECONNRESET/);
    const ok = await rpc(sse.url, 'tools/call', params);
    assert.equal(ok.headers['content-type'], 'text/event-stream');
    assert.equal(ok.sseAll.filter((m) => m.method === 'notifications/progress').length, 2);
    assert.equal(ok.sseMessages.length, 1);
    assert.match(ok.json.result.content[0].text, /slept/);
    const s = await sse.control.stats();
    assert.equal(s.executions.byTool.slow, 2);
    assert.equal(recordsFor(s, 'slow')[0].outcome, 'reset_after_run');
  }));

  test('seeded random faults hit about the asked rate', scoped(async () => {
    await up.control.reset();
    await up.control.plan([{ tool: 'read_data', random: { rate: 0.25, seed: 7, faults: ['503', 'reset_before'] } }]);
    let failures = 0;
    for (let i = 0; i < 200; i++) {
      const ok = await callTool(up.url, 'read_data', {}).then((r) => r.status === 200, () => false);
      if (!ok) failures++;
    }
    const s = await up.control.stats();
    assert.equal(s.attempts.byTool.read_data, 200);
    assert.equal(failures, (s.faults['503'] ?? 0) + (s.faults.reset_before ?? 0));
    assert.ok(failures > 25 && failures < 75, `25% of 200 faulted: got ${failures}`);
  }));
});

describe('retries through Bulwark', { skip: kDirect ? 'BULWARK_BIN=direct: proxy-only behaviour' : false, timeout: 300000 }, () => {
  let up; // the shared JSON-mode fixture; each test resets it
  before(async () => {
    up = await startFaultyUpstream({ mode: 'json' });
  });
  after(async () => {
    await stopAll(up);
  });

  test('a read-only tool with 25% injected 503s and resets: 0 client-visible errors in 500 calls', { timeout: 90000 },
       scoped(async (t, track) => {
    // Faults are independent draws, so a call fails only after max_attempts faults in a row:
    // 0.25^3 * 500 = 7.8 expected failures with the default 3 attempts, 0.25^8 * 500 = 0.008
    // with 8. Retries cost about 0.33 per request, well inside the default budget ratio 0.5.
    await up.control.reset();
    const bw = await bulwarkWith(track, up.url, makeConfig(up.url, { retry: { max_attempts: 8 } }));
    const c = await connectClient(bw.url);
    try {
      const { tools } = await c.client.listTools(); // Bulwark learns readOnlyHint here
      assert.ok(tools.some((x) => x.name === 'read_data'));
      await up.control.plan([{ tool: 'read_data',
                               random: { rate: 0.25, seed: 20260728, faults: ['503', 'reset_before', 'reset_after'] } }]);
      const before = sumSamples(await bw.metrics(), 'bulwark_upstream_attempts_total');
      const kCalls = 500;
      const errors = [];
      const started = performance.now();
      for (let i = 0; i < kCalls; i++) {
        try {
          const r = await c.client.callTool({ name: 'read_data', arguments: { key: `k${i}` } });
          if (r.isError || r.content?.[0]?.text !== `data for k${i}`) errors.push(`call ${i}: ${JSON.stringify(r)}`);
        } catch (e) {
          errors.push(`call ${i}: ${e.message}`);
        }
      }
      const seconds = (performance.now() - started) / 1000;
      const s = await up.control.stats();
      const after = sumSamples(await bw.metrics(), 'bulwark_upstream_attempts_total');
      const fixtureAttempts = s.attempts.byTool.read_data;
      const faulted = (s.faults['503'] ?? 0) + (s.faults.reset_before ?? 0) + (s.faults.reset_after ?? 0);
      const line = `retries-25pct: calls=${kCalls} client_errors=${errors.length} ` +
        `error_rate=${(errors.length / kCalls * 100).toFixed(2)}% fixture_attempts=${fixtureAttempts} ` +
        `attempts_per_request=${(fixtureAttempts / kCalls).toFixed(3)} injected_faults=${faulted} ` +
        `(503=${s.faults['503'] ?? 0} reset_before=${s.faults.reset_before ?? 0} reset_after=${s.faults.reset_after ?? 0}) ` +
        `bulwark_upstream_attempts_total_delta=${after - before} ` +
        `metric_attempts_per_request=${((after - before) / kCalls).toFixed(3)} executions=${s.executions.byTool.read_data} ` +
        `seconds=${seconds.toFixed(1)}`;
      console.log(line);
      t.diagnostic(line);
      assert.deepEqual(errors.slice(0, 10), [], `${errors.length} client-visible errors`);
      assert.ok(faulted > 0.2 * kCalls, `faults were injected (${faulted})`);
      assert.equal(fixtureAttempts, kCalls + faulted, 'every fault cost one more attempt, nothing else did');
      assert.equal(after - before, fixtureAttempts, 'bulwark_upstream_attempts_total counts the attempts the upstream saw');
    } finally {
      await c.close();
    }
  }, () => [up]));

  test('write_record whose answer is lost after it ran: runs once per call, the client gets a clear error',
       scoped(async (t, track) => {
    // The first lost call goes out on the keep-alive connection that tools/list left idle in
    // Bulwark's pool, the later ones on fresh connections (each reset closes one): a reset
    // without a response byte on a reused connection is no proof that the tool did not run.
    await up.control.reset();
    const bw = await bulwarkWith(track, up.url, makeConfig(up.url, { retry: { max_attempts: 5 } }));
    const c = await connectClient(bw.url);
    try {
      await c.client.listTools();
      await up.control.plan([{ tool: 'write_record', then: 'reset_after' }]);
      // SDK client: the call rejects.
      for (let i = 0; i < 3; i++) {
        await assert.rejects(c.client.callTool({ name: 'write_record', arguments: { key: `lost-sdk-${i}` } }),
                             (e) => e instanceof Error, `call ${i} must fail`);
      }
    } finally {
      await c.close();
    }
    // Raw HTTP: the error is a JSON-RPC error naming the class (HTTP 200, or 502).
    const res = await callTool(bw.url, 'write_record', { key: 'lost-raw' }, { id: 'lost-raw-1' });
    assert.ok(res.status === 200 || res.status === 502, `status ${res.status} (200 or 502)`);
    const error = jsonRpcError(res, 'lost answer');
    assert.equal(res.json.id, 'lost-raw-1', 'the client\'s id is kept');
    assert.equal(error.data?.class, 'upstream', `error.data.class: ${JSON.stringify(error)}`);
    const s = await up.control.stats();
    for (const key of ['lost-sdk-0', 'lost-sdk-1', 'lost-sdk-2', 'lost-raw']) {
      assert.equal(s.executions.byKey[key], 1, `${key} ran exactly once`);
    }
    assert.equal(s.attempts.byTool.write_record, 4, 'one attempt per client call');
  }, () => [up]));

  test('a truncated JSON answer to a call that cannot be retried becomes a clear -32603 error, never broken JSON',
       scoped(async (t, track) => {
    await up.control.reset();
    const bw = await bulwarkWith(track, up.url, makeConfig(up.url, { retry: { max_attempts: 5 } }));
    assert.equal((await rpc(bw.url, 'tools/list', {})).status, 200);
    await up.control.plan([{ tool: 'write_record', sequence: ['malformed'] }]);
    const res = await callTool(bw.url, 'write_record', { key: 'garbled-1' }, { id: 'garbled-1' });
    assert.equal(res.status, 502, res.body.slice(0, 300));
    const error = jsonRpcError(res, 'malformed answer');
    assert.equal(res.json.id, 'garbled-1');
    assert.equal(error.code, -32603);
    assert.equal(error.data?.class, 'protocol', JSON.stringify(error));
    assert.match(error.data?.detail ?? '', /not a JSON-RPC response/);
    const s = await up.control.stats();
    assert.equal(s.attempts.byTool.write_record, 1, 'not retried: it may have run');
  }, () => [up]));

  test('a 503 before running: retried only when the config marks the tool idempotent', scoped(async (t, track) => {
    await up.control.reset();
    // never_ran_statuses: [] -- by default a 503 means the request never ran (issue #14, tested in
    // discovery.test.mjs); here it is a failure that may have run.
    const plain = await bulwarkWith(track, up.url, makeConfig(up.url, { retry: { never_ran_statuses: [] } }),
                                    'bulwark-plain');
    const marked = await bulwarkWith(track, up.url, makeConfig(up.url, {
      tools: [{ match: 'write_record', idempotent: true }],
    }), 'bulwark-idempotent');
    for (const bw of [plain, marked]) {
      assert.equal((await rpc(bw.url, 'tools/list', {})).status, 200); // annotations learned
    }

    await up.control.plan([{ tool: 'write_record', sequence: ['503', '503'] }]);
    const viaMarked = await callTool(marked.url, 'write_record', { key: 'marked-1' });
    assert.equal(viaMarked.status, 200, `idempotent: retried to success (${viaMarked.body.slice(0, 300)})`);
    assert.match(viaMarked.json?.result?.content?.[0]?.text ?? '', /wrote marked-1/);
    let s = await up.control.stats();
    assert.equal(s.attempts.byTool.write_record, 3, 'two 503s, then the success');
    assert.equal(s.executions.byKey['marked-1'], 1);

    await up.control.reset();
    await up.control.plan([{ tool: 'write_record', sequence: ['503'] }]);
    const viaPlain = await callTool(plain.url, 'write_record', { key: 'plain-1' });
    assert.ok(viaPlain.status !== 200 || viaPlain.json?.error,
              `not idempotent: the 503 is not retried, the client sees a failure (${viaPlain.status} ${viaPlain.body.slice(0, 300)})`);
    s = await up.control.stats();
    assert.equal(s.attempts.byTool.write_record, 1, 'no retry of a tool that may have run');
    assert.equal(s.executions.byKey['plain-1'], undefined);

    // The SDK client sees the same.
    await up.control.reset();
    await up.control.plan([{ tool: 'write_record', sequence: ['503'] }]);
    const c = await connectClient(plain.url);
    try {
      await assert.rejects(c.client.callTool({ name: 'write_record', arguments: { key: 'plain-sdk' } }));
    } finally {
      await c.close();
    }
    s = await up.control.stats();
    assert.equal(s.attempts.byTool.write_record, 1);
  }, () => [up]));

  test('connection refused: retried within the deadline until the upstream comes up (even a non-idempotent tool)',
       scoped(async (t, track) => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/mcp`;
    const bw = await bulwarkWith(track, url, makeConfig(url, {
      defaults: { timeout: '20s', per_try_timeout: '2s' },
      // ~100 ms mean backoff: 100 attempts cover ~10 s, however slowly the fixture starts.
      retry: { max_attempts: 100, backoff: { base: '50ms', multiplier: 2, max: '200ms' },
               budget: { ratio: 0.5, min_per_second: 100, window: '10s' } },
    }));
    const pending = callTool(bw.url, 'write_record', { key: 'refused-1' }, { id: 'refused-1', timeoutMs: 25000 });
    pending.catch(() => {});
    // Retries against the closed port are under way before the upstream exists.
    await pollUntil(async () => {
      const m = await bw.metrics();
      return sumSamples(m, 'bulwark_upstream_attempts_total') >= 2 ||
             sumSamples(m, 'bulwark_retries_total') >= 1;
    }, { timeoutMs: 5000, what: 'Bulwark retries the refused connection (attempts >= 2 or retries >= 1 in /metrics)' });
    const late = track(await startFaultyUpstream({ mode: 'json', port, name: 'faulty-late' }));
    const res = await pending;
    assert.equal(res.status, 200, `the call succeeds once the upstream is up: ${res.body.slice(0, 300)}`);
    assert.match(res.json?.result?.content?.[0]?.text ?? '', /wrote refused-1/);
    const s = await late.control.stats();
    assert.equal(s.executions.byKey['refused-1'], 1);
    assert.equal(s.attempts.byTool.write_record, 1, 'only the attempt that connected reached the upstream');
  }));

  test('Retry-After: 1 on a 503 and on a 429 is waited for when it fits the deadline', scoped(async (t, track) => {
    await up.control.reset();
    const bw = await bulwarkWith(track, up.url, makeConfig(up.url));
    assert.equal((await rpc(bw.url, 'tools/list', {})).status, 200);
    for (const status of [503, 429]) {
      await up.control.reset();
      await up.control.plan([{ tool: 'read_data', sequence: [{ type: 'status', status, retryAfter: 1 }] }]);
      const res = await callTool(bw.url, 'read_data', { key: `ra-${status}` });
      assert.equal(res.status, 200, `${status} then success: ${res.body.slice(0, 300)}`);
      assert.equal(res.json?.result?.content?.[0]?.text, `data for ra-${status}`);
      const recs = recordsFor(await up.control.stats(), 'read_data');
      assert.equal(recs.length, 2, `two attempts after a ${status}`);
      const gap = recs[1].at - recs[0].at;
      assert.ok(gap >= 950, `${status}: second attempt ${gap.toFixed(0)} ms after the first (Retry-After: 1 asks >= 1000)`);
      assert.ok(gap < 1600, `${status}: second attempt ${gap.toFixed(0)} ms after the first (no needless extra wait)`);
      assert.ok(res.elapsedMs >= 950 && res.elapsedMs < 2000, `client waited ${res.elapsedMs.toFixed(0)} ms`);
    }
  }, () => [up]));

  test('Retry-After that does not fit the deadline (timeout 500ms): no wait, the 503/429 or an error at once',
       scoped(async (t, track) => {
    await up.control.reset();
    const bw = await bulwarkWith(track, up.url, makeConfig(up.url, {
      tools: [{ match: 'set_value', idempotent: true, timeout: '500ms' }],
    }));
    for (const status of [503, 429]) {
      await up.control.reset();
      await up.control.plan([{ tool: 'set_value', sequence: [{ type: 'status', status, retryAfter: 1 }] }]);
      const res = await callTool(bw.url, 'set_value', { key: `nofit-${status}` });
      assert.ok(res.elapsedMs < 250, `${status}: answered after ${res.elapsedMs.toFixed(0)} ms (must not wait for Retry-After nor the deadline)`);
      const passedThrough = res.status === status;
      const overloadError = res.json?.error?.data?.class === 'overload';
      assert.ok(passedThrough || overloadError,
                `${status}: the ${status} passed through, or a JSON-RPC error of class overload (got ${res.status} ${res.body.slice(0, 300)})`);
      if (passedThrough) assert.equal(res.headers['retry-after'], '1', 'Retry-After passed through');
      const s = await up.control.stats();
      assert.equal(s.attempts.byTool.set_value, 1, `${status}: one attempt`);
    }
  }, () => [up]));

  test('deadline (tool timeout 1s): a hanging call gets a timeout error within 1.1 s and the upstream request is cancelled',
       scoped(async (t, track) => {
    await up.control.reset();
    const bw = await bulwarkWith(track, up.url, makeConfig(up.url, { tools: [{ match: 'slow', timeout: '1s' }] }));
    assert.equal((await rpc(bw.url, 'tools/list', {})).status, 200);
    const res = await callTool(bw.url, 'slow', { ms: 20000 }, { id: 'deadline-1', timeoutMs: 5000 });
    t.diagnostic(`deadline 1000 ms: error after ${res.elapsedMs.toFixed(1)} ms`);
    assert.ok(res.elapsedMs <= 1100, `error after ${res.elapsedMs.toFixed(0)} ms (deadline 1000 ms + 100 ms)`);
    assert.ok(res.elapsedMs >= 950, `error after ${res.elapsedMs.toFixed(0)} ms: not before the deadline`);
    assert.ok(res.status === 200 || res.status === 504, `status ${res.status} (200 or 504)`);
    const error = jsonRpcError(res, 'deadline');
    assert.equal(res.json.id, 'deadline-1');
    assert.equal(error.data?.class, 'timeout', `error.data.class: ${JSON.stringify(error)}`);
    // Stateless upstream: cancellation is the closed connection; the tool sees its abort signal.
    const s = await pollUntil(async () => {
      const st = await up.control.stats();
      const rec = recordsFor(st, 'slow')[0];
      return rec?.closedAt ? st : null;
    }, { timeoutMs: 2000, what: 'the fixture sees the hanging request closed' });
    const rec = recordsFor(s, 'slow')[0];
    assert.ok(rec.closedAt - rec.at < 1200, `closed ${(rec.closedAt - rec.at).toFixed(0)} ms after it arrived`);
    assert.equal(rec.outcome, 'client_closed');
    const run = await pollUntil(async () => (await up.control.stats()).runs.find((r) => r.tool === 'slow' && r.endedAt),
                                { timeoutMs: 2000, what: 'the slow tool stops' });
    assert.equal(run.aborted, true, 'the tool was cancelled');
    assert.equal(s.attempts.byTool.slow, 1);
  }, () => [up]));

  test('deadline in session mode (SDK client): the error within 1.1 s, notifications/cancelled sent upstream',
       scoped(async (t, track) => {
    const sup = track(await startFaultyUpstream({ mode: 'session', name: 'faulty-session' }));
    const bw = await bulwarkWith(track, sup.url, makeConfig(sup.url, { tools: [{ match: 'slow', timeout: '1s' }] }));
    const c = await connectClient(bw.url);
    try {
      await c.client.listTools();
      const started = performance.now();
      const error = await c.client.callTool({ name: 'slow', arguments: { ms: 20000 } }, undefined, { timeout: 10000 })
        .then((r) => assert.fail(`expected an error, got ${JSON.stringify(r)}`), (e) => e);
      const elapsed = performance.now() - started;
      t.diagnostic(`session mode, deadline 1000 ms: error after ${elapsed.toFixed(1)} ms`);
      assert.ok(elapsed <= 1100, `error after ${elapsed.toFixed(0)} ms (deadline 1000 ms + 100 ms)`);
      assert.ok(error.data?.class === 'timeout' || error.code === 504,
                `a timeout error (data.class timeout or HTTP 504): ${error.code} ${error.message} ${JSON.stringify(error.data)}`);
    } finally {
      await c.close();
    }
    const s = await pollUntil(async () => {
      const st = await sup.control.stats();
      return st.records.some((r) => r.method === 'notifications/cancelled') ? st : null;
    }, { timeoutMs: 2000, what: 'notifications/cancelled reaches the session-mode upstream' });
    const slowRec = recordsFor(s, 'slow')[0];
    const cancel = s.records.find((r) => r.method === 'notifications/cancelled');
    assert.deepEqual(cancel.cancelledRequestId, slowRec.id, 'the cancellation names the upstream request');
    assert.equal(cancel.sessionId, slowRec.sessionId);
    const run = await pollUntil(async () => (await sup.control.stats()).runs.find((r) => r.tool === 'slow' && r.endedAt),
                                { timeoutMs: 2000, what: 'the slow tool stops' });
    assert.equal(run.aborted, true);
  }));

  test('per-try timeout 200ms: a read-only call that hangs on its first attempt succeeds on the second',
       scoped(async (t, track) => {
    await up.control.reset();
    const bw = await bulwarkWith(track, up.url, makeConfig(up.url, {
      tools: [{ match: 'read_data', per_try_timeout: '200ms' }],
    }));
    const c = await connectClient(bw.url);
    try {
      await c.client.listTools(); // read_data's readOnlyHint makes the retry safe
      await up.control.plan([{ tool: 'read_data', sequence: ['hang'] }]);
      const started = performance.now();
      const r = await c.client.callTool({ name: 'read_data', arguments: { key: 'pertry' } });
      const elapsed = performance.now() - started;
      assert.equal(r.content[0].text, 'data for pertry');
      assert.ok(elapsed >= 190 && elapsed < 1500, `answered after ${elapsed.toFixed(0)} ms`);
    } finally {
      await c.close();
    }
    const s = await up.control.stats();
    const recs = recordsFor(s, 'read_data');
    assert.equal(recs.length, 2);
    assert.equal(recs[0].fault, 'hang');
    assert.ok(recs[0].closedAt, 'the hanging attempt was cancelled (connection closed)');
    const closedAfter = recs[0].closedAt - recs[0].at;
    assert.ok(closedAfter >= 180 && closedAfter < 500, `first attempt closed after ${closedAfter.toFixed(0)} ms`);
    assert.equal(s.executions.byTool.read_data, 1);
    const m = await bw.metrics();
    assert.ok(sumSamples(m, 'bulwark_timeouts_total', { kind: 'per_try' }) >= 1 ||
              sumSamples(m, 'bulwark_timeouts_total') >= 1, 'bulwark_timeouts_total counts it');
  }, () => [up]));

  test('retry budget: an upstream failing 100% gets at most N + ratio*N + floor*window attempts', scoped(async (t, track) => {
    await up.control.reset();
    const ratio = 0.2;
    const minPerSecond = 1;
    const windowSeconds = 10;
    // The budget alone is under test: circuit breakers (on by default) would stop the storm
    // sooner and hide it, so they are off here (recovery.test.mjs tests them).
    const bw = await bulwarkWith(track, up.url, makeConfig(up.url, {
      defaults: { circuit_breaker: { enabled: false } },
      retry: { max_attempts: 3, backoff: { base: '1ms', multiplier: 2, max: '5ms' },
               budget: { ratio, min_per_second: minPerSecond, window: `${windowSeconds}s` } },
    }));
    assert.equal((await rpc(bw.url, 'tools/list', {})).status, 200);
    await up.control.plan([{ tool: 'read_data', then: '503' }]);
    const kRequests = 100;
    const started = performance.now();
    let failures = 0;
    for (let i = 0; i < kRequests; i++) {
      const res = await callTool(bw.url, 'read_data', { key: `b${i}` });
      if (res.status !== 200 || res.json?.error) failures++;
    }
    const seconds = (performance.now() - started) / 1000;
    assert.ok(seconds < windowSeconds / 2, `the run (${seconds.toFixed(1)} s) stays inside one budget window`);
    const s = await up.control.stats();
    // README: retries allowed in the window = ratio * requests in the window + min_per_second * window.
    // Requests in the window: the N calls and the tools/list before them.
    const requestsInWindow = kRequests + 1;
    const bound = kRequests + Math.floor(ratio * requestsInWindow) + minPerSecond * windowSeconds;
    const attempts = s.attempts.byTool.read_data;
    const line = `retries-budget: requests=${kRequests} upstream_attempts=${attempts} bound=${bound} ` +
                 `unbounded=${kRequests * 3} client_failures=${failures}`;
    console.log(line);
    t.diagnostic(line);
    assert.equal(failures, kRequests, 'every request fails (the upstream is down)');
    assert.ok(attempts > kRequests, `some retries happened (${attempts} attempts)`);
    assert.ok(attempts <= bound, `${attempts} upstream attempts exceed the budget bound ${bound}`);
    const m = await bw.metrics();
    assert.ok(sumSamples(m, 'bulwark_retry_budget_exhausted_total') > 0, 'bulwark_retry_budget_exhausted_total > 0');
  }, () => [up]));

  test('an isError result and a JSON-RPC -32602 pass through byte-equal and are never retried', scoped(async (t, track) => {
    await up.control.reset();
    // Default `on` (upstream, timeout, overload): neither isError (tool_error) nor -32602
    // (invalid_input) is retryable, and a retry-safe count of 5 attempts changes nothing.
    const bw = await bulwarkWith(track, up.url, makeConfig(up.url, { retry: { max_attempts: 5 } }));
    assert.equal((await rpc(bw.url, 'tools/list', {})).status, 200);
    const failed = await callTool(bw.url, 'fail_tool', {}, { id: 'iserr-1' });
    const badArgs = await callTool(bw.url, 'bad_args', { n: 'not a number' }, { id: 'badargs-1' });
    const s = await up.control.stats();
    const [failRec] = recordsFor(s, 'fail_tool');
    const [badRec] = recordsFor(s, 'bad_args');
    assert.equal(failed.status, 200);
    assert.equal(failed.json?.result?.isError, true);
    assert.equal(failed.body, failRec.responseBody, 'isError result byte-equal to the upstream\'s');
    assert.equal(badArgs.status, 200);
    assert.equal(badArgs.json?.error?.code, -32602);
    assert.equal(badArgs.body, badRec.responseBody, '-32602 error byte-equal to the upstream\'s');
    assert.equal(s.attempts.byTool.fail_tool, 1, 'isError not retried');
    assert.equal(s.attempts.byTool.bad_args, 1, '-32602 not retried');
    // The SDK client sees them as the upstream sent them.
    const c = await connectClient(bw.url);
    try {
      const r = await c.client.callTool({ name: 'fail_tool', arguments: {} });
      assert.equal(r.isError, true);
      assert.equal(r.content[0].text, 'fail_tool failed as asked');
      await assert.rejects(c.client.callTool({ name: 'bad_args', arguments: { n: 'x' } }), (e) => e.code === -32602);
    } finally {
      await c.close();
    }
    const s2 = await up.control.stats();
    assert.equal(s2.attempts.byTool.fail_tool, 2);
    assert.equal(s2.attempts.byTool.bad_args, 2);
  }, () => [up]));

  test('metrics families and one JSON log line per handled error, no Authorization value anywhere',
       scoped(async (t, track) => {
    await up.control.reset();
    const bw = await bulwarkWith(track, up.url, makeConfig(up.url, {
      tools: [{ match: 'slow', timeout: '500ms' }],
    }));
    const auth = { authorization: `Bearer ${kSecret}` };
    const c = await connectClient(bw.url, { headers: auth });
    try {
      await c.client.listTools();
      await up.control.plan([
        { tool: 'read_data', sequence: ['503'] },
        { tool: 'write_record', then: 'reset_after' },
      ]);
      const r = await c.client.callTool({ name: 'read_data', arguments: { key: 'm1' } });
      assert.equal(r.content[0].text, 'data for m1', 'the 503 was retried');
    } finally {
      await c.close();
    }
    const lost = await callTool(bw.url, 'write_record', { key: 'm2' }, { id: 'log-lost-1', headers: auth });
    assert.equal(jsonRpcError(lost, 'lost').data?.class, 'upstream');
    const timedOut = await callTool(bw.url, 'slow', { ms: 20000 }, { id: 'log-timeout-1', headers: auth });
    assert.equal(jsonRpcError(timedOut, 'timeout').data?.class, 'timeout');
    assert.ok(!up.proc.err.includes('faulty_upstream:'), `the fixture itself had no error: ${up.proc.err}`);

    const m = await bw.metrics();
    for (const family of ['bulwark_upstream_attempts_total', 'bulwark_retries_total', 'bulwark_errors_total',
                          'bulwark_timeouts_total', 'bulwark_retry_budget_exhausted_total']) {
      assert.ok(findSamples(m, family).length > 0, `/metrics has ${family}`);
    }
    assert.ok(sumSamples(m, 'bulwark_upstream_attempts_total') >= 5);
    const retries = findSamples(m, 'bulwark_retries_total', { tool: 'read_data' });
    assert.ok(retries.length > 0 && retries.every((x) => 'reason' in x.labels), 'retries_total{tool,reason}');
    assert.ok(sumSamples(m, 'bulwark_retries_total', { tool: 'read_data' }) >= 1);
    assert.ok(sumSamples(m, 'bulwark_errors_total', { class: 'upstream', tool: 'write_record' }) >= 1,
              'errors_total{class="upstream",tool="write_record"}');
    assert.ok(sumSamples(m, 'bulwark_errors_total', { class: 'timeout', tool: 'slow' }) >= 1,
              'errors_total{class="timeout",tool="slow"}');
    assert.ok(sumSamples(m, 'bulwark_timeouts_total') >= 1);
    assert.ok(findSamples(m, 'bulwark_timeouts_total').every((x) => 'kind' in x.labels), 'timeouts_total{kind}');

    const unquote = (v) => String(v).replace(/^"(.*)"$/, '$1');
    const lines = await pollUntil(() => {
      const all = jsonLogLines(bw.logs());
      const lostLines = all.filter((l) => unquote(l.request_id) === 'log-lost-1' && l.class);
      const timeoutLines = all.filter((l) => unquote(l.request_id) === 'log-timeout-1' && l.class);
      return lostLines.length > 0 && timeoutLines.length > 0 ? { lostLines, timeoutLines } : null;
    }, { timeoutMs: 3000, what: 'error log lines for log-lost-1 and log-timeout-1 on stderr' });
    assert.equal(lines.lostLines.length, 1, 'one log line for the lost answer');
    assert.equal(lines.timeoutLines.length, 1, 'one log line for the timeout');
    for (const [line, cls, tool] of [[lines.lostLines[0], 'upstream', 'write_record'],
                                     [lines.timeoutLines[0], 'timeout', 'slow']]) {
      for (const field of ['time', 'class', 'method', 'tool', 'request_id', 'attempt', 'upstream_status', 'jsonrpc_code']) {
        assert.ok(field in line, `log line has ${field}: ${JSON.stringify(line)}`);
      }
      assert.ok('duration_ms' in line || 'duration' in line, `log line has a duration: ${JSON.stringify(line)}`);
      assert.equal(line.class, cls);
      assert.equal(line.method, 'tools/call');
      assert.equal(line.tool, tool);
      assert.ok(Number(line.attempt) >= 1);
    }
    // Each client-visible error Bulwark answered is one log line (the aggregate view).
    const failedLines = jsonLogLines(bw.logs()).filter((l) => l.class && l.request_id !== undefined);
    for (const cls of ['upstream', 'timeout']) {
      assert.equal(failedLines.filter((l) => l.class === cls).length, sumSamples(m, 'bulwark_errors_total', { class: cls }),
                   `one log line per ${cls} error counted in bulwark_errors_total`);
    }
    assert.ok(!bw.logs().includes(kSecret), 'the Authorization value never reaches the log');
    assert.ok(!(await bw.metricsText()).includes(kSecret), 'nor /metrics');
    // The fixture did receive it: the header is forwarded, just never logged.
    assert.ok((await up.control.stats()).records.some((r) => r.tool === 'write_record' && r.authorization));
  }, () => [up]));
});

describe('retries through Bulwark, SSE replies', { skip: kDirect ? 'BULWARK_BIN=direct: proxy-only behaviour' : false, timeout: 180000 }, () => {
  let up; // stateless, SSE replies
  before(async () => {
    up = await startFaultyUpstream({ mode: 'sse' });
  });
  after(async () => {
    await stopAll(up);
  });

  test('25% injected 503s and resets on a read-only tool: 0 client-visible errors in 200 calls', { timeout: 60000 },
       scoped(async (t, track) => {
    await up.control.reset();
    const bw = await bulwarkWith(track, up.url, makeConfig(up.url, { retry: { max_attempts: 8 } }));
    const c = await connectClient(bw.url);
    try {
      await c.client.listTools();
      await up.control.plan([{ tool: 'read_data',
                               random: { rate: 0.25, seed: 4242, faults: ['503', 'reset_before', 'reset_after'] } }]);
      const kCalls = 200;
      const errors = [];
      for (let i = 0; i < kCalls; i++) {
        try {
          const r = await c.client.callTool({ name: 'read_data', arguments: { key: `s${i}` } });
          if (r.isError || r.content?.[0]?.text !== `data for s${i}`) errors.push(`call ${i}: ${JSON.stringify(r)}`);
        } catch (e) {
          errors.push(`call ${i}: ${e.message}`);
        }
      }
      const s = await up.control.stats();
      const faulted = (s.faults['503'] ?? 0) + (s.faults.reset_before ?? 0) + (s.faults.reset_after ?? 0);
      const line = `retries-25pct-sse: calls=${kCalls} client_errors=${errors.length} ` +
                   `fixture_attempts=${s.attempts.byTool.read_data} injected_faults=${faulted} ` +
                   `attempts_per_request=${(s.attempts.byTool.read_data / kCalls).toFixed(3)}`;
      console.log(line);
      t.diagnostic(line);
      assert.deepEqual(errors.slice(0, 10), [], `${errors.length} client-visible errors`);
      assert.equal(s.attempts.byTool.read_data, kCalls + faulted);
    } finally {
      await c.close();
    }
  }, () => [up]));

  test('progress from a failed attempt is forwarded; the final answer comes once, from the successful attempt',
       scoped(async (t, track) => {
    await up.control.reset();
    const bw = await bulwarkWith(track, up.url, makeConfig(up.url));
    assert.equal((await rpc(bw.url, 'tools/list', {})).status, 200); // slow is readOnlyHint
    await up.control.plan([{ tool: 'slow', sequence: [{ type: 'reset_after', stream: true }] }]);
    const res = await rpc(bw.url, 'tools/call',
                          { name: 'slow', arguments: { ms: 200, progress: 2 }, _meta: { progressToken: 'p-raw' } },
                          { id: 'sse-progress-1' });
    assert.equal(res.status, 200, res.body.slice(0, 300));
    assert.match(res.headers['content-type'] ?? '', /^text\/event-stream/);
    const progress = res.sseAll.filter((m) => m.method === 'notifications/progress');
    assert.equal(progress.length, 4, `2 progress events from each attempt: ${res.body.slice(0, 1000)}`);
    assert.ok(progress.every((m) => m.params.progressToken === 'p-raw'));
    assert.equal(res.sseMessages.length, 1, `exactly one final answer: ${res.body.slice(0, 1000)}`);
    assert.equal(res.json.id, 'sse-progress-1');
    assert.match(res.json.result?.content?.[0]?.text ?? '', /slept/);
    const s = await up.control.stats();
    assert.equal(s.attempts.byTool.slow, 2);
    assert.equal(s.executions.byTool.slow, 2);

    // The SDK client: progress callbacks from both attempts, one result.
    await up.control.reset();
    await up.control.plan([{ tool: 'slow', sequence: [{ type: 'reset_after', stream: true }] }]);
    const c = await connectClient(bw.url);
    try {
      const seen = [];
      const r = await c.client.callTool({ name: 'slow', arguments: { ms: 200, progress: 2 } }, undefined,
                                        { onprogress: (p) => seen.push(p.progress) });
      assert.match(r.content[0].text, /slept/);
      assert.deepEqual(seen, [1, 2, 1, 2]);
    } finally {
      await c.close();
    }
  }, () => [up]));

  test('write_record answer lost after the headers went out: runs once, one error answer', scoped(async (t, track) => {
    await up.control.reset();
    const bw = await bulwarkWith(track, up.url, makeConfig(up.url, { retry: { max_attempts: 5 } }));
    assert.equal((await rpc(bw.url, 'tools/list', {})).status, 200);
    await up.control.plan([{ tool: 'write_record', then: { type: 'reset_after', headers: true } }]);
    const res = await callTool(bw.url, 'write_record', { key: 'sse-lost-1' }, { id: 'sse-lost-1' });
    assert.ok(res.status === 200 || res.status === 502, `status ${res.status}`);
    if (res.sseMessages) assert.equal(res.sseMessages.length, 1, `one final answer: ${res.body.slice(0, 500)}`);
    const error = jsonRpcError(res, 'lost SSE answer');
    assert.equal(res.json.id, 'sse-lost-1');
    assert.equal(error.data?.class, 'upstream', JSON.stringify(error));
    const s = await up.control.stats();
    assert.equal(s.executions.byKey['sse-lost-1'], 1, 'ran exactly once');
    assert.equal(s.attempts.byTool.write_record, 1);
  }, () => [up]));
});
