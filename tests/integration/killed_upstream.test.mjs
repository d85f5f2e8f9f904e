// Recovery time with a killed upstream (issue #18 items 1-3): a real SDK server
// (server-everything) is SIGKILLed, so connections are refused while it was seen up a moment
// ago (a restart, as far as Bulwark can tell). A call with a recovery answer (a stale cache
// entry, a fallback) gets it at once; a new client's initialize, which has none, waits out the
// restart only for defaults.retry.restart_wait.max (set to 2s here, the default is 5s) before
// its error. Otherwise the production-like defaults: 30s deadline, 3 attempts, backoff
// 1s * 2^n <= 10s.
// Timings are reported as diagnostics; the assertions are generous bounds (< 3 s).
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test tests/integration/killed_upstream.test.mjs
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { kDirect, startBulwark, startEverything } from './lib/peers.mjs';
import { sumSamples } from './lib/metrics.mjs';
import { sleep, withTimeout } from './lib/procs.mjs';
import { scoped, tempDir, writeConfig } from './lib/faulty.mjs';

const kBoundMs = 3000;  // "good" recovery time; the answers are expected far sooner

async function timed(fn) {
  const started = performance.now();
  try {
    return { value: await fn(), ms: performance.now() - started };
  } catch (error) {
    return { error, ms: performance.now() - started };
  }
}

describe('a killed upstream (SIGKILL of server-everything)', { skip: kDirect ? 'proxy-only behaviour' : false, timeout: 90000 }, () => {
  test('stale and fallback answers come at once; a new client\'s initialize fails within the restart wait',
    scoped(async (t, track) => {
      const se = await startEverything('server-everything-killed');
      track({ stop: () => se.stop(), describe: () => se.proc.describe() });
      const dir = await tempDir('bulwark-killed-');
      t.after(() => dir.remove());
      const file = await writeConfig(dir.file('bulwark.yaml'), {
        upstream: { url: se.url },
        defaults: { timeout: '30s', retry: { restart_wait: { max: '2s' } } },
        tools: [
          { match: 'echo', cache: { ttl: '1s', stale_if_error: '1h' } },
          { match: 'get-sum', fallback: { text: 'sums are unavailable right now' } },
        ],
      });
      const bw = track(await startBulwark(se.url, { config: file, name: 'bulwark-killed' }));

      const client = new Client({ name: 'killed-upstream-client', version: '1.0.0' });
      await withTimeout(client.connect(new StreamableHTTPClientTransport(new URL(bw.url))), 15000, 'connect');
      t.after(() => withTimeout(client.close(), 5000, 'close').catch(() => {}));
      const fresh = await client.callTool({ name: 'echo', arguments: { message: 'kept' } });
      assert.equal(fresh.content?.[0]?.text, 'Echo: kept');
      const sum = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } });
      assert.match(sum.content?.[0]?.text ?? '', /5/);
      await sleep(1100);  // the echo entry is now past its ttl: only stale-if-error may use it

      process.kill(se.proc.pid, 'SIGKILL');
      await withTimeout(se.proc.exited, 5000, 'server-everything exit');

      const stale = await timed(() => client.callTool({ name: 'echo', arguments: { message: 'kept' } },
                                                      undefined, { timeout: 40000 }));
      const fallback = await timed(() => client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } },
                                                         undefined, { timeout: 40000 }));
      const newcomer = new Client({ name: 'new-client', version: '1.0.0' });
      const initialize = await timed(() => newcomer.connect(
        new StreamableHTTPClientTransport(new URL(bw.url)), { timeout: 40000 }));
      await newcomer.close().catch(() => {});

      t.diagnostic(`measured after SIGKILL: stale answer ${stale.ms.toFixed(0)} ms, fallback answer ` +
                   `${fallback.ms.toFixed(0)} ms, new client's initialize error ${initialize.ms.toFixed(0)} ms`);
      assert.equal(stale.error, undefined, `stale answer: ${stale.error}`);
      assert.equal(stale.value.content?.[0]?.text, 'Echo: kept');
      assert.equal(stale.value._meta?.['bulwark/stale'], true, 'marked stale');
      assert.equal(fallback.error, undefined, `fallback answer: ${fallback.error}`);
      assert.equal(fallback.value.content?.[0]?.text, 'sums are unavailable right now');
      assert.equal(fallback.value._meta?.['bulwark/fallback'], true, 'marked as a fallback');
      assert.ok(initialize.error, 'initialize fails while the upstream is down');
      assert.ok(stale.ms < kBoundMs, `stale answer within ${kBoundMs} ms (${stale.ms.toFixed(0)})`);
      assert.ok(fallback.ms < kBoundMs, `fallback within ${kBoundMs} ms (${fallback.ms.toFixed(0)})`);
      assert.ok(initialize.ms < kBoundMs, `initialize error within ${kBoundMs} ms (${initialize.ms.toFixed(0)})`);

      const m = await bw.metrics();
      assert.equal(sumSamples(m, 'bulwark_recoveries_total', { strategy: 'stale' }), 1);
      assert.equal(sumSamples(m, 'bulwark_recoveries_total', { strategy: 'fallback' }), 1);
      const observed = sumSamples(m, 'bulwark_recovery_duration_seconds_count');
      const seconds = sumSamples(m, 'bulwark_recovery_duration_seconds_sum');
      t.diagnostic(`bulwark_recovery_duration_seconds: ${observed} observations, sum ${seconds.toFixed(3)} s`);
      assert.ok(observed >= 2, 'both recovery answers are in the recovery-duration histogram');
      assert.ok(seconds <= (stale.ms + fallback.ms) / 1000 + 0.5,
                'the histogram shows the time the clients waited, not more');
    }));
});
