// Tool discovery (issue #14): Bulwark lists the upstream's tools itself, so a client that never
// lists (it listed through another replica, before a restart, or keeps its list) still gets its
// read-only calls retried. Real SDK servers (fixtures/faulty_upstream.mjs, fixtures/stdio_server.mjs)
// and the SDK client, all on 127.0.0.1.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test --test-timeout=180000 tests/integration/discovery.test.mjs
//
// Prints "discovery-never-lists: ..." and "discovery-restart: ..." with the client-visible error
// counts (the numbers the README quotes).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { kBulwarkBin, kDirect, startBulwark } from './lib/peers.mjs';
import { ChildProcess, withTimeout } from './lib/procs.mjs';
import { request } from './lib/net.mjs';
import { sumSamples } from './lib/metrics.mjs';
import { connectClient, jsonLogLines, makeConfig, pollUntil, scoped,
         startFaultyUpstream, tempDir, writeConfig } from './lib/faulty.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const kStdioServer = path.join(here, 'fixtures', 'stdio_server.mjs');

let dir;
let configCount = 0;
before(async () => {
  dir = await tempDir('bulwark-discovery-');
});
after(async () => {
  await dir?.remove();
});

async function bulwarkWith(track, upstreamUrl, config, { name = 'bulwark', env } = {}) {
  const file = await writeConfig(dir.file(`config-${++configCount}.yaml`), config);
  return track(await startBulwark(upstreamUrl, { config: file, name, env }));
}

async function toolsView(bw) {
  const res = await request(`${bw.admin}/tools`, { timeoutMs: 5000 });
  assert.equal(res.status, 200, `GET /tools: ${res.body}`);
  assert.match(res.headers['content-type'] ?? '', /application\/json/);
  return JSON.parse(res.body);
}

// Waits until discovery has ended `count` listings with `result`, and returns /tools then.
async function discovered(bw, { result = 'success', count = 1, timeoutMs = 15000 } = {}) {
  await pollUntil(async () => {
    const m = await bw.metrics();
    return sumSamples(m, 'bulwark_tool_discovery_total', { result }) >= count;
  }, { timeoutMs, what: `${count} discovery listing(s) with result ${result}` });
  return toolsView(bw);
}

const byName = (view) => Object.fromEntries(view.tools.map((t) => [t.name, t]));

// A config with `discovery` settings on top of the defaults (which list at start).
const retriesConfig = (url, extra = {}, discovery = {}) => {
  const config = makeConfig(url, {
    retry: { max_attempts: 5 },
    defaults: { circuit_breaker: { enabled: false } },
    ...extra,
  });
  if (Object.keys(discovery).length > 0) config.upstream.discovery = { ...discovery };
  return config;
};

