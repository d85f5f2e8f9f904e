// Recovery without the upstream (issue 4, the parts that have landed): the response cache
// (fresh hits answered by Bulwark, one entry per caller unless shared), stale-if-error after
// retries fail, and configured fallbacks, each marked in the result's _meta.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test tests/integration/recovery.test.mjs
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { kDirect, startBulwark } from './lib/peers.mjs';
import { parseMetrics, sumSamples, findSamples } from './lib/metrics.mjs';
import { callTool, makeConfig, recordsFor, rpc, scoped, startFaultyUpstream, tempDir,
         writeConfig } from './lib/faulty.mjs';

let dir;
let configCount = 0;
before(async () => {
  dir = await tempDir('bulwark-recovery-');
});
after(async () => {
  await dir?.remove();
});

async function metricsText(bw) {
  const res = await fetch(`${bw.admin}/metrics`);
  return parseMetrics(await res.text());
}

describe('recovery through Bulwark', { skip: kDirect ? 'proxy-only behaviour' : false, timeout: 60000 }, () => {
  let up;
  before(async () => {
    up = await startFaultyUpstream({ mode: 'json', name: 'faulty-recovery' });
  });
  after(async () => {
    await up?.stop();
  });

  async function bulwarkWith(track, config) {
    const file = await writeConfig(dir.file(`config-${++configCount}.yaml`), config);
    return track(await startBulwark(up.url, { config: file, name: 'bulwark-recovery' }));
  }

  test('a fresh cache hit is answered without the upstream, with the client\'s own id', scoped(async (t, track) => {
    await up.control.reset();
    const bw = await bulwarkWith(track, makeConfig(up.url, {
      tools: [{ match: 'read_data', cache: { ttl: '30s' } }],
    }));
    const first = await callTool(bw.url, 'read_data', { key: 'a', b: 1 }, { id: 'c-1', headers: { authorization: 'Bearer one' } });
    // Same arguments in another key order and with a progress token: the same entry.
    const again = await rpc(bw.url, 'tools/call',
                            { arguments: { b: 1, key: 'a' }, name: 'read_data', _meta: { progressToken: 'p9' } },
                            { id: 77, headers: { authorization: 'Bearer one' } });
    assert.equal(first.status, 200);
    assert.equal(again.status, 200);
    assert.equal(again.json.id, 77);
    assert.deepEqual(again.json.result, first.json.result);
    const s = await up.control.stats();
    assert.equal(s.attempts.byTool.read_data, 1, 'the second call never reached the upstream');
    const m = await metricsText(bw);
    assert.equal(sumSamples(m, 'bulwark_cache_requests_total', { result: 'hit' }), 1);
    assert.equal(sumSamples(m, 'bulwark_cache_requests_total', { result: 'miss' }), 1);
  }));

  test('one caller\'s cached answer never reaches another caller', scoped(async (t, track) => {
    await up.control.reset();
    const bw = await bulwarkWith(track, makeConfig(up.url, {
      tools: [{ match: 'read_data', cache: { ttl: '30s' } }],
    }));
    await callTool(bw.url, 'read_data', { key: 'x' }, { headers: { authorization: 'Bearer alice' } });
    await callTool(bw.url, 'read_data', { key: 'x' }, { headers: { authorization: 'Bearer bob' } });
    await callTool(bw.url, 'read_data', { key: 'x' });  // no credentials: a caller of its own
    const s = await up.control.stats();
    assert.equal(s.attempts.byTool.read_data, 3, 'each caller went to the upstream once');
    await callTool(bw.url, 'read_data', { key: 'x' }, { headers: { authorization: 'Bearer bob' } });
    assert.equal((await up.control.stats()).attempts.byTool.read_data, 3, 'bob hits his own entry');
  }));

  test('scope: shared serves every caller from one entry', scoped(async (t, track) => {
    await up.control.reset();
    const bw = await bulwarkWith(track, makeConfig(up.url, {
      tools: [{ match: 'read_data', cache: { ttl: '30s', scope: 'shared' } }],
    }));
    await callTool(bw.url, 'read_data', { key: 's' }, { headers: { authorization: 'Bearer alice' } });
    await callTool(bw.url, 'read_data', { key: 's' }, { headers: { authorization: 'Bearer bob' } });
    assert.equal((await up.control.stats()).attempts.byTool.read_data, 1);
  }));

  test('stale-if-error: after retries fail, the stale entry is served and marked', scoped(async (t, track) => {
    await up.control.reset();
    const bw = await bulwarkWith(track, makeConfig(up.url, {
      retry: { max_attempts: 2 },
      tools: [{ match: 'read_data', cache: { ttl: '0s', stale_if_error: '1h' } }],
    }));
    assert.equal((await rpc(bw.url, 'tools/list', {})).status, 200);  // learn readOnlyHint
    const good = await callTool(bw.url, 'read_data', { key: 'st' }, { headers: { authorization: 'Bearer z' } });
    assert.equal(good.status, 200);
    await up.control.plan([{ tool: 'read_data', then: '503' }]);
    const stale = await callTool(bw.url, 'read_data', { key: 'st' }, { id: 'st-2', headers: { authorization: 'Bearer z' } });
    assert.equal(stale.status, 200, stale.body);
    assert.equal(stale.json.id, 'st-2');
    assert.equal(stale.json.result._meta['bulwark/stale'], true);
    assert.deepEqual(stale.json.result.content, good.json.result.content);
    const records = recordsFor(await up.control.stats(), 'read_data');
    assert.equal(records.length, 3, 'one good call, then two failed attempts before the stale answer');
    // Another caller has no entry: the 503 reaches it as the upstream sent it.
    const other = await callTool(bw.url, 'read_data', { key: 'st' }, { headers: { authorization: 'Bearer y' } });
    assert.equal(other.status, 503);
    const m = await metricsText(bw);
    assert.equal(sumSamples(m, 'bulwark_recoveries_total', { strategy: 'stale' }), 1);
    assert.equal(sumSamples(m, 'bulwark_cache_requests_total', { result: 'stale' }), 1);
  }));

  test('a configured fallback answers when the tool cannot be reached, marked in _meta', scoped(async (t, track) => {
    await up.control.reset();
    const bw = await bulwarkWith(track, makeConfig(up.url, {
      retry: { never_ran_statuses: [] },  // a 503 that may have run (by default it never ran)
      tools: [{ match: 'write_record', fallback: { text: 'Records are "unavailable" right now' } }],
    }));
    await up.control.plan([{ tool: 'write_record', then: '503' }]);
    const res = await callTool(bw.url, 'write_record', { key: 'f' }, { id: 9 });
    assert.equal(res.status, 200, res.body);
    assert.equal(res.json.id, 9);
    assert.equal(res.json.result._meta['bulwark/fallback'], true);
    assert.equal(res.json.result.content[0].text, 'Records are "unavailable" right now');
    assert.equal((await up.control.stats()).attempts.byTool.write_record, 1, 'not idempotent: no retry');
    const m = await metricsText(bw);
    assert.equal(sumSamples(m, 'bulwark_recoveries_total', { strategy: 'fallback' }), 1);
    assert.ok(findSamples(m, 'bulwark_fallbacks_total').length > 0);
  }));

  test('a tool\'s breaker opens at its threshold, fails fast while open, probes and closes',
       scoped(async (t, track) => {
    await up.control.reset();
    const bw = await bulwarkWith(track, makeConfig(up.url, {
      retry: { max_attempts: 1 },
      tools: [{ match: 'read_data',
                circuit_breaker: { failure_ratio: 0.5, min_requests: 4, window: '10s', open_for: '500ms' } }],
    }));
    assert.equal((await rpc(bw.url, 'tools/list', {})).status, 200);  // read_data becomes a known tool
    await up.control.plan([{ tool: 'read_data', then: '503' }]);
    for (let i = 0; i < 4; i++) {
      assert.equal((await callTool(bw.url, 'read_data', { key: `b${i}` })).status, 503);
    }
    const refused = await callTool(bw.url, 'read_data', { key: 'b4' }, { id: 'refused' });
    assert.equal(refused.status, 503);
    assert.equal(refused.json.id, 'refused');
    assert.equal(refused.json.error.data.class, 'overload');
    assert.match(refused.json.error.data.detail, /circuit open for read_data/);
    assert.ok(Number(refused.headers['retry-after']) >= 1, 'says when to come back');
    assert.equal((await up.control.stats()).attempts.byTool.read_data, 4, 'refused without the upstream');
    await up.control.plan([]);  // the upstream recovers
    await new Promise((r) => setTimeout(r, 600));  // open_for has passed: the next call probes
    assert.equal((await callTool(bw.url, 'read_data', { key: 'b5' })).status, 200);
    assert.equal((await callTool(bw.url, 'read_data', { key: 'b6' })).status, 200);
    const m = await metricsText(bw);
    assert.equal(sumSamples(m, 'bulwark_circuit_transitions_total', { target: 'read_data', from: 'closed', to: 'open' }), 1);
    assert.equal(sumSamples(m, 'bulwark_circuit_transitions_total', { target: 'read_data', from: 'open', to: 'half_open' }), 1);
    assert.equal(sumSamples(m, 'bulwark_circuit_transitions_total', { target: 'read_data', from: 'half_open', to: 'closed' }), 1);
    assert.equal(sumSamples(m, 'bulwark_circuit_state', { target: 'read_data' }), 0, 'closed again');
  }));

  test('fallback_enabled: false switches fallbacks off', scoped(async (t, track) => {
    await up.control.reset();
    const config = makeConfig(up.url, { tools: [{ match: 'write_record', fallback: { text: 'no' } }] });
    config.error_handling = { fallback_enabled: false };
    const bw = await bulwarkWith(track, config);
    await up.control.plan([{ tool: 'write_record', then: '503' }]);
    const res = await callTool(bw.url, 'write_record', { key: 'g' });
    assert.equal(res.status, 503);
  }));
});
