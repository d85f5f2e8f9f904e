// The minimum the shared-state tests need (issue 15): a redis-server on a free port, pairs of
// server-everything + Bulwark with a `shared_state` config, a round-robin TCP balancer in front
// of them (a Kubernetes Service without session affinity), and a fetch that opens a fresh
// connection per request, so that round robin spreads one client's requests over the pairs.
// Everything on 127.0.0.1.
import net from 'node:net';
import http from 'node:http';
import { Readable } from 'node:stream';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ChildProcess } from './procs.mjs';
import { freePort, kHost } from './net.mjs';
import { startBulwark, startEverything } from './peers.mjs';
import { makeConfig, pollUntil, tempDir, writeConfig } from './faulty.mjs';

const execFileAsync = promisify(execFile);

// SIGKILL, no grace: a pod that dies, not one that drains.
export async function killNow(proc) {
  proc.stopRequested = true;
  if (!proc.running) return;
  try {
    process.kill(-proc.pid, 'SIGKILL');
  } catch {
    process.kill(proc.pid, 'SIGKILL');
  }
  await proc.exited;
}

// redis-server without persistence on a free port (or `port`, to restart in place).
export async function startRedis({ port, name = 'redis' } = {}) {
  const p = port ?? await freePort();
  const proc = new ChildProcess(name, 'redis-server', ['--port', String(p), '--bind', kHost,
    '--save', '', '--appendonly', 'no', '--dir', '/tmp', '--loglevel', 'warning']);
  const redis = {
    proc, port: p, url: `redis://${kHost}:${p}`,
    cli: async (...args) => (await execFileAsync('redis-cli', ['-h', kHost, '-p', String(p), ...args])).stdout.trim(),
    stop: () => proc.stop(),
    kill: () => killNow(proc),
    describe: () => proc.describe(),
  };
  await pollUntil(async () => {
    try {
      return (await redis.cli('PING')) === 'PONG';
    } catch {
      return false;
    }
  }, { timeoutMs: 10000, what: 'redis-server answering PING' });
  return redis;
}

// One pod: server-everything and its Bulwark with shared_state pointing at `redisUrl`.
export async function startPair(redisUrl, { name = 'pair', sharedState = {}, extra = {} } = {}) {
  const server = await startEverything(`${name}-server`);
  const dir = await tempDir(`bulwark-${name}-`);
  const config = {
    ...makeConfig(server.url, {
      defaults: { timeout: '15s', per_try_timeout: '5s' },
      retry: { max_attempts: 6, backoff: { base: '50ms', multiplier: 2, max: '400ms' } },
      tools: [{ match: 'echo', idempotent: true }],
    }),
    shared_state: { redis: redisUrl, heartbeat_interval: '200ms', heartbeat_ttl: '1s', ...sharedState },
    ...extra,
  };
  const file = await writeConfig(dir.file('bulwark.yaml'), config);
  const bulwark = await startBulwark(server.url, { config: file, name: `${name}-bulwark` });
  return {
    name, server, bulwark, dir,
    // The pod dies: its sidecar and server, at once.
    kill: () => Promise.all([killNow(bulwark.proc), killNow(server.proc)]),
    stop: async () => {
      try {
        if (bulwark.proc.running) await bulwark.stop();
      } finally {
        await server.stop();
        await dir.remove();
      }
    },
    describe: () => `${bulwark.describe()}\n${server.proc.describe()}`,
  };
}

// A round-robin TCP balancer over `ports`; a backend that refuses is skipped (as a Service drops
// an endpoint whose pod died). `setBackends` replaces the list.
export async function startBalancer(ports) {
  let backends = [...ports];
  let next = 0;
  const sockets = new Set();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.pause();
    const tryBackend = (left) => {
      if (left === 0 || backends.length === 0) {
        client.destroy();
        return;
      }
      const port = backends[next++ % backends.length];
      const upstream = net.connect(port, kHost);
      upstream.once('error', () => {
        if (!upstream.connectedOnce) tryBackend(left - 1);
        else client.destroy();
      });
      upstream.once('connect', () => {
        upstream.connectedOnce = true;
        sockets.add(upstream);
        upstream.on('close', () => sockets.delete(upstream));
        client.pipe(upstream);
        upstream.pipe(client);
        client.on('error', () => upstream.destroy());
        upstream.on('error', () => client.destroy());
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
        client.resume();
      });
    };
    tryBackend(backends.length);
  });
  await new Promise((resolve) => server.listen(0, kHost, resolve));
  const port = server.address().port;
  return {
    port, origin: `http://${kHost}:${port}`, url: `http://${kHost}:${port}/mcp`,
    setBackends: (list) => { backends = [...list]; },
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
    describe: () => `balancer on ${port} over ${backends.join(', ')}`,
  };
}

// fetch() on node:http with a fresh connection per request (no keep-alive), for the SDK
// transport: each request then lands wherever the balancer sends it.
export function freshConnectionFetch(url, init = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers = Object.fromEntries(new Headers(init.headers ?? {}).entries());
    const req = http.request({
      host: u.hostname, port: u.port, path: u.pathname + u.search, method: init.method ?? 'GET',
      headers, agent: false,
    }, (res) => {
      const out = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        if (v !== undefined) out.set(k, Array.isArray(v) ? v.join(', ') : v);
      }
      const nullBody = [204, 205, 304].includes(res.statusCode);
      if (nullBody) res.resume();
      resolve(new Response(nullBody ? null : Readable.toWeb(res), { status: res.statusCode, headers: out }));
    });
    req.on('error', reject);
    if (init.signal) {
      if (init.signal.aborted) req.destroy(new Error('aborted'));
      const abort = () => req.destroy(new Error('aborted'));
      init.signal.addEventListener('abort', abort, { once: true });
      req.on('close', () => init.signal.removeEventListener('abort', abort));
    }
    req.end(init.body ?? undefined);
  });
}