describe('discovery', { skip: kDirect ? 'needs Bulwark' : false, timeout: 180000 }, () => {
  test('lists at start (2025 session: initialize, tools/list, DELETE); /tools and metrics show it',
    scoped(async (t, track) => {
      const up = track(await startFaultyUpstream({ mode: 'session', name: 'faulty-session' }));
      const bw = await bulwarkWith(track, up.url, retriesConfig(up.url));
      const view = await discovered(bw);
      const tools = byName(view);
      assert.equal(view.discovery.last_result, 'success');
      assert.equal(view.discovery.protocol_version, '2025-11-25');
      assert.deepEqual(Object.keys(tools).sort(),
                       ['bad_args', 'fail_tool', 'read_data', 'set_value', 'slow', 'write_record']);
      assert.equal(tools.read_data.source, 'discovered');
      assert.equal(tools.read_data.hints.readOnlyHint, true);
      assert.equal(tools.read_data.retryable, true);
      assert.equal(tools.read_data.retry_safety, 'annotated');
      assert.equal(tools.write_record.retryable, false);
      assert.equal(tools.write_record.retry_safety, 'unknown_side_effects');
      assert.match(tools.read_data.learned_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      const m = await bw.metrics();
      assert.equal(sumSamples(m, 'bulwark_tool_catalog_tools'), 6);
      // Bulwark's own session is closed again.
      const stats = await pollUntil(async () => {
        const s = await up.control.stats();
        return s.records.some((r) => r.httpMethod === 'DELETE') ? s : null;
      }, { what: 'the discovery session is deleted' });
      const methods = stats.records.map((r) => r.method ?? r.httpMethod);
      assert.deepEqual(methods.slice(0, 5),
                       ['server/discover', 'initialize', 'notifications/initialized', 'tools/list', 'DELETE']);
      assert.equal(stats.sessions, 0, 'no upstream session left open');
    }));

  test('a client that never lists: 25 % 503, then 25 % resets on a read-only tool, 0 client errors',
    scoped(async (t, track) => {
      const up = track(await startFaultyUpstream({ mode: 'json', name: 'faulty-json' }));
      const bw = await bulwarkWith(track, up.url, retriesConfig(up.url));
      await discovered(bw);
      const c = await connectClient(bw.url, { name: 'never-lists' });
      const kCalls = 200;
      const run = async (label, faults, seed) => {
        await up.control.plan([{ tool: 'read_data', random: { rate: 0.25, seed, faults } }]);
        let errors = 0;
        for (let i = 0; i < kCalls; i++) {
          try {
            const r = await c.client.callTool({ name: 'read_data', arguments: { key: `${label}-${i}` } });
            if (r.isError) errors++;
          } catch {
            errors++;
          }
        }
        return errors;
      };
      try {
        const errors503 = await run('503', ['503'], 7);
        const errorsReset = await run('reset', ['reset_before', { type: 'reset_after' }], 11);
        const m = await bw.metrics();
        const other = sumSamples(m, 'bulwark_requests_total', { tool: 'other' });
        const named = sumSamples(m, 'bulwark_requests_total', { tool: 'read_data' });
        t.diagnostic(`discovery-never-lists: 503 errors=${errors503}/${kCalls} resets errors=${errorsReset}/${kCalls} ` +
                     `tool=read_data requests=${named} tool=other requests=${other}`);
        process.stdout.write(`discovery-never-lists: 503 errors=${errors503}/${kCalls} ` +
                             `resets errors=${errorsReset}/${kCalls}\n`);
        assert.equal(errors503, 0, 'no client error under 25 % 503');
        assert.equal(errorsReset, 0, 'no client error under 25 % resets');
        assert.equal(other, 0, 'the tool label uses the discovered name');
        assert.equal(named, 2 * kCalls);
        const giveUps = jsonLogLines(bw.logs()).filter((l) => l.give_up === 'unsafe');
        assert.equal(giveUps.length, 0, 'nothing given up as unsafe');
      } finally {
        await c.close();
      }
    }));

  test('across an upstream restart a never-listing client sees no error, and Bulwark lists again',
    scoped(async (t, track) => {
      let up = await startFaultyUpstream({ mode: 'session', name: 'faulty-restart-1' });
      const port = up.port;
      const bw = await bulwarkWith(track, up.url, retriesConfig(up.url, {
        defaults: { timeout: '15s', per_try_timeout: '5s', circuit_breaker: { enabled: false } },
      }));
      await discovered(bw);
      const c = await connectClient(bw.url, { name: 'never-lists-restart' });
      const kCalls = 150;
      let errors = 0;
      try {
        for (let i = 0; i < kCalls; i++) {
          if (i === 50) {
            await up.stop();
            up = await startFaultyUpstream({ mode: 'session', port, name: 'faulty-restart-2' });
            // The first calls after the restart lose their answer: the tool ran, the reply is
            // reset (the failure the issue measured).
            await up.control.plan([{ tool: 'read_data', sequence: [{ type: 'reset_after' }, { type: 'reset_after' }] }]);
          }
          try {
            const r = await c.client.callTool({ name: 'read_data', arguments: { key: `restart-${i}` } });
            if (r.isError) errors++;
          } catch {
            errors++;
          }
        }
        const view = await discovered(bw, { count: 2 });
        t.diagnostic(`discovery-restart: errors=${errors}/${kCalls}`);
        process.stdout.write(`discovery-restart: errors=${errors}/${kCalls}\n`);
        assert.equal(errors, 0, 'no client error across the restart');
        assert.equal(byName(view).read_data.source, 'discovered');
      } finally {
        await c.close();
        await up.stop();
      }
    }));

  test('every page is read (nextCursor); endless, malformed and huge listings leave the catalog',
    scoped(async (t, track) => {
      const up = track(await startFaultyUpstream({ mode: 'session', name: 'faulty-pages' }));
      const listing = (spec) => request(`${up.origin}/__control/listing`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
      assert.equal((await listing({ pageSize: 2 })).status, 200);
      const bw = await bulwarkWith(track, up.url, retriesConfig(up.url));
      let view = await discovered(bw);
      assert.equal(view.discovery.pages, 3);
      assert.equal(view.tools.length, 6);
      const before = JSON.stringify(view.tools.map((x) => [x.name, x.hints]));
      // A client session with its GET stream open: list_changed reaches Bulwark through it.
      const c = await connectClient(bw.url, { name: 'listener' });
      try {
        await pollUntil(async () => (await up.control.stats()).records.some((r) => r.httpMethod === 'GET'),
                        { what: 'the client GET stream is open' });
        const cases = [
          ['endless', { pageSize: 2, endless: true, notify: true, hints: { read_data: { readOnlyHint: false } } }],
          ['too_large', { padBytes: 300000, notify: true, hints: { read_data: { readOnlyHint: false } } }],
        ];
        for (const [result, spec] of cases) {
          assert.equal((await listing(spec)).status, 200);
          view = await discovered(bw, { result });
          assert.equal(JSON.stringify(view.tools.map((x) => [x.name, x.hints])), before, `${result}: catalog intact`);
          assert.equal(view.discovery.last_result, result);
        }
        await up.control.plan([{ method: 'tools/list', sequence: ['malformed'] }]);
        assert.equal((await listing({ notify: true, hints: { read_data: { readOnlyHint: false } } })).status, 200);
        view = await discovered(bw, { result: 'malformed' });
        assert.equal(JSON.stringify(view.tools.map((x) => [x.name, x.hints])), before, 'malformed: catalog intact');
        const warnings = jsonLogLines(bw.logs()).filter((l) => l.msg === 'tool discovery failed; the catalog is unchanged');
        assert.deepEqual(warnings.map((l) => l.result), ['endless', 'too_large', 'malformed']);
        assert.match(warnings[0].reason, /pagination does not end after 100 pages/);
      } finally {
        await c.close();
      }
    }));

  test('list_changed with a changed annotation changes the retry decision', scoped(async (t, track) => {
    const up = track(await startFaultyUpstream({ mode: 'session', name: 'faulty-list-changed' }));
    const bw = await bulwarkWith(track, up.url, retriesConfig(up.url));
    await discovered(bw);
    const c = await connectClient(bw.url, { name: 'never-lists-changed' });
    try {
      await pollUntil(async () => (await up.control.stats()).records.some((r) => r.httpMethod === 'GET'),
                      { what: 'the client GET stream is open' });
      // write_record has no hints: an answer lost after the tool ran is not repeated.
      await up.control.plan([{ tool: 'write_record', sequence: [{ type: 'reset_after' }] }]);
      await assert.rejects(c.client.callTool({ name: 'write_record', arguments: { key: 'before' } }));
      let stats = await up.control.stats();
      assert.equal(stats.executions.byKey.before, 1);
      // The server now says write_record is idempotent, and tells its clients.
      const res = await request(`${up.origin}/__control/listing`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ hints: { write_record: { idempotentHint: true } }, notify: true }) });
      assert.equal(JSON.parse(res.body).notified >= 1, true, 'a session was told list_changed');
      await pollUntil(async () => byName(await toolsView(bw)).write_record?.retryable === true,
                      { timeoutMs: 10000, what: 'write_record becomes retryable' });
      await up.control.plan([{ tool: 'write_record', sequence: [{ type: 'reset_after' }] }]);
      const r = await c.client.callTool({ name: 'write_record', arguments: { key: 'after' } });
      assert.match(r.content[0].text, /wrote after/);
      stats = await up.control.stats();
      assert.equal(stats.executions.byKey.after, 2, 'retried once the hint said idempotent');
    } finally {
      await c.close();
    }
  }));

  test('a server that wants a bearer token: refused without the header, listed with it from the environment',
    scoped(async (t, track) => {
      const kToken = 'S3CRET-TOKEN-8d1f';
      const up = track(await startFaultyUpstream({ mode: 'json', name: 'faulty-token', extraArgs: ['--token', kToken] }));
      const refused = await bulwarkWith(track, up.url, retriesConfig(up.url), { name: 'bulwark-no-token' });
      let view = await discovered(refused, { result: 'refused' });
      assert.equal(view.tools.length, 0);
      assert.match(view.discovery.last_error, /401/);
      const bw = await bulwarkWith(track, up.url,
        retriesConfig(up.url, {}, { headers: { Authorization: 'Bearer ${DISCOVERY_TOKEN}' } }),
        { name: 'bulwark-token', env: { DISCOVERY_TOKEN: kToken } });
      view = await discovered(bw);
      assert.equal(byName(view).read_data.hints.readOnlyHint, true);
      const stats = await up.control.stats();
      assert.ok(stats.records.some((r) => r.method === 'tools/list' && r.status === 200 && r.authorization));
      // The token is in no log line, metric or admin answer.
      for (const b of [refused, bw]) {
        assert.ok(!b.logs().includes(kToken), 'no log line holds the token');
        assert.ok(!(await b.metricsText()).includes(kToken), 'no metric holds the token');
        const tools = await request(`${b.admin}/tools`, { timeoutMs: 5000 });
        assert.ok(!tools.body.includes(kToken), '/tools does not show the token');
      }
    }));

  test('an unset environment variable in a discovery header is a config error naming it',
    scoped(async (t, track) => {
      const up = track(await startFaultyUpstream({ mode: 'json', name: 'faulty-unset' }));
      const file = await writeConfig(dir.file(`config-${++configCount}.yaml`),
        retriesConfig(up.url, {}, { headers: { Authorization: 'Bearer ${BULWARK_TEST_UNSET_VAR}' } }));
      const proc = new ChildProcess('bulwark-unset', kBulwarkBin, ['--check-config', file]);
      await withTimeout(proc.exited, 10000, 'bulwark --check-config should exit');
      assert.notEqual(proc.exitCode, 0);
      assert.match(proc.err + proc.out, /upstream\.discovery\.headers\.Authorization: environment variable "BULWARK_TEST_UNSET_VAR" is not set/);
    }));

  test('a tool rule that matches no tool is reported once, with a close name', scoped(async (t, track) => {
    const up = track(await startFaultyUpstream({ mode: 'json', name: 'faulty-rules' }));
    const bw = await bulwarkWith(track, up.url, retriesConfig(up.url, {
      tools: [{ match: 'write_recrd', idempotent: true }, { match: 'read_*', retry: { max_attempts: 2 } },
              { match: 'zzz*', retry: { max_attempts: 2 } }],
    }));
    const view = await discovered(bw);
    assert.deepEqual(view.unmatched_rules, [{ match: 'write_recrd', closest: 'write_record' },
                                            { match: 'zzz*', closest: null }]);
    const lines = jsonLogLines(bw.logs()).filter((l) => l.msg === 'tool rule matches no tool the upstream lists');
    assert.deepEqual(lines.map((l) => [l.match, l.closest]), [['write_recrd', 'write_record'], ['zzz*', '']]);
    assert.equal(byName(view).read_data.policy, 'tools[1] read_*');
  }));

  test('at_start: false: a never-listing client under 25 % resets still sees 0 errors',
    scoped(async (t, track) => {
      const up = track(await startFaultyUpstream({ mode: 'session', name: 'faulty-lazy' }));
      const config = retriesConfig(up.url, {}, { at_start: false });  // list when first needed
      const bw = await bulwarkWith(track, up.url, config);
      const c = await connectClient(bw.url, { name: 'never-lists-lazy' });
      const kCalls = 100;
      let errors = 0;
      try {
        assert.equal((await toolsView(bw)).discovery.active, false, 'nothing listed before a need');
        await up.control.plan([{ tool: 'read_data', sequence: [{ type: 'reset_after' }],
                                 random: { rate: 0.25, seed: 5, faults: ['reset_before', { type: 'reset_after' }] } }]);
        for (let i = 0; i < kCalls; i++) {
          try {
            const r = await c.client.callTool({ name: 'read_data', arguments: { key: `lazy-${i}` } });
            if (r.isError) errors++;
          } catch {
            errors++;
          }
        }
      } finally {
        await c.close();
      }
      const view = await toolsView(bw);
      t.diagnostic(`discovery-lazy: errors=${errors}/${kCalls}`);
      process.stdout.write(`discovery-lazy: errors=${errors}/${kCalls}\n`);
      assert.equal(errors, 0, 'the first failure waited for the listing instead of giving up');
      assert.equal(view.discovery.active, true);
      assert.equal(byName(view).read_data.source, 'discovered');
    }));

  test('a side-effecting tool answered 429/503 is retried and runs once; a reset after it ran is not repeated',
    scoped(async (t, track) => {
      const up = track(await startFaultyUpstream({ mode: 'json', name: 'faulty-never-ran' }));
      const bw = await bulwarkWith(track, up.url, retriesConfig(up.url));
      await discovered(bw);
      const c = await connectClient(bw.url, { name: 'side-effects' });
      try {
        const faults = [['429'], ['503'], [{ type: 'status', status: 429, retryAfter: 0 }],
                        [{ type: 'status', status: 503, retryAfter: 0 }], ['503', '429', '503']];
        for (const [i, sequence] of faults.entries()) {
          await up.control.plan([{ tool: 'write_record', sequence }]);
          const r = await c.client.callTool({ name: 'write_record', arguments: { key: `nr-${i}` } });
          assert.match(r.content[0].text, new RegExp(`wrote nr-${i}`), JSON.stringify(sequence));
          const stats = await up.control.stats();
          assert.equal(stats.executions.byKey[`nr-${i}`], 1, `ran exactly once (${JSON.stringify(sequence)})`);
          assert.equal(stats.attempts.byTool.write_record, sequence.length + 1 +
                       faults.slice(0, i).reduce((n, f) => n + f.length + 1, 0));
        }
        await up.control.plan([{ tool: 'write_record', sequence: [{ type: 'reset_after' }] }]);
        await assert.rejects(c.client.callTool({ name: 'write_record', arguments: { key: 'lost' } }));
        assert.equal((await up.control.stats()).executions.byKey.lost, 1, 'a reset after it ran is never repeated');
      } finally {
        await c.close();
      }
    }));

  test('while a retry decision waits for a slow listing, the per-try timer sends nothing again',
    scoped(async (t, track) => {
      // The soak found it: the failed attempt's per-try timer, still armed, ended the wait as if
      // it were a backoff and ran a side-effecting tool a second time.
      const up = track(await startFaultyUpstream({ mode: 'json', name: 'faulty-hints-wait' }));
      const bw = await bulwarkWith(track, up.url, retriesConfig(up.url, {
        defaults: { per_try_timeout: '300ms', timeout: '10s', circuit_breaker: { enabled: false } },
      }, { at_start: false }));
      await up.control.plan([{ tool: 'write_record', sequence: [{ type: 'reset_after' }] },
                             { method: 'tools/list', sequence: [{ type: 'delay', ms: 1500 }] }]);
      const c = await connectClient(bw.url, { name: 'hints-wait' });
      try {
        await assert.rejects(c.client.callTool({ name: 'write_record', arguments: { key: 'hints-wait' } }),
                             (e) => /"gaveUp":"unsafe"/.test(e.message), 'the write fails, unrepeated');
        const stats = await up.control.stats();
        assert.equal(stats.executions.byKey['hints-wait'], 1, 'write_record ran once');
        assert.equal(stats.attempts.byTool.write_record, 1, 'one attempt reached the upstream');
        assert.ok(stats.records.some((x) => x.method === 'tools/list'), 'the decision waited for a listing');
      } finally {
        await c.close();
      }
    }));

  test('never_ran_statuses: [] turns the rule off', scoped(async (t, track) => {
    const up = track(await startFaultyUpstream({ mode: 'json', name: 'faulty-never-ran-off' }));
    const config = retriesConfig(up.url);
    config.defaults.retry.never_ran_statuses = [];
    const bw = await bulwarkWith(track, up.url, config);
    await discovered(bw);
    await up.control.plan([{ tool: 'write_record', sequence: ['503'] }]);
    const c = await connectClient(bw.url, { name: 'side-effects-off' });
    try {
      await assert.rejects(c.client.callTool({ name: 'write_record', arguments: { key: 'off' } }));
      assert.equal((await up.control.stats()).attempts.byTool.write_record, 1);
    } finally {
      await c.close();
    }
  }));

  for (const variant of ['off', 'refused']) {
    test(`caller-credential listing when discovery is ${variant}: the retry decision waits for it`,
      scoped(async (t, track) => {
        const kToken = 'caller-token-77';
        const up = track(await startFaultyUpstream({ mode: 'session', name: `faulty-caller-${variant}`,
                                                     extraArgs: ['--token', kToken] }));
        const config = retriesConfig(up.url, {}, variant === 'off' ? { enabled: false } : {});
        const bw = await bulwarkWith(track, up.url, config);
        if (variant === 'refused') await discovered(bw, { result: 'refused' });
        const c = await connectClient(bw.url, { name: `caller-${variant}`,
                                                headers: { authorization: `Bearer ${kToken}` } });
        try {
          await up.control.reset();
          await up.control.plan([{ tool: 'read_data', sequence: [{ type: 'reset_after' }] }]);
          const r = await c.client.callTool({ name: 'read_data', arguments: { key: 'caller' } });
          assert.match(r.content[0].text, /data for caller/);
          const stats = await up.control.stats();
          const lists = stats.records.filter((x) => x.method === 'tools/list');
          assert.equal(lists.length, 1, 'one listing, with the caller\'s credentials');
          assert.equal(lists[0].status, 200);
          assert.ok(lists[0].authorization);
          assert.ok(lists[0].sessionId, 'inside the caller\'s session');
          assert.ok(!stats.records.some((x) => x.httpMethod === 'DELETE'), 'the caller\'s session is not deleted');
          const view = await toolsView(bw);
          assert.equal(byName(view).read_data.source, 'caller_listing');
          assert.equal(view.discovery.caller_listings, 1);
        } finally {
          await c.close();
        }
        assert.ok(!bw.logs().includes(kToken), 'the caller\'s token is in no log line');
      }));
  }

  test('stdio upstream: discovery through the spare child', scoped(async (t, track) => {
    const file = await writeConfig(dir.file(`config-${++configCount}.yaml`), {
      upstream: { command: [process.execPath, kStdioServer] } });
    const bw = track(await startBulwark('http://127.0.0.1/mcp', { config: file, name: 'bulwark-stdio' }));
    const view = await discovered(bw, { timeoutMs: 30000 });
    const tools = byName(view);
    assert.equal(tools.slow_read?.hints.readOnlyHint, true);
    assert.equal(tools.slow_read?.source, 'discovered');
    assert.equal(tools.slow_write?.retryable, false);
  }));

  test('stdio upstream, a client that never lists: a read-only call survives its child\'s crash, ' +
       'a write is not repeated; both decided from discovery\'s knowledge',
    scoped(async (t, track) => {
      const fixtureLog = dir.file(`stdio-fixture-${++configCount}.log`);
      const readLog = async () => (await fs.readFile(fixtureLog, 'utf8').catch(() => '')).split('\n');
      const file = await writeConfig(dir.file(`config-${++configCount}.yaml`), {
        upstream: { command: [process.execPath, kStdioServer], env: { STDIO_FIXTURE_LOG: fixtureLog },
                    restart: { backoff: { base: '50ms', multiplier: 2, max: '1s' } } },
        defaults: { timeout: '25s', per_try_timeout: '15s',
                    retry: { max_attempts: 4, backoff: { base: '100ms', multiplier: 2, max: '500ms' } } },
      });
      const bw = track(await startBulwark('http://127.0.0.1/mcp', { config: file, name: 'bulwark-stdio-crash' }));
      const listed = byName(await discovered(bw, { timeoutMs: 30000 }));
      assert.equal(listed.slow_read?.source, 'discovered');
      assert.equal(listed.slow_read?.retryable, true);
      assert.equal(listed.slow_write?.retryable, false);
      // The listing ran in the spare child of the time, which stopped with the listing's
      // session: what runs now is a new spare, for the next client.
      await pollUntil(async () => sumSamples(await bw.metrics(), 'bulwark_stdio_children') === 1,
                      { timeoutMs: 10000, what: 'the listing\'s child stopped, one spare running' });

      const c = await connectClient(bw.url, { name: 'never-lists-stdio' });
      try {
        const whoami = async () => JSON.parse((await c.client.callTool({ name: 'whoami', arguments: {} })).content[0].text);
        const first = await whoami();
        assert.equal(first.client.name, 'never-lists-stdio', 'the client\'s child is its own, not the listing\'s');

        // Read-only: the child dies under the call, Bulwark retries it in the restarted child.
        const read = c.client.callTool({ name: 'slow_read', arguments: { ms: 1500, tag: 'r1' } });
        await pollUntil(async () => (await readLog()).includes(`read r1 ${first.pid}`),
                        { timeoutMs: 10000, what: 'slow_read running in the client\'s child' });
        process.kill(first.pid, 'SIGKILL');
        const answer = await read;
        const second = await whoami();
        assert.notEqual(second.pid, first.pid, 'a restarted child serves the session');
        assert.equal(answer.content[0].text, `read r1 by ${second.pid}`, 'retried in the restarted child');

        // Not read-only, not idempotent: the child dies after the write began; it is not repeated.
        const write = c.client.callTool({ name: 'slow_write', arguments: { ms: 1500, tag: 'w1' } });
        await pollUntil(async () => (await readLog()).includes(`write w1 ${second.pid}`),
                        { timeoutMs: 10000, what: 'slow_write running in the client\'s child' });
        process.kill(second.pid, 'SIGKILL');
        await assert.rejects(write, (e) => /"gaveUp":"unsafe"/.test(e.message), 'the write fails, unrepeated');
        const third = await whoami();
        assert.notEqual(third.pid, second.pid);
        assert.deepEqual((await readLog()).filter((l) => l.startsWith('write w1 ')), [`write w1 ${second.pid}`],
                         'slow_write ran once');
      } finally {
        await c.close();
      }
      const m = await bw.metrics();
      assert.ok(sumSamples(m, 'bulwark_retries_total', { tool: 'slow_read' }) >= 1, 'the read was retried');
      assert.equal(sumSamples(m, 'bulwark_retries_total', { tool: 'slow_write' }), 0, 'the write was not');
      const view = await toolsView(bw);
      assert.equal(view.discovery.caller_listings, 0, 'no listing in the caller\'s context was needed');
      assert.equal(byName(view).slow_read.source, 'discovered');
    }));
});
