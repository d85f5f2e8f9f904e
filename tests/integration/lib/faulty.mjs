// The faulty upstream fixture (fixtures/faulty_upstream.mjs) and what tests need around it:
// start/stop, its control API, the SDK client, Bulwark config files.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { performance } from 'node:perf_hooks';
import { ChildProcess } from './procs.mjs';
import { kHost, request, waitForHttp } from './net.mjs';
import { kTestsDir, stopAll, withDiagnostics } from './peers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const kFaultyMain = path.resolve(here, '..', 'fixtures', 'faulty_upstream.mjs');

// Starts the fixture. `port` 0 (default) lets it pick one; a fixed port is for tests that start
// Bulwark first (or restart the fixture where it was). `planFile` and `journalFile` are the
// fixture's --plan and --journal; `extraArgs` more of its flags (e.g. --token). Ready when
// /healthz answers. Returns {proc, port, origin, url, control, stop}.
export async function startFaultyUpstream({ mode = 'json', port = 0, name = `faulty-${mode}`, planFile,
                                            journalFile, extraArgs = [] } = {}) {
  const args = [kFaultyMain, '--mode', mode, '--port', String(port), ...extraArgs];
  if (planFile !== undefined) args.push('--plan', planFile);
  if (journalFile !== undefined) args.push('--journal', journalFile);
  const proc = new ChildProcess(name, process.execPath, args, { cwd: kTestsDir });
  try {
    const m = await proc.waitForOutput(/listening on (\d+) mode/, 15000);
    const actual = Number(m[1]);
    const origin = `http://${kHost}:${actual}`;
    await waitForHttp(`${origin}/healthz`, { proc });
    return { proc, port: actual, origin, url: `${origin}/mcp`, mode, control: controlClient(origin),
             stop: () => proc.stop(), describe: () => proc.describe() };
  } catch (e) {
    await proc.stop();
    throw e;
  }
}

// The fixture's control API: plan({rules}), reset(), stats().
export function controlClient(origin) {
  const call = async (method, p, body) => {
    const res = await request(`${origin}${p}`, {
      method, timeoutMs: 10000,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status !== 200) throw new Error(`fixture ${method} ${p}: ${res.status} ${res.body}`);
    return JSON.parse(res.body);
  };
  return {
    plan: (rules) => call('POST', '/__control/plan', { rules }),
    reset: () => call('POST', '/__control/reset', {}),
    stats: () => call('GET', '/__control/stats'),
  };
}

// Records of one tool's HTTP requests (attempts) as the fixture saw them, in arrival order.
export function recordsFor(stats, tool) {
  return stats.records.filter((r) => r.tool === tool);
}

// An SDK client (Client + StreamableHTTPClientTransport) connected to `url`. `headers` are sent
// with every request; `fetch` replaces the transport's fetch (e.g. to count requests). A failed
// connect closes the transport before it throws. Returns {client, transport, close()}.
export async function connectClient(url, { headers = {}, name = 'bulwark-retries-test', fetch } = {}) {
  const client = new Client({ name, version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers },
    reconnectionOptions: { initialReconnectionDelay: 1000, maxReconnectionDelay: 1000,
                           reconnectionDelayGrowFactor: 1, maxRetries: 0 },
    ...(fetch === undefined ? {} : { fetch }),
  });
  try {
    await client.connect(transport);
  } catch (e) {
    await client.close().catch(() => {});
    throw e;
  }
  return {
    client, transport,
    close: async () => {
      await client.close().catch(() => {});
    },
  };
}

// A temporary directory for config files; remove() deletes it.
export async function tempDir(prefix = 'bulwark-test-') {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, file: (name) => path.join(dir, name),
           remove: () => fs.rm(dir, { recursive: true, force: true }) };
}

// Writes `config` to a temporary name beside `file`, then renames it over `file`: a watcher never
// sees a half-written file (editors and kubelet replace files this way too).
let atomicCount = 0;
export async function writeConfigAtomic(file, config) {
  const tmp = `${file}.tmp-${process.pid}-${++atomicCount}`;
  await writeConfig(tmp, config);
  await fs.rename(tmp, file);
  return file;
}

