// A real Prometheus server for integration tests (Debian package `prometheus`, which also ships
// `promtool`): temp storage, loopback listen address, a scrape config written per test. Plus
// PromQL instant queries over its HTTP API and `promtool check metrics`.
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { ChildProcess } from './procs.mjs';
import { freePort, kHost, request, waitForHttp } from './net.mjs';
import { tempDir } from './faulty.mjs';

export const kPrometheusBin = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
export const kPromtoolBin = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool';

const kStartAttempts = 3; // a port found free may be taken before Prometheus binds it

// Fails with a clear message when a binary is missing (never a silent skip).
export function requireBinary(file, what) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
  } catch {
    throw new Error(`${what} not found at ${file}: install the Debian package \`prometheus\` ` +
                    '(deploy/setup.sh --tests does)');
  }
}

// Starts Prometheus scraping each of `targets` (HOST:PORT, path /metrics) as job `job` every
// `intervalSeconds`, rule evaluation at the same interval. Ready when /-/ready answers 200.
// Returns {proc, url, query(expr), stop(), describe()}; stop() also deletes the storage dir.
export async function startPrometheus({ job, targets, intervalSeconds = 1, name = 'prometheus' }) {
  requireBinary(kPrometheusBin, 'prometheus');
  const dir = await tempDir('bulwark-prometheus-');
  const config = [
    'global:',
    `  scrape_interval: ${intervalSeconds}s`,
    `  scrape_timeout: ${intervalSeconds}s`,
    `  evaluation_interval: ${intervalSeconds}s`,
    'scrape_configs:',
    `  - job_name: ${JSON.stringify(job)}`,
    '    metrics_path: /metrics',
    '    static_configs:',
    `      - targets: [${targets.map((x) => JSON.stringify(x)).join(', ')}]`,
    '',
  ].join('\n');
  const configFile = dir.file('prometheus.yml');
  fs.writeFileSync(configFile, config);
  let lastError;
  for (let attempt = 0; attempt < kStartAttempts; attempt++) {
    const port = await freePort();
    const storage = dir.file(`data-${attempt}`);
    const proc = new ChildProcess(name, kPrometheusBin, [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${storage}`,
      `--web.listen-address=${kHost}:${port}`,
    ], { cwd: dir.dir });
    const url = `http://${kHost}:${port}`;
    try {
      await waitForHttp(`${url}/-/ready`, { proc, timeoutMs: 15000 });
      return {
        proc, url, port, config,
        query: (expr, opts) => promQuery(url, expr, opts),
        stop: async () => {
          try {
            return await proc.stop();
          } finally {
            await dir.remove();
          }
        },
        describe: () => proc.describe(3000),
      };
    } catch (e) {
      lastError = e;
      await proc.stop();
    }
  }
  await dir.remove();
  throw lastError;
}

// One PromQL instant query (GET /api/v1/query). Returns the result array of a vector ([] when
// empty) as [{metric, value: Number}], or [{value}] for a scalar. Throws on an API error.
export async function promQuery(url, expr, { timeoutMs = 5000 } = {}) {
  const res = await request(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`, { timeoutMs });
  let body;
  try {
    body = JSON.parse(res.body);
  } catch {
    throw new Error(`query ${expr}: HTTP ${res.status}, not JSON: ${res.body.slice(0, 300)}`);
  }
  if (res.status !== 200 || body.status !== 'success') {
    throw new Error(`query ${expr}: HTTP ${res.status} ${body.errorType ?? ''} ${body.error ?? ''}`);
  }
  const { resultType, result } = body.data;
  if (resultType === 'scalar') return [{ metric: {}, value: Number(result[1]) }];
  if (resultType !== 'vector') throw new Error(`query ${expr}: unexpected result type ${resultType}`);
  return result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
}

// The value of a query that must yield exactly one sample; throws naming the query otherwise.
export async function promScalar(url, expr) {
  const result = await promQuery(url, expr);
  if (result.length !== 1) {
    throw new Error(`query ${expr}: expected one sample, got ${result.length}: ${JSON.stringify(result).slice(0, 500)}`);
  }
  return result[0].value;
}

// `promtool check metrics` on an exposition text (stdin). Returns {status, output}; status 0 is
// clean, 1 a parse error, 3 lint problems. Bounded: killed after `timeoutMs`.
export function promtoolCheckMetrics(text, { timeoutMs = 15000 } = {}) {
  requireBinary(kPromtoolBin, 'promtool');
  const r = spawnSync(kPromtoolBin, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: timeoutMs });
  if (r.error) throw new Error(`promtool check metrics: ${r.error.message}`);
  return { status: r.status, signal: r.signal, output: `${r.stdout}${r.stderr}` };
}
