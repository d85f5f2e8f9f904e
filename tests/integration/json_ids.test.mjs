// Request ids that the server spells differently in its answer (issue #20 item 2). A JavaScript
// server answers `1.0`, `1e0` and `-0` as `1`, `1` and `0`, "a\/b" as "a/b" and "\u00e9" as "é".
// Bulwark matches answers to requests by the id's value: each such request gets exactly one
// answer, a read-only tool runs once, and the upstream's breaker stays closed. Two real SDK
// servers: server-everything (SSE replies with event ids, in a session) and the SDK's stateless
// server answering application/json (tests/integration/fixtures/stateless_json_server.mjs), where
// an unrecognised answer used to become a 502 after max_attempts runs and opened the breaker.
//
// The answer is forwarded as the server wrote it (the server's spelling of the same value), as
// the client would get it without Bulwark; JSON-RPC matches ids by value.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test tests/integration/json_ids.test.mjs
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { kDirect, startBulwark, startEverything, startFixture, stopAll, withDiagnostics } from './lib/peers.mjs';
import { request } from './lib/net.mjs';
import { sumSamples } from './lib/metrics.mjs';
import { tempDir, writeConfig } from './lib/faulty.mjs';

// Bulwark in front of `upstreamUrl` with the defaults, except that it does not list the
// upstream's tools at start: the tests count upstream attempts exactly, and that listing (five
// requests of Bulwark's own) may still be under way when they start counting.
async function startCountedBulwark(upstreamUrl, name) {
  const dir = await tempDir('bulwark-ids-');
  const file = await writeConfig(dir.file('bulwark.yaml'),
                                 { upstream: { url: upstreamUrl, discovery: { at_start: false } } });
  const bulwark = await startBulwark(upstreamUrl, { config: file, name });
  return { ...bulwark, stop: async () => { try { return await bulwark.stop(); } finally { await dir.remove(); } } };
}

const kHeaders = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const kProtocolVersion = '2025-06-18';

