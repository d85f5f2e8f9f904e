// SIGTERM lifecycle: a call in flight finishes while /readyz already says 503 and the data port
// refuses new connections; the grace deadline and a second SIGTERM each end the drain at once;
// an SDK client's idle GET stream is closed when the drain starts, so it does not hold it up.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test tests/integration/drain.test.mjs
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { kDirect, startBulwark, startEverything } from './lib/peers.mjs';
import { callTool, pollUntil, scoped, startFaultyUpstream } from './lib/faulty.mjs';
import { sumSamples } from './lib/metrics.mjs';
import { withTimeout } from './lib/procs.mjs';

async function status(url) {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2000) })).status;
  } catch {
    return 'refused';
  }
}

describe('SIGTERM drain', { skip: kDirect ? 'proxy-only behaviour' : false, timeout: 60000 }, () => {
  let up;
  before(async () => {
    up = await startFaultyUpstream({ mode: 'json', name: 'faulty-drain' });
  });
  after(async () => {
    await up?.stop();
  });

  test('a call in flight is answered; readiness fails and new connections are refused meanwhile',
       scoped(async (t, track) => {
    const bw = track(await startBulwark(up.url, { name: 'bulwark-drain' }));
    const call = callTool(bw.url, 'slow', { ms: 1500 }, { id: 'in-flight' });
    await new Promise((r) => setTimeout(r, 300));  // the call has reached the upstream
    const signalled = performance.now();
    bw.proc.stopRequested = true;  // the exit is ours, not a crash
    process.kill(bw.proc.pid, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await status(`${bw.admin}/readyz`), 503, '/readyz fails at once');
    assert.equal(await status(`${bw.origin}/healthz`), 'refused', 'the data port stops accepting');
    const res = await call;
    assert.equal(res.status, 200, res.body);
    assert.match(res.json.result.content[0].text, /slept/);
    const exit = await bw.proc.exited;
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(performance.now() - signalled < 5000);
  }));

  test('the grace deadline ends the drain', scoped(async (t, track) => {
    const bw = track(await startBulwark(up.url, { name: 'bulwark-grace', extraArgs: ['--drain-timeout', '300ms'] }));
    const call = callTool(bw.url, 'slow', { ms: 5000 }, { id: 'too-slow' }).catch((e) => ({ error: e }));
    await new Promise((r) => setTimeout(r, 300));
    const signalled = performance.now();
    bw.proc.stopRequested = true;  // the exit is ours, not a crash
    process.kill(bw.proc.pid, 'SIGTERM');
    const exit = await bw.proc.exited;
    const took = performance.now() - signalled;
    assert.equal(exit.code, 0);
    assert.ok(took >= 250 && took < 2000, `exited ${took.toFixed(0)} ms after SIGTERM (grace 300 ms)`);
    const res = await call;
    assert.ok(res.error || res.status !== 200, 'the cut call did not get a success');
  }));

  test('a second SIGTERM ends the drain at once', scoped(async (t, track) => {
    const bw = track(await startBulwark(up.url, { name: 'bulwark-twice' }));  // grace 15 s
    const call = callTool(bw.url, 'slow', { ms: 5000 }, { id: 'second' }).catch((e) => ({ error: e }));
    await new Promise((r) => setTimeout(r, 300));
    bw.proc.stopRequested = true;  // the exit is ours, not a crash
    process.kill(bw.proc.pid, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    const second = performance.now();
    process.kill(bw.proc.pid, 'SIGTERM');
    const exit = await bw.proc.exited;
    assert.equal(exit.code, 0);
    assert.ok(performance.now() - second < 1000, 'the second SIGTERM stopped it at once');
    await call;
  }));
});

describe('SIGTERM drain with an SDK client holding its GET stream',
         { skip: kDirect ? 'proxy-only behaviour' : false, timeout: 60000 }, () => {
  test('the idle GET stream is closed when the drain starts: Bulwark exits long before --drain-timeout',
       scoped(async (t, track) => {
    const everything = track(await startEverything('everything-drain'));
    const bw = track(await startBulwark(everything.url, { name: 'bulwark-drain-get',
                                                          extraArgs: ['--drain-timeout', '20s'] }));
    const client = new Client({ name: 'drain-get', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(bw.url));
    await withTimeout(client.connect(transport, { timeout: 15000 }), 15000, 'initialize through Bulwark');
    t.after(() => withTimeout(client.close(), 5000, 'client.close').catch(() => {}));
    const tools = await client.listTools(undefined, { timeout: 15000 });
    assert.ok(tools.tools.length > 0);
    // The SDK opens its GET stream after initialize: wait until Bulwark holds it (a data
    // connection beyond the one the POSTs use).
    await pollUntil(async () => sumSamples(await bw.metrics(), 'bulwark_client_connections') >= 2,
                    { timeoutMs: 5000, what: 'the GET stream open through Bulwark' });

    const signalled = performance.now();
    bw.proc.stopRequested = true;  // the exit is ours, not a crash
    process.kill(bw.proc.pid, 'SIGTERM');
    const exit = await withTimeout(bw.proc.exited, 15000, 'Bulwark exits after SIGTERM');
    const took = performance.now() - signalled;
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(took < 3000, `exited ${took.toFixed(0)} ms after SIGTERM; the drain timeout is 20 s`);
    assert.doesNotMatch(bw.logs(), /drain deadline reached/);
  }));
});
