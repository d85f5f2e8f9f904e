// Multi-replica harness (issue 15): a redis-server, N pairs (one replica server,
// fixtures/replica_server.mjs, with a Bulwark sidecar in front, configured with `shared_state`
// on that Redis) and a round-robin TCP balancer in front of the sidecars, as a Kubernetes
// Service without session affinity spreads connections over pods. All on 127.0.0.1, ports
// chosen free, every process in its own group, stopped (or killed) by PID; waits are bounded.
//
//   const cluster = await startReplicas({ count: 2 });
//   ... SDK client on cluster.url (the balancer) or cluster.pairs[i].bulwark.url (one pod) ...
//   await cluster.killPair(0);     // SIGKILL server and sidecar of pod 0; the balancer skips it
//   await cluster.stop();          // in after(): everything, by PID, even after failures
//
// Options of startReplicas:
//   count            pairs (default 2)
//   server           'replica' (default: fixtures/replica_server.mjs) or 'everything'
//                    (server-everything, streamable HTTP: echo, progress, the GET stream)
//   stateless        true: the replica servers are stateless (JSON replies, no sessions)
//   config           more Bulwark config (tools, methods, defaults, ...), an object or a
//                    function (pairIndex) -> object, merged over the base config
//   sharedState      more `shared_state` keys (object), or false for no shared_state at all
//   redisPassword    Redis requires this password (default: a random one; null: none)
//   keySecret        the HMAC secret in BULWARK_SHARED_KEY_SECRET (default: a random one;
//                    null: the variable is not set, so cache sharing is off)
//   startRedis       false: Redis is not running at start (call cluster.redis.start() later)
//   env              more environment for every sidecar
// The returned cluster: {redis, pairs, balancer, url, origin, keySecret, sessionKey(id) (the
// Redis key of a session's record), startPair(config?), killPair(i), killServer(i), procs(),
// describe(), stop()}.
// redis: {port, url, password, running, start(), kill(), stop(), client() (lib/resp.mjs),
// cli(...args) (one command on a fresh connection, the reply as redis-cli prints it: '' for nil)}.
// pairs[i]: {index, name, alive, kill(), server: {port, url, proc, stats() (replica servers
// only)}, bulwark: {port, origin, url, admin, advertise, proc, metrics(), metricsText(), logs(),
// describe()}}.
// Also freshConnectionFetch: a fetch() opening a new connection per request, so that the
// balancer spreads one SDK client's requests over the pods.
// balancer: {port, origin, url, choices (pair index per accepted connection), stop()}.
import net from 'node:net';
import http from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { ChildProcess, withTimeout } from './procs.mjs';
import { freePorts, kHost, request, waitForHttp } from './net.mjs';
import { kBulwarkBin, kTestsDir, startEverything } from './peers.mjs';
import { parseMetrics } from './metrics.mjs';
import { tempDir, writeConfig } from './faulty.mjs';
import { connectRedis } from './resp.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const kReplicaServerMain = path.resolve(here, '..', 'fixtures', 'replica_server.mjs');
export const kRedisPasswordEnv = 'BULWARK_REDIS_PASSWORD';
export const kKeySecretEnv = 'BULWARK_SHARED_KEY_SECRET';
const kStartAttempts = 3;

