// Ports and HTTP helpers for integration tests. Everything talks to 127.0.0.1 only.
import net from 'node:net';
import http from 'node:http';
import { sleep } from './procs.mjs';

export const kHost = '127.0.0.1';

// Returns `count` distinct ports that were free a moment ago (all held open together while
// collecting, so they are distinct). A child that then fails to bind one should be retried.
export async function freePorts(count = 1) {
  const servers = [];
  try {
    for (let i = 0; i < count; i++) {
      const srv = net.createServer();
      await new Promise((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(0, kHost, resolve);
      });
      servers.push(srv);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

export async function freePort() {
  return (await freePorts(1))[0];
}

// One HTTP request with a hard time bound. Resolves {status, headers, rawHeaders, body}.
// `agent: false` by default: a fresh connection per call.
export function request(url, { method = 'GET', headers = {}, body, timeoutMs = 10000, agent = false } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    if (u.hostname !== kHost) {
      reject(new Error(`refusing to send to ${u.hostname}: tests only talk to ${kHost}`));
      return;
    }
    const req = http.request(
      { host: kHost, port: u.port, path: u.pathname + u.search, method, headers, agent },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({
            status: res.statusCode,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
        res.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`${method} ${url}: no complete answer within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// Polls `url` until it answers (with `status`, or any status when status is null).
// Bounded by `timeoutMs`; if `proc` dies meanwhile, fails at once with its output.
export async function waitForHttp(url, { status = 200, timeoutMs = 15000, proc } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  for (let i = 0; i < 2000 && Date.now() < deadline; i++) {
    if (proc && !proc.running) {
      throw new Error(`${proc.name} exited before ${url} was ready\n${proc.describe()}`);
    }
    try {
      const res = await request(url, { timeoutMs: 1000 });
      if (status === null || res.status === status) return res;
      last = `status ${res.status}`;
    } catch (e) {
      last = e.message;
    }
    await sleep(50);
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms (last: ${last})` +
      (proc ? `\n${proc.describe()}` : ''));
}

// Opens a streaming request (e.g. SSE) and exposes what has arrived so far.
// Returns {head: Promise<{status, headers}>, text(), waitFor(pattern, ms), done: Promise, destroy()}.
export function openStream(url, { method = 'GET', headers = {}, body, agent = false } = {}) {
  const u = new URL(url);
  if (u.hostname !== kHost) throw new Error(`tests only talk to ${kHost}`);
  let received = '';
  let finished = false;
  let failure = null;
  let wake = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  let resolveHead;
  let rejectHead;
  const head = new Promise((resolve, reject) => {
    resolveHead = resolve;
    rejectHead = reject;
  });
  let resolveDone;
  const done = new Promise((resolve) => {
    resolveDone = resolve;
  });
  const req = http.request(
    { host: kHost, port: u.port, path: u.pathname + u.search, method, headers, agent },
    (res) => {
      resolveHead({ status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders });
      res.setEncoding('utf8');
      res.on('data', (d) => {
        received += d;
        notify();
      });
      res.on('end', () => {
        finished = true;
        notify();
        resolveDone({ complete: true });
      });
      res.on('error', (e) => {
        failure = e;
        finished = true;
        notify();
        resolveDone({ complete: false, error: e });
      });
    },
  );
  req.on('error', (e) => {
    failure = e;
    finished = true;
    rejectHead(e);
    notify();
    resolveDone({ complete: false, error: e });
  });
  head.catch(() => {});
  if (body !== undefined) req.write(body);
  req.end();
  return {
    req,
    head,
    done,
    text: () => received,
    get finished() {
      return finished;
    },
    // Waits until the received text matches `pattern` (string or RegExp); bounded.
    async waitFor(pattern, timeoutMs = 5000, what = String(pattern)) {
      const test = (s) => (typeof pattern === 'string' ? s.includes(pattern) : pattern.test(s));
      const deadline = Date.now() + timeoutMs;
      for (let i = 0; i < 100000; i++) {
        if (test(received)) return received;
        if (finished) break;
        const left = deadline - Date.now();
        if (left <= 0) break;
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      if (test(received)) return received;
      throw new Error(`stream ${method} ${url}: ${what} did not arrive within ${timeoutMs} ms ` +
                      `(${finished ? 'stream ended' : 'stream open'}${failure ? `, ${failure.message}` : ''}; ` +
                      `received so far: ${JSON.stringify(received.slice(-500))})`);
    },
    destroy: () => req.destroy(),
  };
}
