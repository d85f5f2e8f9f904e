// A tiny scripted HTTP upstream (node:http, in the test process) that records every request it
// receives and lets each test decide exactly what to send back.
import http from 'node:http';
import { kHost } from './net.mjs';

// The default answer: a JSON-RPC result describing the request (or plain JSON for non-RPC).
export function describeRequest(rec) {
  let id = null;
  try {
    const parsed = JSON.parse(rec.body.toString('utf8'));
    if (parsed && !Array.isArray(parsed) && 'id' in parsed) id = parsed.id;
  } catch {
    // not JSON: plain description
  }
  return { jsonrpc: '2.0', id, result: { method: rec.method, url: rec.url, bodyLength: rec.body.length } };
}

function defaultHandler(req, res, rec) {
  const text = JSON.stringify(describeRequest(rec));
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function startRawUpstream() {
  const up = {
    requests: [], // {method, url, headers, rawHeaders, body, remotePort, req, res}
    connections: 0,
    handler: defaultHandler,
    server: null,
    port: 0,
  };
  up.server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const rec = {
        method: req.method,
        url: req.url,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks),
        remotePort: req.socket.remotePort,
        socket: req.socket,
        reused: req.socket.served > 0, // an earlier request completed on this connection
        req,
        res,
      };
      up.requests.push(rec);
      res.on('finish', () => {
        req.socket.served++;
      });
      Promise.resolve()
        .then(() => up.handler(req, res, rec))
        .catch((e) => {
          if (!res.headersSent) {
            res.writeHead(500, { 'content-type': 'text/plain' });
            res.end(`upstream handler failed: ${e.message}`);
          } else {
            res.destroy();
          }
        });
    });
  });
  up.sockets = new Set(); // server-side sockets currently open
  up.server.on('connection', (socket) => {
    up.connections++;
    socket.served = 0; // requests completed on this connection
    up.sockets.add(socket);
    socket.on('close', () => up.sockets.delete(socket));
  });
  up.server.keepAliveTimeout = 5000;
  await new Promise((resolve, reject) => {
    up.server.once('error', reject);
    up.server.listen(0, kHost, resolve);
  });
  up.port = up.server.address().port;
  up.origin = `http://${kHost}:${up.port}`;
  up.url = `${up.origin}/mcp`;
  up.reset = () => {
    up.handler = defaultHandler;
  };
  // Raw header values received for `name` (case-insensitive), in order, duplicates kept.
  up.rawValues = (rec, name) => {
    const out = [];
    for (let i = 0; i < rec.rawHeaders.length; i += 2) {
      if (rec.rawHeaders[i].toLowerCase() === name.toLowerCase()) out.push(rec.rawHeaders[i + 1]);
    }
    return out;
  };
  up.close = () =>
    new Promise((resolve) => {
      up.server.closeAllConnections();
      up.server.close(() => resolve());
    });
  return up;
}
