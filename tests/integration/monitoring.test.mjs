// Monitoring switches: access logs (one JSON line per request) and the cap on tool label values.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test tests/integration/monitoring.test.mjs
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { kDirect, startBulwark } from './lib/peers.mjs';
import { freePorts } from './lib/net.mjs';
import { parseMetrics, findSamples } from './lib/metrics.mjs';
import { callTool, jsonLogLines, makeConfig, pollUntil, rpc, scoped, startFaultyUpstream, tempDir,
         writeConfig } from './lib/faulty.mjs';

let dir;
before(async () => {
  dir = await tempDir('bulwark-monitoring-');
});
after(async () => {
  await dir?.remove();
});

describe('monitoring switches', { skip: kDirect ? 'proxy-only behaviour' : false, timeout: 60000 }, () => {
  let up;
  before(async () => {
    up = await startFaultyUpstream({ mode: 'json', name: 'faulty-monitoring' });
  });
  after(async () => {
    await up?.stop();
  });

  test('the upstream probe logs an error only when the upstream is unreachable', scoped(async (t, track) => {
    const [closedPort] = await freePorts(1);
    const down = track(await startBulwark(`http://127.0.0.1:${closedPort}/mcp`, { name: 'bulwark-probe-down' }));
    const reachable = track(await startBulwark(up.url, { name: 'bulwark-probe-up' }));
    const probeLine = (bw, msg) => jsonLogLines(bw.proc.err).find((l) => l.msg === msg);
    await pollUntil(() => probeLine(down, 'upstream unreachable') && probeLine(reachable, 'upstream reachable'),
                    { timeoutMs: 5000, what: 'the first probe result of each' });
    assert.match(probeLine(down, 'upstream unreachable').error, /ECONNREFUSED/);
    assert.ok(!('error' in probeLine(reachable, 'upstream reachable')), JSON.stringify(probeLine(reachable, 'upstream reachable')));
  }));

  test('log lines: cache hits marked, each failed attempt decided at debug level, the metrics\' ' +
       'method label, null where a timeout has no status or code, no empty session or give_up',
       scoped(async (t, track) => {
    const config = makeConfig(up.url, {
      retry: { max_attempts: 2 },
      tools: [{ match: 'read_data', idempotent: true, cache: { ttl: '60s' } },
              { match: 'slow', timeout: '400ms', retry: { max_attempts: 1 } }],
    });
    config.monitoring = { access_log: true };
    const file = await writeConfig(dir.file('log-fields.yaml'), config);
    const bw = track(await startBulwark(up.url, { config: file, name: 'bulwark-log-fields',
                                                  extraArgs: ['--log-level', 'debug'] }));
    await up.control.reset();
    await up.control.plan([{ tool: 'read_data', sequence: ['503'] }]);
    assert.equal((await callTool(bw.url, 'read_data', { key: 'k' }, { id: 'miss-1' })).status, 200);
    assert.equal((await callTool(bw.url, 'read_data', { key: 'k' }, { id: 'hit-1' })).status, 200);
    await callTool(bw.url, 'slow', { ms: 3000 }, { id: 'slow-1' });
    await rpc(bw.url, 'custom/unknown', {}, { id: 'odd-1' });

    const lines = () => jsonLogLines(bw.proc.err);
    const access = (id) => lines().find((l) => l.msg === 'request' && l.request_id === `"${id}"`);
    await pollUntil(() => ['miss-1', 'hit-1', 'slow-1', 'odd-1'].every((id) => access(id)),
                    { timeoutMs: 5000, what: 'four access log lines' });
    // The retried miss: one debug line for the failed attempt, with its decision.
    const decided = lines().filter((l) => l.msg.startsWith('attempt failed') && l.request_id === '"miss-1"');
    assert.equal(decided.length, 1, JSON.stringify(decided));
    assert.equal(decided[0].msg, 'attempt failed; retrying');
    assert.equal(decided[0].attempt, 1);
    assert.equal(typeof decided[0].delay_ms, 'number');
    assert.equal(access('miss-1').upstream_status, 200);
    assert.ok(!('cache' in access('miss-1')), JSON.stringify(access('miss-1')));
    // The hit never reached the upstream: marked, and no upstream status.
    assert.equal(access('hit-1').cache, 'hit');
    assert.ok(!('upstream_status' in access('hit-1')), JSON.stringify(access('hit-1')));
    // The timeout's error line: status and code are null (there was no answer), not 0 or 200.
    const timedOut = lines().find((l) => l.msg === 'request failed' && l.request_id === '"slow-1"');
    assert.equal(timedOut.class, 'timeout');
    assert.equal(timedOut.upstream_status, null);
    assert.equal(timedOut.jsonrpc_code, null);
    // A method Bulwark does not know is logged under the label the metrics use.
    assert.equal(access('odd-1').method, 'other');
    const m = parseMetrics(await (await fetch(`${bw.admin}/metrics`)).text());
    assert.ok(findSamples(m, 'bulwark_requests_total', { method: 'other' }).length > 0);
    // No line of this run carries an empty session or give_up.
    for (const line of lines()) {
      assert.notEqual(line.session, '', JSON.stringify(line));
      assert.notEqual(line.give_up, '', JSON.stringify(line));
      assert.notEqual(line.method, '', JSON.stringify(line));
    }
  }));

  test('access_log writes one line per request; max_tool_labels folds the rest into "other"',
       scoped(async (t, track) => {
    const config = makeConfig(up.url);
    config.monitoring = { access_log: true, max_tool_labels: 1 };
    const file = await writeConfig(dir.file('monitoring.yaml'), config);
    const bw = track(await startBulwark(up.url, { config: file, name: 'bulwark-monitoring' }));
    assert.equal((await rpc(bw.url, 'tools/list', {}, { id: 'list-1' })).status, 200);
    assert.equal((await callTool(bw.url, 'read_data', { key: 'a' }, { id: 'call-1' })).status, 200);
    assert.equal((await callTool(bw.url, 'set_value', { key: 'a', value: 'v' }, { id: 'call-2' })).status, 200);

    // The line is written as the exchange ends, just after the answer left: wait for it.
    const requestLines = () => jsonLogLines(bw.proc.err).filter((l) => l.msg === 'request');
    await pollUntil(() => requestLines().length >= 3, { timeoutMs: 5000, what: 'three access log lines' });
    const lines = requestLines();
    assert.deepEqual(lines.map((l) => l.request_id), ['"list-1"', '"call-1"', '"call-2"']);
    for (const line of lines) {
      assert.equal(line.outcome, 'success');
      assert.equal(line.upstream_status, 200);
      assert.equal(typeof line.duration_ms, 'number');
    }
    assert.deepEqual(lines.map((l) => l.tool), [undefined, 'read_data', 'set_value'],
                     'a tool only on tools/call lines (no empty field)');

    const m = parseMetrics(await (await fetch(`${bw.admin}/metrics`)).text());
    const tools = new Set(findSamples(m, 'bulwark_requests_total', { method: 'tools/call' }).map((s) => s.labels.tool));
    assert.deepEqual([...tools].sort(), ['other', 'read_data'], 'one tool label, then "other"');
  }));
});