function killGroupNow(proc) {
  if (!proc?.running) return;
  try {
    process.kill(-proc.pid, 'SIGKILL');
  } catch {
    try {
      process.kill(proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

async function killAndWait(proc) {
  if (!proc) return;
  proc.stopRequested = true;
  killGroupNow(proc);
  await withTimeout(proc.exited, 5000, `${proc.name} exit after SIGKILL`);
}

// redis-server on a port chosen now (kept across kill/start, so sidecars reconnect to it).
export async function makeRedis({ password = randomBytes(12).toString('hex'), name = 'redis' } = {}) {
  const [port] = await freePorts(1);
  let proc = null;
  const redis = {
    port,
    password,
    url: `redis://${kHost}:${port}`,
    get proc() {
      return proc;
    },
    get running() {
      return proc?.running ?? false;
    },
    async start() {
      if (proc?.running) return;
      const args = ['--port', String(port), '--bind', kHost, '--save', '', '--appendonly', 'no'];
      if (password !== null) args.push('--requirepass', password);
      proc = new ChildProcess(name, 'redis-server', args, { cwd: kTestsDir });
      await proc.waitForOutput(/Ready to accept connections/, 10000);
    },
    kill: () => killAndWait(proc),
    stop: async () => {
      if (proc) await proc.stop();
    },
    client: () => connectRedis(port, { password: password ?? undefined }),
    cli: async (...args) => {
      const client = await redis.client();
      try {
        const reply = await client.command(...args);
        return reply === null || reply === undefined ? '' : Buffer.isBuffer(reply) ? reply.toString('utf8') : String(reply);
      } finally {
        client.close();
      }
    },
    describe: () => proc?.describe() ?? `--- ${name}: never started`,
  };
  return redis;
}

// A round-robin TCP balancer: each new connection goes to the next backend whose live() is
// true, bytes piped both ways; a connection with no live backend, or whose backend refuses,
// is closed (as a Service with no ready endpoint). `backends`: [{port, live: () => bool}].
export async function startBalancer(backends) {
  let next = 0;
  const choices = [];
  const sockets = new Set();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    let chosen = -1;
    for (let i = 0; i < backends.length; i++) {
      const candidate = (next + i) % backends.length;
      if (backends[candidate].live()) {
        chosen = candidate;
        break;
      }
    }
    if (chosen < 0) {
      client.destroy();
      return;
    }
    next = (chosen + 1) % backends.length;
    choices.push(chosen);
    const upstream = net.connect({ host: kHost, port: backends[chosen].port });
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, kHost, resolve);
  });
  const port = server.address().port;
  return {
    port,
    origin: `http://${kHost}:${port}`,
    url: `http://${kHost}:${port}/mcp`,
    choices,
    stop: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
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

// The name of a session's record in Redis (proxy/shared/shared_key.h): the id's HMAC-SHA256
// under the key secret, or its SHA-256 without one; never the id in clear.
export function sessionRecordKey(id, { secret = null, prefix = 'bulwark:' } = {}) {
  const digest = secret ? createHmac('sha256', secret).update(id).digest('hex')
                        : createHash('sha256').update(id).digest('hex');
  return `${prefix}session:${digest}`;
}

async function startReplicaServer(name, { stateless }) {
  const proc = new ChildProcess(name, process.execPath, [kReplicaServerMain], {
    env: { PORT: '0', REPLICA_NAME: name, STATELESS: stateless ? '1' : '0' },
    cwd: kTestsDir,
  });
  try {
    const m = await proc.waitForOutput(/listening on (\d+)/, 15000);
    const port = Number(m[1]);
    const origin = `http://${kHost}:${port}`;
    await waitForHttp(`${origin}/healthz`, { proc });
    return {
      proc, port, origin, url: `${origin}/mcp`,
      stats: async () => JSON.parse((await request(`${origin}/stats`, { timeoutMs: 5000 })).body),
    };
  } catch (e) {
    await proc.stop();
    throw e;
  }
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// `over` merged into `base`, objects recursively (arrays and scalars replace).
function merged(base, over) {
  const out = { ...base };
  for (const [k, v] of Object.entries(over ?? {})) {
    out[k] = isObject(v) && isObject(out[k]) ? merged(out[k], v) : v;
  }
  return out;
}

// The base config of one sidecar: its server, generous timeouts, quick retries.
export function pairConfig(serverUrl, { redis, advertise, sharedState }) {
  const config = {
    upstream: { url: serverUrl, connect_timeout: '1s' },
    defaults: {
      timeout: '10s',
      per_try_timeout: '5s',
      retry: { max_attempts: 3, backoff: { base: '10ms', multiplier: 2, max: '100ms' },
               on: ['upstream', 'timeout', 'overload'] },
    },
  };
  if (sharedState !== false) {
    config.shared_state = {
      redis: redis.url,
      advertise,
      key_prefix: 'bulwark:',
      ...(redis.password !== null ? { password_env: kRedisPasswordEnv } : {}),
      key_secret_env: kKeySecretEnv,
      ...(sharedState ?? {}),
    };
  }
  return config;
}

async function startSidecar(name, { configFor, env, dir }) {
  let lastError;
  for (let attempt = 0; attempt < kStartAttempts; attempt++) {
    const [port, adminPort] = await freePorts(2);
    const advertise = `${kHost}:${port}`;
    const file = await writeConfig(dir.file(`${name}-${attempt}.yaml`), configFor(advertise));
    const proc = new ChildProcess(name, kBulwarkBin, [
      '--config', file, '--listen', advertise, '--admin', `${kHost}:${adminPort}`,
    ], { env });
    const admin = `http://${kHost}:${adminPort}`;
    try {
      await waitForHttp(`${admin}/healthz`, { proc, timeoutMs: 15000 });
      const origin = `http://${kHost}:${port}`;
      return {
        proc, port, origin, url: `${origin}/mcp`, admin, adminPort, advertise, configFile: file,
        logs: () => proc.err,
        describe: () => proc.describe(),
        metricsText: async () => (await request(`${admin}/metrics`, { timeoutMs: 5000 })).body,
        metrics: async () => {
          const res = await request(`${admin}/metrics`, { timeoutMs: 5000 });
          if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
          return parseMetrics(res.body);
        },
      };
    } catch (e) {
      lastError = e;
      await proc.stop();
    }
  }
  throw lastError;
}

export async function startReplicas({ count = 2, server = 'replica', stateless = false, config = {}, sharedState = {},
                                      redisPassword, keySecret, startRedis = true, env = {},
                                      name = 'replica' } = {}) {
  const dir = await tempDir('bulwark-replicas-');
  const redis = await makeRedis({ password: redisPassword === undefined ? randomBytes(12).toString('hex')
                                                                        : redisPassword });
  const secret = keySecret === undefined ? randomBytes(24).toString('hex') : keySecret;
  const sidecarEnv = {
    ...(redis.password !== null ? { [kRedisPasswordEnv]: redis.password } : {}),
    ...(secret !== null ? { [kKeySecretEnv]: secret } : {}),
    ...env,
  };
  const pairs = [];
  const backends = []; // the balancer's view of the pairs (grows with startPair)
  let balancer = null;
  // One more pod (server + sidecar) on the same Redis; the balancer includes it at once.
  // `extra` replaces the cluster's `config` for this pod.
  const startPair = async (extra = undefined) => {
    const i = pairs.length;
    const pairName = `${name}-${i}`;
    const pair = { index: i, name: pairName, alive: true, server: null, bulwark: null,
                   kill: () => cluster.killPair(i) };
    pairs.push(pair);
    pair.server = server === 'everything' ? await startEverything(`${pairName}-server`)
                                          : await startReplicaServer(`${pairName}-server`, { stateless });
    const more = extra ?? (typeof config === 'function' ? config(i) : config);
    pair.bulwark = await startSidecar(`${pairName}-bulwark`, {
      dir,
      env: sidecarEnv,
      configFor: (advertise) => merged(pairConfig(pair.server.url, { redis, advertise, sharedState }), more),
    });
    backends.push({ port: pair.bulwark.port, live: () => pair.alive });
    return pair;
  };
  const cluster = {
    redis, pairs, dir,
    keySecret: secret,
    // The Redis key of the record of the client session `id`.
    sessionKey: (id) => sessionRecordKey(id, { secret, prefix: sharedState?.key_prefix ?? 'bulwark:' }),
    get balancer() {
      return balancer;
    },
    get url() {
      return balancer.url;
    },
    get origin() {
      return balancer.origin;
    },
    startPair,
    procs: () => [redis, ...pairs.flatMap((p) => [p.server?.proc, p.bulwark?.proc])].filter(Boolean),
    describe: () => cluster.procs().map((p) => p.describe()).join('\n'),
    // SIGKILL the pod: its server and its sidecar (their process groups), as a node dying.
    killPair: async (i) => {
      const p = pairs[i];
      p.alive = false;
      await Promise.all([killAndWait(p.bulwark?.proc), killAndWait(p.server?.proc)]);
    },
    // SIGKILL only the server of pod i; its sidecar lives on (and the balancer still uses it).
    killServer: async (i) => killAndWait(pairs[i].server?.proc),
    stop: async () => {
      const errors = [];
      const attempt = async (fn) => {
        try {
          await fn();
        } catch (e) {
          errors.push(e);
        }
      };
      if (balancer) await attempt(() => balancer.stop());
      for (const p of pairs) {
        await attempt(async () => {
          if (p.bulwark?.proc) {
            const diedEarly = p.alive && !p.bulwark.proc.running && !p.bulwark.proc.stopRequested;
            p.bulwark.proc.stopRequested = true;
            await p.bulwark.proc.stop();
            if (diedEarly) throw new Error(`${p.name} sidecar exited by itself\n${p.bulwark.describe()}`);
          }
        });
        await attempt(async () => p.server?.proc.stop());
      }
      await attempt(() => redis.stop());
      await attempt(() => dir.remove());
      if (errors.length > 0) throw errors[0];
    },
  };
  try {
    if (startRedis) await redis.start();
    for (let i = 0; i < count; i++) await startPair();
    balancer = await startBalancer(backends);
    return cluster;
  } catch (e) {
    await cluster.stop().catch(() => {});
    throw e;
  }
}