// Writes a Bulwark config file. `config` is YAML text, or an object written as JSON (a JSON
// document is valid YAML). Returns the path.
export async function writeConfig(file, config) {
  const text = typeof config === 'string' ? config : JSON.stringify(config, null, 2) + '\n';
  await fs.writeFile(file, text);
  return file;
}

// Every JSON object line of a log text (other lines are ignored).
export function jsonLogLines(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      out.push(JSON.parse(t));
    } catch {
      // not a JSON line
    }
  }
  return out;
}

// Polls `probe()` until it returns a truthy value; bounded by `timeoutMs`. Throws with `what`.
export async function pollUntil(probe, { timeoutMs = 5000, intervalMs = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (let i = 0; i < 100000; i++) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`${what}: not reached within ${timeoutMs} ms (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

export const kMcpHeaders = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
export const kSmallBackoff = { base: '10ms', multiplier: 2, max: '100ms' };

// A Bulwark config for `upstreamUrl` (as an object; written as JSON, which is YAML): generous
// deadlines and tiny backoffs unless overridden. `defaults` fields are merged into `defaults`,
// `retry` fields into `defaults.retry`; `tools`/`methods` are taken as they are.
export function makeConfig(upstreamUrl, { defaults = {}, retry = {}, tools, methods } = {}) {
  const config = {
    upstream: { url: upstreamUrl, connect_timeout: '1s' },
    defaults: {
      timeout: '10s',
      per_try_timeout: '5s',
      ...defaults,
      retry: {
        max_attempts: 3,
        backoff: kSmallBackoff,
        on: ['upstream', 'timeout', 'overload'],
        budget: { ratio: 0.5, min_per_second: 100, window: '10s' },
        ...retry,
      },
    },
  };
  if (tools) config.tools = tools;
  if (methods) config.methods = methods;
  return config;
}

// A test body with peers that are stopped (and described on failure) whatever happens.
// fn(t, track): `track(peer)` registers a started peer and returns it.
// `also()` lists peers owned elsewhere (shared fixtures) to describe on failure, not to stop.
export function scoped(fn, also = () => []) {
  return async (t) => {
    const peers = [];
    const track = (p) => {
      peers.push(p);
      return p;
    };
    try {
      await withDiagnostics(() => [...peers, ...also()], (tt) => fn(tt, track))(t);
    } finally {
      await stopAll(...[...peers].reverse());
    }
  };
}

let rpcId = 0;
// One JSON-RPC request by raw HTTP (fresh connection). Returns {status, headers, body, json,
// elapsedMs, id}; `json` is the parsed body, or for an SSE reply the last JSON-RPC response in
// it (all responses in `sseMessages`, every message in `sseAll`).
export async function rpc(url, method, params, { id = `r${++rpcId}`, headers = {}, timeoutMs = 15000 } = {}) {
  const body = JSON.stringify({ jsonrpc: '2.0', id, method, params });
  const started = performance.now();
  const res = await request(url, { method: 'POST', headers: { ...kMcpHeaders, ...headers }, body, timeoutMs });
  const elapsedMs = performance.now() - started;
  let json;
  let sseMessages;
  let sseAll;
  try {
    if ((res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
      const datas = [...res.body.matchAll(/^data: ?(.*)$/gm)].map((m) => m[1]).filter((d) => d.trim() !== '');
      sseAll = datas.map((d) => JSON.parse(d));
      sseMessages = sseAll.filter((m) => m && 'id' in m && !('method' in m));
      json = sseMessages.at(-1);
    } else if (res.body !== '') {
      json = JSON.parse(res.body);
    }
  } catch {
    json = undefined;
  }
  return { ...res, json, sseMessages, sseAll, elapsedMs, id };
}

export const callTool = (url, name, args, opts) => rpc(url, 'tools/call', { name, arguments: args }, opts);

// The error object of a JSON-RPC error reply; fails naming what came instead.
export function jsonRpcError(res, what) {
  if (!res.json || !res.json.error) {
    throw new Error(`${what}: expected a JSON-RPC error, got HTTP ${res.status} ${res.body.slice(0, 500)}`);
  }
  return res.json.error;
}
