// Load client for tests/bench/scale.sh. Bounded: every mode has a session/call count and an
// overall time limit, after which it reports failure and exits.
//
//   node scale_client.mjs idle  --url URL --sessions N [--concurrency C] [--hold-ms MS]
//   node scale_client.mjs calls --url URL --calls N
//   common: [--timeout-ms MS] (default 120000)
//
// idle:  opens N MCP sessions, C at a time: POST initialize (kept-alive connections, shared),
//        POST notifications/initialized, then a GET SSE stream on a connection of its own, left
//        open. Prints "ready N" when all N streams are open, holds them for MS milliseconds, closes
//        them, prints one JSON line of counts and exits 0 (1 if any session failed or a stream
//        ended early).
// calls: one session, then N tools/call requests at once, each with a progressToken and on a
//        connection of its own. Prints "inflight N" once every call has had its first progress
//        notification, then one JSON line of counts when all have answered; exits 0 if every
//        call got its result, 1 otherwise.
import http from 'node:http';

const [mode, ...rest] = process.argv.slice(2);
const args = {};
for (let i = 0; i < rest.length; i += 2) {
  if (!rest[i].startsWith('--') || rest[i + 1] === undefined) usage(`bad argument '${rest[i]}'`);
  args[rest[i].slice(2)] = rest[i + 1];
}
function usage(why) {
  console.error(`scale_client: ${why}\nusage: node scale_client.mjs idle|calls --url URL ...`);
  process.exit(2);
}
function count(name, fallback) {
  const value = args[name] === undefined ? fallback : Number(args[name]);
  if (!Number.isInteger(value) || value < 0) usage(`--${name} needs a non-negative integer`);
  return value;
}
if (!args.url) usage('--url is required');
const url = new URL(args.url);
const timeoutMs = count('timeout-ms', 120_000);
const kProtocol = '2025-06-18';

const deadline = setTimeout(() => {
  console.error(`scale_client: gave up after ${timeoutMs} ms`);
  process.exit(1);
}, timeoutMs);

const postAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });

// POST one JSON-RPC message; resolves {status, headers, body}.
function post(message, headers = {}) {
  const body = JSON.stringify(message);
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      agent: postAgent,
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'content-length': Buffer.byteLength(body),
        ...headers,
      },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function openSession(id) {
  const init = await post({
    jsonrpc: '2.0', id, method: 'initialize',
    params: { protocolVersion: kProtocol, capabilities: {}, clientInfo: { name: 'bulwark-scale', version: '1.0.0' } },
  });
  const session = init.headers['mcp-session-id'];
  if (init.status !== 200 || !session) throw new Error(`initialize: HTTP ${init.status}, session ${session}`);
  const headers = { 'mcp-session-id': session, 'mcp-protocol-version': kProtocol };
  const ack = await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
  if (ack.status !== 202) throw new Error(`notifications/initialized: HTTP ${ack.status}`);
  return headers;
}

// A GET stream on its own connection; resolves with the request once the 200 head arrived.
function openStream(headers, onEnd) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'GET', agent: false, headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`GET: HTTP ${res.statusCode}`));
        res.resume();
        return;
      }
      res.on('data', () => {});
      res.on('end', onEnd);
      res.on('error', onEnd);
      resolve(req);
    });
    req.on('error', reject);
    req.end();
  });
}

async function idle() {
  const sessions = count('sessions', 10_000);
  const concurrency = Math.max(1, count('concurrency', 100));
  const holdMs = count('hold-ms', 5_000);
  const streams = [];
  const counts = { sessions, opened: 0, failed: 0, endedEarly: 0, firstError: null };
  let holding = true;
  let next = 0;
  const started = Date.now();
  async function worker() {
    while (next < sessions) {
      const id = next++;
      try {
        const headers = await openSession(id);
        streams.push(await openStream(headers, () => { if (holding) counts.endedEarly++; }));
        counts.opened++;
      } catch (error) {
        counts.failed++;
        counts.firstError ??= String(error.message ?? error);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, sessions) }, worker));
  counts.openMs = Date.now() - started;
  postAgent.destroy();
  console.log(`ready ${counts.opened}`);
  await new Promise((resolve) => setTimeout(resolve, holdMs));
  holding = false;
  for (const req of streams) req.destroy();
  console.log(JSON.stringify(counts));
  return counts.failed === 0 && counts.endedEarly === 0 && counts.opened === sessions;
}

function call(headers, id) {
  const body = JSON.stringify({
    jsonrpc: '2.0', id, method: 'tools/call',
    params: { name: 'work', arguments: {}, _meta: { progressToken: `p${id}` } },
  });
  return new Promise((resolve, reject) => {
    let progress = 0;
    let result = false;
    let firstProgress = null;
    const first = new Promise((r) => { firstProgress = r; });
    const req = http.request(url, {
      method: 'POST',
      agent: false,
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'content-length': Buffer.byteLength(body),
        ...headers,
      },
    }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`tools/call: HTTP ${res.statusCode}`));
        return;
      }
      let pending = '';
      res.setEncoding('utf8');
      res.on('data', (text) => {
        pending += text;
        let end;
        while ((end = pending.indexOf('\n\n')) >= 0) {
          const event = pending.slice(0, end);
          pending = pending.slice(end + 2);
          if (event.includes('notifications/progress')) {
            progress++;
            firstProgress();
          } else if (event.includes('"result"')) {
            result = true;
          }
        }
      });
      res.on('end', () => resolve({ progress, result }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
    callStarted.push(first);
  });
}
const callStarted = []; // one promise per call: its first progress notification arrived

async function calls() {
  const n = count('calls', 1_000);
  const headers = await openSession(0);
  const started = Date.now();
  const all = Array.from({ length: n }, (_, i) => call(headers, i + 1).catch((error) => ({ error: String(error.message ?? error) })));
  Promise.all(callStarted).then(() => console.log(`inflight ${n}`));
  const outcomes = await Promise.all(all);
  postAgent.destroy();
  const counts = {
    calls: n,
    answered: outcomes.filter((o) => o.result).length,
    progressEvents: outcomes.reduce((sum, o) => sum + (o.progress ?? 0), 0),
    failed: outcomes.filter((o) => o.error).length,
    firstError: outcomes.find((o) => o.error)?.error ?? null,
    ms: Date.now() - started,
  };
  console.log(JSON.stringify(counts));
  return counts.answered === n;
}

let ok;
if (mode === 'idle') ok = await idle();
else if (mode === 'calls') ok = await calls();
else usage(`unknown mode '${mode}'`);
clearTimeout(deadline);
process.exit(ok ? 0 : 1);
