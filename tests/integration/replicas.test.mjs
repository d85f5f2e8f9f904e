// Self-test of the multi-replica harness (lib/replicas.mjs): the balancer spreads connections
// round-robin over live pods and skips a killed one, Redis answers with its password, and
// sidecars configured with `shared_state` start and connect to it.
//
//   BULWARK_BIN=build/dev/proxy/bulwark node --test tests/integration/replicas.test.mjs
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { kBulwarkBin, kDirect, withDiagnostics } from './lib/peers.mjs';
import { callTool, connectClient, pollUntil, tempDir, writeConfig } from './lib/faulty.mjs';
import { pairConfig, startReplicas } from './lib/replicas.mjs';

// Whether this binary knows the `shared_state` section (it lands with the Redis client).
async function knowsSharedState() {
  if (kDirect) return false;
  const dir = await tempDir('bulwark-replicas-probe-');
  try {
    const file = await writeConfig(dir.file('probe.yaml'), pairConfig('http://127.0.0.1:9/mcp', {
      redis: { url: 'redis://127.0.0.1:6379', password: null }, advertise: '127.0.0.1:8080', sharedState: {},
    }));
    return spawnSync(kBulwarkBin, ['--check-config', file], { timeout: 10000 }).status === 0;
  } finally {
    await dir.remove();
  }
}

const text = (res) => res.json?.result?.content?.[0]?.text;

describe('multi-replica harness', { skip: kDirect ? 'needs sidecars' : false, timeout: 60000 }, () => {
  const clusters = [];
  after(async () => {
    for (const c of clusters) await c.stop();
  });

  test('the balancer alternates over live pods and skips a killed one', async (t) => {
    const cluster = await startReplicas({ count: 2, stateless: true, sharedState: false, name: 'rr' });
    clusters.push(cluster);
    await withDiagnostics(() => cluster.procs(), async () => {
      const served = [];
      for (let i = 0; i < 4; i++) {
        const res = await callTool(cluster.url, 'whoami', {});
        assert.equal(res.status, 200, res.body);
        served.push(text(res));
      }
      assert.deepEqual(served, ['replica rr-0-server', 'replica rr-1-server',
                                'replica rr-0-server', 'replica rr-1-server']);
      assert.deepEqual(cluster.balancer.choices, [0, 1, 0, 1]);
      const redis = await cluster.redis.client();
      try {
        assert.equal(await redis.command('PING'), 'PONG');
      } finally {
        redis.close();
      }
      await cluster.killPair(0);
      assert.equal(cluster.pairs[0].server.proc.running, false);
      assert.equal(cluster.pairs[0].bulwark.proc.running, false);
      for (let i = 0; i < 3; i++) {
        const res = await callTool(cluster.url, 'whoami', {});
        assert.equal(text(res), 'replica rr-1-server');
      }
    })(t);
  });

  test('a session-based pod: the SDK client opens a session through its sidecar', async (t) => {
    // Bulwark's own listing at start would open a session of its own: off, to count the SDK's.
    const cluster = await startReplicas({ count: 1, sharedState: false, name: 'sb',
                                          config: { upstream: { discovery: { at_start: false } } } });
    clusters.push(cluster);
    await withDiagnostics(() => cluster.procs(), async () => {
      const sdk = await connectClient(cluster.pairs[0].bulwark.url);
      try {
        const res = await sdk.client.callTool({ name: 'whoami', arguments: {} });
        assert.equal(res.content[0].text, 'replica sb-0-server');
        assert.ok(sdk.transport.sessionId, 'the server gave a session id');
      } finally {
        await sdk.close();
      }
      const stats = await cluster.pairs[0].server.stats();
      assert.equal(stats.initializes, 1);
      assert.equal(stats.runs.whoami, 1);
    })(t);
  });

  test('sidecars with shared_state start and connect to Redis', async (t) => {
    if (!(await knowsSharedState())) {
      t.skip('this bulwark has no shared_state section yet');
      return;
    }
    const cluster = await startReplicas({ count: 2, stateless: true, name: 'ss' });
    clusters.push(cluster);
    await withDiagnostics(() => cluster.procs(), async () => {
      const redis = await cluster.redis.client();
      try {
        // Each sidecar holds a connection to Redis (CLIENT LIST has one line per client, ours too).
        await pollUntil(async () => {
          const list = (await redis.command('CLIENT', 'LIST')).toString('utf8');
          return list.trim().split('\n').length >= 3;
        }, { timeoutMs: 10000, what: 'both sidecars connected to Redis' });
      } finally {
        redis.close();
      }
      const res = await callTool(cluster.url, 'whoami', {});
      assert.equal(res.status, 200, res.body);
    })(t);
  });
});