// Every JSON-RPC message in a reply (one JSON body or SSE `data:` lines).
function messagesOf(res) {
  if ((res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
    return [...res.body.matchAll(/^data: ?(.*)$/gm)].map((m) => m[1]).filter((d) => d.trim() !== '')
      .map((d) => JSON.parse(d));
  }
  return res.body === '' ? [] : [JSON.parse(res.body)].flat();
}

async function post(url, body, headers = {}) {
  return request(url, { method: 'POST', headers: { ...kHeaders, ...headers }, body, timeoutMs: 15000 });
}

// Ids as the client writes them. The SDK server takes only strings and safe integers as ids
// (a big integer or a fraction gets -32700 from it), so those spellings are left to the unit
// tests of the normalisation (tests/unit/proxy/mcp/jsonrpc_id_test.cc).
const kSpellings = ['1.0', '1e0', '-0', '"a\\/b"', '"\\u00e9"', '7E+1', '1.0e1', '"x\\u0041"',
                    '"\\"q\\""', '3'];

// Sends one echo call per spelling through `bulwark` and checks the answers and /metrics.
async function callEchoWithEachSpelling(bulwark, headers) {
  const before = kDirect ? [] : await bulwark.metrics();
  const attemptsBefore = sumSamples(before, 'bulwark_upstream_attempts_total');
  const successesBefore = sumSamples(before, 'bulwark_requests_total', { method: 'tools/call', outcome: 'success' });
  for (const [i, spelling] of kSpellings.entries()) {
    const body = `{"jsonrpc":"2.0","id":${spelling},"method":"tools/call",` +
                 `"params":{"name":"echo","arguments":{"message":"ids-${i}"}}}`;
    const res = await post(bulwark.url, body, headers);
    assert.equal(res.status, 200, `${spelling}: ${res.body}`);
    const answers = messagesOf(res).filter((m) => 'id' in m && !('method' in m));
    assert.equal(answers.length, 1, `${spelling}: exactly one answer, got ${JSON.stringify(answers)}`);
    const [answer] = answers;
    assert.equal(answer.error, undefined, `${spelling}: ${JSON.stringify(answer)}`);
    // The server's spelling of the same value, as without Bulwark (JSON-RPC compares values).
    assert.ok(answer.id === JSON.parse(spelling), `${spelling}: same id value, got ${JSON.stringify(answer.id)}`);
    assert.match(answer.result.content[0].text, new RegExp(`ids-${i}\\b`));
  }
  if (kDirect) return;
  const metrics = await bulwark.metrics();
  assert.equal(sumSamples(metrics, 'bulwark_upstream_attempts_total') - attemptsBefore, kSpellings.length,
               'one upstream attempt per request: the read-only tool ran once each');
  assert.equal(sumSamples(metrics, 'bulwark_retries_total'), 0, 'no retries');
  assert.equal(sumSamples(metrics, 'bulwark_circuit_transitions_total'), 0, 'no breaker moved');
  assert.equal(sumSamples(metrics, 'bulwark_circuit_state', { target: 'upstream' }), 0, 'upstream breaker closed');
  assert.equal(sumSamples(metrics, 'bulwark_requests_total', { method: 'tools/call', outcome: 'success' }) -
               successesBefore, kSpellings.length);
}

describe('request ids spelled differently by server-everything (SSE, session)', { timeout: 120000 }, () => {
  let everything;
  let bulwark;
  let sessionHeaders;
  before(async () => {
    everything = await startEverything('everything-ids');
    bulwark = await startCountedBulwark(everything.url, 'bulwark-ids');
    const init = await post(bulwark.url, JSON.stringify({
      jsonrpc: '2.0', id: 'init', method: 'initialize',
      params: { protocolVersion: kProtocolVersion, capabilities: {}, clientInfo: { name: 'ids', version: '1' } },
    }));
    assert.equal(init.status, 200, init.body);
    const session = init.headers['mcp-session-id'];
    assert.ok(session, 'server-everything gives a session');
    sessionHeaders = { 'mcp-session-id': session, 'mcp-protocol-version': kProtocolVersion };
    const initialized = await post(bulwark.url, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
                                   sessionHeaders);
    assert.equal(initialized.status, 202);
    // Through Bulwark, so that it learns echo's readOnlyHint (a read-only tool is retried).
    const list = await post(bulwark.url, JSON.stringify({ jsonrpc: '2.0', id: 'list', method: 'tools/list' }),
                            sessionHeaders);
    const tools = messagesOf(list).find((m) => m.id === 'list')?.result?.tools ?? [];
    assert.equal(tools.find((t) => t.name === 'echo')?.annotations?.readOnlyHint, true);
  });
  after(async () => {
    await stopAll(bulwark, everything);
  });

  test('each request gets exactly one answer, echo runs once, the breaker stays closed',
       withDiagnostics(() => [bulwark?.proc, everything?.proc], () => callEchoWithEachSpelling(bulwark, sessionHeaders)));
});

describe('request ids spelled differently by the stateless SDK server (JSON replies)', { timeout: 120000 }, () => {
  let fixture;
  let bulwark;
  before(async () => {
    fixture = await startFixture('stateless-ids');
    bulwark = await startCountedBulwark(fixture.url, 'bulwark-ids-json');
    const list = await post(bulwark.url, JSON.stringify({ jsonrpc: '2.0', id: 'list', method: 'tools/list' }));
    const tools = messagesOf(list).find((m) => m.id === 'list')?.result?.tools ?? [];
    assert.equal(tools.find((t) => t.name === 'echo')?.annotations?.readOnlyHint, true);
  });
  after(async () => {
    await stopAll(bulwark, fixture);
  });

  test('each request gets exactly one answer, echo runs once, the breaker stays closed',
       withDiagnostics(() => [bulwark?.proc, fixture?.proc], async () => {
    const statsBefore = JSON.parse((await request(`${fixture.origin}/stats`, { timeoutMs: 5000 })).body);
    await callEchoWithEachSpelling(bulwark, {});
    const stats = JSON.parse((await request(`${fixture.origin}/stats`, { timeoutMs: 5000 })).body);
    assert.equal((stats.tools.echo ?? 0) - (statsBefore.tools.echo ?? 0), kSpellings.length,
                 'the server ran echo once per request');
  }));
});
