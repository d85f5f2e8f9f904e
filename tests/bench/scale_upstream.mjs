// A minimal session-based MCP upstream for tests/bench/scale.sh: cheap enough per connection to
// hold 10,000 GET streams, so the benchmark measures Bulwark, not the server.
//
//   node scale_upstream.mjs [--progress-ms MS] [--progress-count N]
//     -> prints "listening on <port>" on stdout; binds 127.0.0.1 only
//
// POST /mcp  initialize -> JSON result with a new Mcp-Session-Id; notifications -> 202;
//            tools/call with params._meta.progressToken -> an SSE stream of N progress
//            notifications, one every MS milliseconds, then the result; anything else -> JSON
//            result. GET /mcp -> an SSE stream held open (nothing sent) until the peer closes it.
//            DELETE /mcp -> 200.  GET /stats -> {"getStreams": open GET streams, "calls": in
//            flight, "posts": POSTs answered}.
import http from 'node:http';
import { randomUUID } from 'node:crypto';

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`scale_upstream: ${name} needs a non-negative integer`);
    process.exit(2);
  }
  return value;
}
const progressMs = option('--progress-ms', 200);
const progressCount = option('--progress-count', 25);

const stats = { getStreams: 0, calls: 0, posts: 0 };

function sendJson(res, status, value, headers = {}) {
  const text = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function sseEvent(message) {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}

function toolCall(req, res, message) {
  const token = message.params?._meta?.progressToken;
  const result = { jsonrpc: '2.0', id: message.id, result: { content: [{ type: 'text', text: 'done' }] } };
  if (token === undefined) {
    sendJson(res, 200, result);
    return;
  }
  stats.calls++;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  let sent = 0;
  const timer = setInterval(() => {
    sent++;
    res.write(sseEvent({
      jsonrpc: '2.0',
      method: 'notifications/progress',
      params: { progressToken: token, progress: sent, total: progressCount },
    }));
    if (sent >= progressCount) {
      clearInterval(timer);
      stats.calls--;
      res.end(sseEvent(result));
    }
  }, progressMs);
  res.on('close', () => {
    if (sent < progressCount) {
      clearInterval(timer);
      stats.calls--;
    }
  });
}

const server = http.createServer((req, res) => {
  if (req.url === '/stats') {
    sendJson(res, 200, stats);
    return;
  }
  if (req.url !== '/mcp') {
    sendJson(res, 404, { error: 'not found' });
    return;
  }
  if (req.method === 'GET') {
    stats.getStreams++;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    res.on('close', () => stats.getStreams--);
    return;
  }
  if (req.method === 'DELETE') {
    sendJson(res, 200, {});
    return;
  }
  if (req.method !== 'POST') {
    sendJson(res, 405, { error: 'method not allowed' });
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    stats.posts++;
    let message;
    try {
      message = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      sendJson(res, 400, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
      return;
    }
    if (message.id === undefined) {
      res.writeHead(202).end();
    } else if (message.method === 'initialize') {
      sendJson(res, 200, {
        jsonrpc: '2.0',
        id: message.id,
        result: {
          protocolVersion: message.params?.protocolVersion ?? '2025-06-18',
          capabilities: { tools: {} },
          serverInfo: { name: 'bulwark-scale-upstream', version: '1.0.0' },
        },
      }, { 'mcp-session-id': randomUUID() });
    } else if (message.method === 'tools/call') {
      toolCall(req, res, message);
    } else {
      sendJson(res, 200, { jsonrpc: '2.0', id: message.id, result: {} });
    }
  });
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 0;
server.requestTimeout = 0;
server.maxHeadersCount = 100;
// A deep accept queue: Bulwark opens up to --calls upstream connections at once, and node's
// default backlog (511) would drop SYNs and turn a burst into connect timeouts.
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => console.log(`listening on ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
